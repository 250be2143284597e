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


def test_classify_prior_flag(skewed_model_folder, rows, tmp_path, capsys):
    """--prior auto applies the model's training prior (stated on stderr), uniform does not, a frequencies file is
    read, and a bad value is a clear error."""
    fasta = tmp_path / "in.fasta"
    fasta.write_text("".join(f">{r['accession']}\n{r['sequence']}\n" for r in rows[:4]))
    common = ["classify", str(fasta), "--model", str(skewed_model_folder), "--labels", "Nucleus,Cytoplasm"]

    def top_labels(*extra):
        out = tmp_path / "o.tsv"
        assert cli([*common, "--output", str(out), *extra]) == 0
        return [line.split("\t")[1] for line in out.read_text().splitlines()[1:]]

    assert top_labels() == ["Nucleus"] * 4
    assert "log p(class) added" in capsys.readouterr().err
    frequencies = tmp_path / "prior.tsv"
    frequencies.write_text("Nucleus\t1e-6\nCytoplasm\t1\n")
    assert top_labels("--prior", str(frequencies)) == ["Cytoplasm"] * 4
    top_labels("--prior", "uniform")
    assert "prior: uniform" in capsys.readouterr().err
    assert cli([*common, "--output", str(tmp_path / "x.tsv"), "--prior", "often"]) == 2
    assert "--prior must be" in capsys.readouterr().err


def test_pretrain_is_a_protst_command(capsys):
    """`protst pretrain` runs the entry point of examples/pretrain/run_pretrain.py with its flags untouched."""
    with pytest.raises(SystemExit) as exit_info:
        cli(["pretrain", "--preset", "cpu", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "--max_minutes" in help_text and "--config_overrides" in help_text
    assert cli(["pretrain", "--preset", "tiny", "--output_dir", "unused"]) == 2
    assert "no dataset: pass --dataset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["pretrain", "--help"])
    assert "accelerate launch -m protst_hf.cli pretrain" in " ".join(capsys.readouterr().out.split())
