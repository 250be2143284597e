"""The `protst` command: it answers --help and argument errors without loading torch, and `protst classify`
streams a FASTA file into a TSV of predictions with bad records reported."""

import csv
import subprocess
import sys

import pytest

from protst_hf.cli import main as cli

NO_HEAVY_IMPORTS = (
    "import sys\nfrom protst_hf.cli import main\n"
    "try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
    "print(sorted(m for m in ('torch', 'transformers', 'deepspeed', 'accelerate', 'datasets') if m in sys.modules))"
)


@pytest.mark.parametrize("argv", [["--help"], ["classify", "--help"], ["embed"], ["no-such-command"]])
def test_help_and_argument_errors_load_no_heavy_module(argv):
    completed = subprocess.run([sys.executable, "-c", NO_HEAVY_IMPORTS.format(argv=argv)], capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().splitlines()[-1] == "[]"


def test_import_protst_hf_is_lazy():
    code = "import sys, protst_hf; print('torch' in sys.modules, sorted(protst_hf.__all__)[:2])"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.stdout.strip().startswith("False"), completed.stdout + completed.stderr


def test_classify_streams_a_fasta_into_a_tsv(model_folder, rows, tmp_path, capsys):
    fasta = tmp_path / "in.fasta"
    with open(fasta, "w") as f:
        for row in rows[:5]:
            f.write(f">{row['accession']}\n{row['sequence']}\n")
        f.write(">broken\nMKTJAY\n")
    output = tmp_path / "predictions.tsv"
    code = cli(["classify", str(fasta), "--model", str(model_folder), "--label-set", "subcellular_location",
                "--output", str(output), "--chunk-size", "2", "--precision", "float32", "--quiet"])
    assert code == 0
    err = capsys.readouterr().err
    assert "classified 5 proteins" in err and "1 record(s) skipped" in err and "invalid character 'J'" in err
    with open(output, newline="") as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    assert [r["id"] for r in table] == [row["accession"] for row in rows[:5]]
    names = [c for c in table[0] if c not in ("id", "label", "score")]
    assert len(names) == 10 and "Extracellular" in names
    for record in table:
        probabilities = [float(record[n]) for n in names]
        assert abs(sum(probabilities) - 1) < 1e-4
        assert record["label"] == names[probabilities.index(max(probabilities))]
        assert abs(float(record["score"]) - max(probabilities)) < 1e-5

    # the same predictions as the pipeline itself
    import protst_hf

    classify = protst_hf.pipeline("zero-shot-protein-classification", model=str(model_folder), precision="float32")
    direct = classify([(r["accession"], r["sequence"]) for r in rows[:5]], label_set="subcellular_location")
    assert [d["labels"][0] for d in direct] == [r["label"] for r in table]


def test_classify_needs_labels(model_folder, tmp_path, capsys):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAK\n")
    assert cli(["classify", str(fasta), "--model", str(model_folder), "--output", str(tmp_path / "o.tsv")]) == 2
    assert "--label-set or --labels" in capsys.readouterr().err
