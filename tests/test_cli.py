"""The `protst` command: it answers --help and argument errors without loading torch, and `protst classify`
streams a FASTA file into a TSV of predictions with bad records reported."""

import csv
import subprocess
import sys

import pytest

from protst_hf.cli import main as cli
from utils.builders import save_tiny_model

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
    assert "--label-set, --labels or --labels-file" in capsys.readouterr().err


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


@pytest.fixture(scope="module")
def go_model_folder(tmp_path_factory, processor):
    """The tiny model with the training record of a statement-level GO run."""
    from collections import Counter

    from protst_hf.models.protst.prompts_protst import write_training_texts

    path = save_tiny_model(tmp_path_factory.mktemp("go") / "protst-go", processor)
    counts = Counter({"MOLECULAR FUNCTION: ATP binding. DNA binding. BIOLOGICAL PROCESS: DNA repair.": 2,
                      "MOLECULAR FUNCTION: ATP binding.": 6, "MOLECULAR FUNCTION: hydrolase activity.": 2})
    write_training_texts(path, counts, "text_bank", text_unit="statement")
    return path


def test_classify_go_terms_from_a_labels_file_multi_label(go_model_folder, rows, tmp_path, capsys):
    """`--labels-file` (GO id and name per line), `--field` (the template the model's training recorded) and
    `--multi-label`: one row per protein and term, named by id, scores = the posterior over the terms times the
    expected number of terms per protein (their training frequencies: (8 + 2 + 2) / 10), capped at 1."""
    import protst_hf

    fasta = tmp_path / "in.fasta"
    fasta.write_text("".join(f">{r['accession']}\n{r['sequence']}\n" for r in rows[:3]))
    terms = tmp_path / "terms.tsv"
    terms.write_text("go_id\tname\nGO:0005524\tATP binding\nGO:0003677\tDNA binding\nGO:0016787\thydrolase activity\n")
    out = tmp_path / "scores.tsv"
    assert cli(["classify", str(fasta), "--model", str(go_model_folder), "--labels-file", str(terms), "--field",
                "molecular_function", "--multi-label", "--precision", "float32", "--output", str(out)]) == 0
    assert "'MOLECULAR FUNCTION: ATP binding.'" in capsys.readouterr().err
    lines = [line.split("\t") for line in out.read_text().splitlines()]
    assert lines[0] == ["id", "label", "score"] and len(lines) == 1 + 3 * 3
    classify = protst_hf.pipeline("zero-shot-protein-classification", model=str(go_model_folder),
                                  precision="float32")
    names = ["ATP binding", "DNA binding", "hydrolase activity"]
    ids = dict(zip(names, ["GO:0005524", "GO:0003677", "GO:0016787"]))
    prompts = {n: f"MOLECULAR FUNCTION: {n}." for n in names}
    for row, lines_of_row in zip(rows[:3], (lines[1:4], lines[4:7], lines[7:10])):
        posterior = classify(row["sequence"], candidate_labels=prompts)  # the same prompts, given verbatim
        assert [line[0] for line in lines_of_row] == [row["accession"]] * 3
        assert [line[1] for line in lines_of_row] == [ids[n] for n in posterior["labels"]]
        expected = [min(1.0, p * 1.2) for p in posterior["scores"]]
        assert [float(line[2]) for line in lines_of_row] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert cli(["classify", str(fasta), "--model", str(go_model_folder), "--labels-file", str(terms), "--field",
                "cellular_component", "--output", str(out)]) == 2
    assert "no text field 'cellular_component'" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text("GO:1\tATP binding\nDNA binding\n")
    assert cli(["classify", str(fasta), "--model", str(go_model_folder), "--labels-file", str(bad), "--output",
                str(out)]) == 2
    assert "line 2: expected an id and a name" in capsys.readouterr().err


def test_search_words_queries_with_a_field(go_model_folder, rows):
    import protst_hf

    search = protst_hf.pipeline("protein-text-retrieval", model=str(go_model_folder), precision="float32")
    proteins = [(r["accession"], r["sequence"]) for r in rows[:6]]
    worded = search("ATP binding", proteins=proteins, field="molecular_function", top_k=6)
    verbatim = search("MOLECULAR FUNCTION: ATP binding.", proteins=proteins, top_k=6)
    assert worded == verbatim and worded != search("ATP binding", proteins=proteins, top_k=6)


def test_docs_cli_md_is_generated_from_the_parser():
    """docs/cli.md lists every command and flag as the parser has them: regenerate it with
    `python -m protst_hf.cli.markdown docs/cli.md` when this fails."""
    from pathlib import Path

    from protst_hf.cli import COMMANDS, build_parser, command_modules
    from protst_hf.cli.markdown import render

    committed = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    assert committed == render(), "docs/cli.md is stale: python -m protst_hf.cli.markdown docs/cli.md"
    parser = build_parser()
    flags = {o for a in parser._subparsers._group_actions[0].choices["annotate"]._actions for o in a.option_strings}
    assert {"--model", "--precision", "--threads", "--reference", "--cafa"} <= flags
    assert all(f"`{o}`" in committed for o in flags if o not in ("-h", "--help"))
    # every command module is registered, and every registered name is a module with register() and run()
    folder = Path(__file__).resolve().parents[1] / "src" / "protst_hf" / "cli"
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__", "__main__", "_common", "markdown"}
    assert modules == set(COMMANDS)
    assert all(callable(m.register) and callable(m.run) for m in command_modules())


def test_classify_reads_gzip_and_standard_input_and_refuses_what_is_no_protein(model_folder, rows, tmp_path,
                                                                               capsys, monkeypatch):
    """A gzipped FASTA and standard input give the rows of the plain file; an empty FASTA, random bytes and a
    damaged gzip file are each an error naming the input, exit code 2, and no output file."""
    import gzip
    import io

    text = "".join(f">{r['accession']}\n{r['sequence']}\n" for r in rows[:3])
    plain, packed = tmp_path / "in.fasta", tmp_path / "in.fa.gz"
    plain.write_text(text)
    packed.write_bytes(gzip.compress(text.encode()))
    common = ["--model", str(model_folder), "--label-set", "subcellular_location", "--precision", "float32", "--quiet"]
    outputs = []
    for source in (plain, packed, "-"):
        out = tmp_path / f"out{len(outputs)}.tsv"
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        assert cli(["classify", str(source), "--output", str(out), *common]) == 0
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1] == outputs[2] and len(outputs[0].splitlines()) == 4
    capsys.readouterr()
    empty, noise, damaged = tmp_path / "empty.fasta", tmp_path / "noise.fasta", tmp_path / "damaged.fa.gz"
    empty.write_text("")
    noise.write_bytes(bytes(range(256)) * 8)
    damaged.write_bytes(gzip.compress(text.encode())[:40])
    for source, message in ((empty, "holds no protein"), (noise, "is not a text file"),
                            (damaged, "damaged gzip stream")):
        out = tmp_path / "refused.tsv"
        assert cli(["classify", str(source), "--output", str(out), *common]) == 2
        err = capsys.readouterr().err
        assert message in err and str(source) in err and "Traceback" not in err
        assert not out.exists() and not list(tmp_path.glob("refused.tsv*"))
