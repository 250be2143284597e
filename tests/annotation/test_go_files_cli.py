"""The README's "Annotate a proteome" commands, run on the shipped samples: a reference from UniProt files and one
from FASTA + GAF with go-basic-format OBO, `annotate --field all`, and `evaluate-annotations` with cafaeval. The two
references hold the same labels (the GAF is written from the same UniProt GO lines, with their evidence codes), and
every bad input of the new flags is a clear error."""

import gzip
import json
import re
import shlex
from pathlib import Path

import pytest

from protst_hf.annotation import AnnotationReference
from protst_hf.cli import main as cli
from protst_hf.data.uniprot import iter_uniprot

pytestmark = [pytest.mark.needs_mmseqs, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
GO, UNIPROT = ROOT / "tests" / "fixtures" / "go", ROOT / "tests" / "fixtures" / "uniprot"
TEMPLATE = "GO: {}."  # the tiny model records no training texts, so no field template


def readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Annotate a proteome"):]
    block = section[section.index("```bash\n") + 8:section.index("\n```", section.index("```bash\n"))]
    return [shlex.split(line) for line in block.splitlines() if line.startswith("protst ")]


def _downloads(folder: Path) -> dict[str, str]:
    """The shipped samples in the shape of the downloads: Swiss-Prot as one gzipped flat file, the same proteins as
    FASTA with a GAF of their GO lines (evidence codes as UniProt states them), the proteome to annotate and the
    truth."""
    flat = folder / "uniprot_sprot.dat.gz"
    with gzip.open(flat, "wt") as out:
        for path in sorted(UNIPROT.glob("*.dat")):
            out.write(path.read_text())
    fasta, gaf = folder / "proteins.fa.gz", folder / "goa_uniprot_all.gaf.gz"
    with gzip.open(fasta, "wt") as sequences, gzip.open(gaf, "wt") as annotations:
        annotations.write("!gaf-version: 2.2\n")
        seen = set()
        for record in iter_uniprot(flat):
            if record.accession in seen:
                continue
            seen.add(record.accession)
            sequences.write(f">sp|{record.accession}|{record.entry_name}\n{record.sequence}\n")
            for annotated, code in zip(record.go_terms, record.go_evidence):
                aspect, term = annotated.split(":", 1)
                annotations.write(f"UniProtKB\t{record.accession}\t{record.entry_name}\tenables\t{term}\tPMID:1\t"
                                  f"{code}\t\t{aspect}\t\t\tprotein\ttaxon:1\t20240101\tUniProt\t\t\n")
    proteome = folder / "proteome.fasta.gz"
    proteome.write_bytes(gzip.compress((GO / "sample.fasta").read_bytes()))
    return {"uniprot_sprot.dat.gz": str(flat), "proteins.fa.gz": str(fasta), "goa_uniprot_all.gaf.gz": str(gaf),
            "go-basic.obo": str(GO / "go-2014-uniprot-sample.obo"), "proteome.fasta.gz": str(proteome),
            "truth.gaf": str(GO / "sample.gaf")}


def test_the_readme_commands_from_downloaded_files(model_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = _downloads(tmp_path)
    commands = readme_commands()
    assert [c[1] for c in commands] == ["reference", "reference", "annotate", "evaluate-annotations"]
    for command in commands:
        args = [files.get(a, a) for a in command[1:]]
        if "--model" in args:
            args[args.index("--model") + 1] = str(model_folder)
            args += ["--template", TEMPLATE]
        assert cli(args) == 0, capsys.readouterr().err[-2000:]
    err = capsys.readouterr().err
    assert "dropped, evidence code not kept" in err  # the build says what the evidence filter did
    from_uniprot, from_gaf = AnnotationReference.load("go-reference"), AnnotationReference.load("go-reference-gaf")
    assert from_uniprot.manifest["proteins"] == from_gaf.manifest["proteins"] == 14
    for name in ("molecular_function", "biological_process", "cellular_component"):
        a, b = from_uniprot.field(name)[0], from_gaf.field(name)[0]
        assert a.ids == b.ids and (a.table.indices == b.table.indices).all()
    labels = from_uniprot.manifest["labels"]
    assert labels["evidence"].startswith("experimental") and labels["ontology_version"] == "swissprot_go_2014-sample"
    assert set(labels["annotations"]["kept_by_evidence"]) <= {"IDA", "IMP", "IGI", "IPI", "TAS", "IEP", "IC", "HDA"}
    card = Path("go-reference/README.md").read_text()
    assert "evidence kept: experimental" in card and "| dropped: evidence code not kept |" in card
    assert {p.name for p in Path(".").glob("go.*.tsv")} == {f"go.{n}.tsv" for n in
                                                          ("molecular_function", "biological_process",
                                                           "cellular_component")}
    result = json.loads(Path("scores/results.json").read_text())
    mf = result["namespaces"]["molecular_function"]
    assert mf["proteins"] == 2 and 0 < mf["fmax"] <= 1 and "weighted_fmax" in mf and mf["smin"] > 0
    assert result["ia"] == "computed from the reference's annotations"
    assert Path("scores/precision_recall.png").stat().st_size > 1000

    # confident, most specific calls as GAF, each with the reference protein behind it
    annotate = ["annotate", files["proteome.fasta.gz"], "--reference", "go-reference", "--field", "all",
                "--output", "calls.{field}.tsv", "--gaf", "calls.{field}.gaf", "--threshold", "auto", "--leaves"]
    assert cli(annotate) == 0
    accessions = set(from_uniprot.accessions)
    for name in ("molecular_function", "biological_process", "cellular_component"):
        labels, _, info = from_uniprot.field(name)
        assert 0 < info["threshold"] < 1 and 0 < info["threshold_fmax"] <= 1  # recorded at build time
        lines = Path(f"calls.{name}.tsv").read_text().splitlines()
        assert lines[0] == (f"# protst annotate, {name}; reference: go-reference; model: {model_folder.name}; "
                            "ontology: swissprot_go_2014-sample")
        rows = [line.split("\t") for line in lines[2:]]
        assert rows  # the checks below are about something
        assert all(float(r[3]) >= info["threshold"] for r in rows)
        position = {t: i for i, t in enumerate(labels.ids)}
        for protein in {r[0] for r in rows}:
            kept = {position[r[1]] for r in rows if r[0] == protein}
            for label in kept:  # no kept term is an ancestor of another kept term
                stack, above = list(labels.parents[label]), set()
                while stack:
                    parent = stack.pop()
                    if parent not in above:
                        above.add(parent)
                        stack.extend(labels.parents[parent])
                assert not (above & kept), (protein, labels.ids[label])
        for r in rows:  # "P12345 identity 0.62", "Q9Y2X3 cosine 0.83", or empty (text or frequencies alone)
            if r[5]:
                accession, kind, value = r[5].split(" ")
                assert accession in accessions and kind in ("identity", "cosine") and -1 <= float(value) <= 1
        gaf = Path(f"calls.{name}.gaf").read_text().splitlines()
        assert gaf[0] == "!gaf-version: 2.2" and "!reference: go-reference" in gaf
        body = [line.split("\t") for line in gaf if not line.startswith("!")]
        assert len(body) == len(rows) and all(len(c) == 17 and c[6] == "IEA" for c in body)
        assert {c[5] for c in body} <= {"protst-hf:go-reference"} and {c[0] for c in body} <= {"UniProtKB"}
        assert all(c[8] == {"molecular_function": "F", "biological_process": "P",
                            "cellular_component": "C"}[name] for c in body)


def test_bad_inputs_of_the_go_file_flags_are_clear_errors(model_folder, tmp_path, capsys):
    build = ["reference", "build", "--model", str(model_folder), "--go-obo", str(GO / "go-mini.obo"),
             "--template", TEMPLATE, "--output", str(tmp_path / "ref")]
    fasta, gaf = ["--fasta", str(GO / "sample.fasta")], ["--gaf", str(GO / "sample.gaf")]
    cases = [
        (fasta + gaf + ["--evidence", "IDA,XYZ"], r"unknown evidence code\(s\) XYZ: give a preset"),
        (fasta, "--fasta needs --gaf"),
        (["--uniprot", str(UNIPROT / "P05067.dat")] + gaf, "--gaf goes with --fasta"),
        (fasta + gaf + ["--fit-split", "validation"], "have no splits"),
        (["--fasta", str(UNIPROT / "P05067.dat")] + gaf, "holds no protein"),
    ]
    for extra, message in cases:
        assert cli(build + extra) == 2
        assert re.search(message, capsys.readouterr().err), message
    other = tmp_path / "other.fasta"
    other.write_text(">sp|X00001|X\nMKVLAAGIVG\n")
    assert cli(build + ["--fasta", str(other)] + gaf) == 2
    assert "none of the 4 protein ids of" in capsys.readouterr().err
    cycle = tmp_path / "cycle.obo"
    cycle.write_text((GO / "go-mini.obo").read_text().replace("is_a: GO:0005488 ! binding", "is_a: GO:0005524"))
    assert cli([a if a != str(GO / "go-mini.obo") else str(cycle) for a in build] + fasta + gaf) == 2
    assert "the is_a / part_of graph has a cycle" in capsys.readouterr().err
    assert not (tmp_path / "ref").exists()  # nothing written by a refused build
