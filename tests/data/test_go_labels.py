"""GO labels from downloaded files (data/go_labels.py, data/go_evidence.py): evidence presets, NOT rows, alternative
ids, obsolete terms, unknown terms and proteins without a sequence, each dropped or mapped and counted; GAF lines of
the wrong width counted and named; UniProt flat-file and XML GO lines read with their evidence codes."""

import gzip

import pytest

from protst_hf.data.go_evidence import EXPERIMENTAL, evidence_code, parse_evidence
from protst_hf.data.go_labels import fasta_accession, go_rows_from_gaf, go_rows_from_uniprot, read_gaf
from protst_hf.data.go_obo import read_obo

GO = "tests/fixtures/go"


@pytest.fixture(scope="module")
def ontology():
    return read_obo(f"{GO}/go-mini.obo")


def test_evidence_presets_and_codes():
    assert parse_evidence(None) == parse_evidence("experimental") == frozenset(EXPERIMENTAL)
    assert "IEA" not in parse_evidence("non-electronic") and "ISS" in parse_evidence("non-electronic")
    assert "ND" not in parse_evidence("non-electronic")
    assert parse_evidence("all") is None
    assert parse_evidence("ida, IMP") == {"IDA", "IMP"}
    with pytest.raises(ValueError, match=r"unknown evidence code\(s\) XYZ: give a preset \(experimental, "
                                         r"non-electronic, all\) or codes among EXP, IDA"):
        parse_evidence("IDA,XYZ")
    assert evidence_code("IDA:UniProtKB.") == "IDA"
    assert evidence_code("ECO:0000314") == "IDA" and evidence_code("ECO:0007669") == "IEA"
    assert evidence_code("ECO:0000000") == "ECO:0000000"  # an ECO id of no GO code stays itself


def test_gaf_with_fasta_keeps_experimental_labels_and_counts_every_drop(ontology):
    rows, report = go_rows_from_gaf(f"{GO}/sample.fasta", f"{GO}/sample.gaf", ontology, parse_evidence(None))
    by_accession = {r["accession"]: r["go_terms"] for r in rows}
    assert by_accession == {"P05067": ["F:GO:0005524", "P:GO:0006468"],
                            "Q13362": ["F:GO:0005524", "C:GO:0005829"]}  # alt id and replaced_by mapped
    assert [r["accession"] for r in rows] == ["P05067", "Q13362"]  # the FASTA's order
    assert rows[0]["sequence"].startswith("MLPGLALLLLAAWTARA") and len(rows[0]["sequence"]) == 770
    counts = report.annotations
    assert counts.kept == 4 and dict(counts.kept_codes) == {"IDA": 1, "IMP": 1, "IPI": 1, "HDA": 1}
    assert dict(counts.dropped) == {"evidence code not kept": 2, "NOT qualifier (negative evidence)": 1,
                                    "obsolete term without replaced_by": 1, "term not in the ontology": 1,
                                    "no sequence for the protein": 1}
    assert dict(counts.mapped) == {"alternative id mapped to its primary id": 1,
                                   "obsolete term mapped through replaced_by": 1}
    assert counts.examples["no sequence for the protein"] == ["P99999"]
    assert report.malformed_lines == 1 and report.malformed_examples == [f"{GO}/sample.gaf line 14: 5 columns"]
    assert report.proteins_read == 3 and report.proteins_kept == 2 and report.proteins_without_labels == 1
    assert report.ontology_version == "releases/2024-01-17" and report.evidence.startswith("experimental (EXP")
    text = report.summary()
    assert "annotations kept: 4" in text and "dropped, NOT qualifier (negative evidence): 1" in text


def test_non_electronic_and_named_codes(ontology):
    rows, report = go_rows_from_gaf(f"{GO}/sample.fasta", f"{GO}/sample.gaf", ontology,
                                    parse_evidence("non-electronic"))
    assert {r["accession"] for r in rows} == {"P05067", "Q13362", "Q9NYP9"}  # ISS kept, IEA still dropped
    assert report.annotations.dropped["evidence code not kept"] == 1
    rows, _ = go_rows_from_gaf(f"{GO}/sample.fasta", f"{GO}/sample.gaf", ontology, None)  # all: IEA too
    assert "C:GO:0005829" in rows[0]["go_terms"]


def test_gzipped_inputs_and_mismatched_ids(ontology, tmp_path):
    fasta_gz, gaf_gz = tmp_path / "p.fa.gz", tmp_path / "a.gaf.gz"
    fasta_gz.write_bytes(gzip.compress(open(f"{GO}/sample.fasta", "rb").read()))
    gaf_gz.write_bytes(gzip.compress(open(f"{GO}/sample.gaf", "rb").read()))
    assert go_rows_from_gaf(fasta_gz, gaf_gz, ontology, None)[0] == \
        go_rows_from_gaf(f"{GO}/sample.fasta", f"{GO}/sample.gaf", ontology, None)[0]
    other = tmp_path / "other.fasta"
    other.write_text(">sp|X00001|X\nMKV\n>sp|X00002|Y\nMKL\n")
    with pytest.raises(ValueError, match=r"none of the 4 protein ids of .*sample.gaf \(column 2, e.g. 'P05067'\) "
                                         r"names one of the 2 sequences of .*other.fasta"):
        go_rows_from_gaf(other, f"{GO}/sample.gaf", ontology, None)
    empty = tmp_path / "empty.gaf"
    empty.write_text("!gaf-version: 2.2\n")
    with pytest.raises(ValueError, match="holds no GO annotation line"):
        go_rows_from_gaf(f"{GO}/sample.fasta", empty, ontology, None)
    assert fasta_accession("sp|P05067|A4_HUMAN") == "P05067" and fasta_accession("P05067") == "P05067"
    assert [a.negated for a in read_gaf(f"{GO}/sample.gaf")][:3] == [False, False, True]


def test_uniprot_files_with_mixed_evidence():
    """The shipped UniProt samples (flat files and XML): IEA and ISS rows are not labels by default; terms of GO
    releases after the 2014 ontology are counted as unknown."""
    ontology = read_obo(f"{GO}/go-2014-uniprot-sample.obo")
    paths = [f"tests/fixtures/uniprot/{a}.dat" for a in ("P05067", "Q13362", "P04403")]
    paths.append("tests/fixtures/uniprot/uniprot_sprot_2022_250entries.xml")
    rows, report = go_rows_from_uniprot(paths, ontology, parse_evidence(None))
    everything, full = go_rows_from_uniprot(paths, ontology, None)
    counts = report.annotations
    assert report.proteins_read == 253 and report.proteins_kept == len(rows) == 17
    assert dict(counts.kept_codes) == {"IDA": 91, "IGI": 41, "IMP": 29, "TAS": 20, "IPI": 18, "IEP": 7, "IC": 4,
                                       "HDA": 1}
    assert dict(counts.dropped) == {"term not in the ontology": 29, "evidence code not kept": 592}
    # every code: IEA (398) and the other non-experimental rows become labels, and more unknown terms are met
    assert full.annotations.kept == 707 and full.annotations.kept_codes["IEA"] == 398 and len(everything) == 181
    assert dict(full.annotations.dropped) == {"term not in the ontology": 125}
    assert all(t[0] in "FPC" and t[1:5] == ":GO:" for r in rows for t in r["go_terms"])


def test_protdescribe_from_obo_and_gaf_equals_the_tables(tmp_path):
    """The GO fixture (300 proteins) written as OBO + GAF + FASTA by the corpus converter: a ProtDescribe build from
    them holds the rows, texts and splits of the build from the TSV tables."""
    from benchmarks.go_corpus_to_obo_gaf import write_gaf_and_fasta, write_obo

    from protst_hf.data.gene_ontology import GeneOntology, build_go_protdescribe
    from protst_hf.data.pretraining_data import load_pairs

    write_obo(f"{GO}/go_terms.tsv", f"{GO}/go_graph.tsv", tmp_path / "go.obo", "fixture")
    write_gaf_and_fasta(f"{GO}/annotations.tsv", tmp_path / "a.gaf.gz", tmp_path / "p.fa.gz")
    tables = GeneOntology.from_files(f"{GO}/go_terms.tsv", f"{GO}/go_graph.tsv")
    obo = read_obo(tmp_path / "go.obo")
    rows, report = go_rows_from_gaf(tmp_path / "p.fa.gz", tmp_path / "a.gaf.gz", obo, parse_evidence(None))
    common = dict(split="random", ratios=(0.6, 0.2, 0.2), progress=False, propagate_texts=True)
    build_go_protdescribe(f"{GO}/annotations.tsv", tables, tmp_path / "from_tables", **common)
    built = build_go_protdescribe(rows, obo, tmp_path / "from_files", label_report=report.to_dict(), **common)
    assert built["labels"]["annotations"]["kept_by_evidence"] == {"EXP": report.annotations.kept}
    columns = ["accession", "sequence", "go_terms", "go_function", "go_process", "go_component"]
    for split in ("train", "validation", "test"):
        a = load_pairs(str(tmp_path / "from_tables"), split=split).select_columns(columns).to_list()
        b = load_pairs(str(tmp_path / "from_files"), split=split).select_columns(columns).to_list()
        assert a == b and len(a) > 0


def test_build_protdescribe_from_fasta_and_gaf_command(tmp_path, capsys):
    from protst_hf.cli import main as cli
    from protst_hf.data.pretraining_data import load_pairs

    build = ["build-protdescribe", f"{GO}/sample.fasta", "--gaf", f"{GO}/sample.gaf", "--go-obo", f"{GO}/go-mini.obo",
             "--split", "random", "--split-ratios", "0.34", "0.33", "0.33", "--output"]
    assert cli(build + [str(tmp_path / "pd"), "--evidence", "non-electronic"]) == 0
    assert "dropped, NOT qualifier (negative evidence): 1" in capsys.readouterr().err
    rows = [r for split in ("train", "validation", "test") for r in load_pairs(str(tmp_path / "pd"), split=split)]
    assert sorted(r["accession"] for r in rows) == ["P05067", "Q13362", "Q9NYP9"]
    assert cli(build + [str(tmp_path / "bad"), "--evidence", "XYZ"]) == 2
    assert "unknown evidence code(s) XYZ" in capsys.readouterr().err
    assert cli(build + [str(tmp_path / "both"), "--go-from-uniprot"]) == 2
    assert "give one" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists() and not (tmp_path / "both").exists()
