"""GO: propagation (true-path rule, roots excluded), the annotation reader's accounting of bad input, and
ProtDescribe built from GO annotations (tests/fixtures/go: 300 real Swiss-Prot proteins with their GO terms)."""

import csv

import pyarrow.parquet as pq
import pytest

from protst_hf.data.gene_ontology import (
    KEPT_MALFORMED_ID,
    KEPT_NOT_IN_GRAPH,
    KEPT_OTHER_NAMESPACE,
    KEPT_UNNAMED,
    SKIP_DUPLICATE_ACCESSION,
    SKIP_INVALID_SEQUENCE,
    SKIP_MALFORMED,
    SKIP_NO_ANNOTATION,
    GeneOntology,
    GOReadReport,
    build_go_protdescribe,
    go_rows,
    term_frequencies,
)
from protst_hf.data.protdescribe import PROTDESCRIBE_FEATURES
from utils.builders import FIXTURES

GO = FIXTURES / "go"


def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture()
def toy_ontology(tmp_path):
    # binding (MF) <- nucleotide binding <- ATP binding; ATP binding part_of a made-up complex term by
    # `regulates` (not followed); a CC chain part_of
    terms = _write(tmp_path / "terms.tsv", ["go_id", "name", "namespace"], [
        ["GO:0003674", "molecular_function", "molecular_function"],
        ["GO:0005488", "binding", "molecular_function"],
        ["GO:0000166", "nucleotide binding", "molecular_function"],
        ["GO:0005524", "ATP binding", "molecular_function"],
        ["GO:0005575", "cellular_component", "cellular_component"],
        ["GO:0005737", "cytoplasm", "cellular_component"],
        ["GO:0005829", "cytosol", "cellular_component"],
        ["GO:0009999", "", ""],
        ["GO:0008150", "biological_process", "biological_process"],
        ["GO:0006281", "DNA repair", "biological_process"],
    ])
    graph = _write(tmp_path / "graph.tsv", ["child", "parent", "relation"], [
        ["GO:0005488", "GO:0003674", "is_a"], ["GO:0000166", "GO:0005488", "is_a"],
        ["GO:0005524", "GO:0000166", "is_a"], ["GO:0005524", "GO:0006281", "regulates"],
        ["GO:0005737", "GO:0005575", "is_a"], ["GO:0005829", "GO:0005737", "part_of"],
        ["GO:0006281", "GO:0008150", "is_a"],
    ])
    return GeneOntology.from_files(terms, graph)


def test_propagation_follows_is_a_and_part_of_and_drops_roots(toy_ontology):
    assert toy_ontology.propagate(["GO:0005524"]) == {"GO:0005524", "GO:0000166", "GO:0005488"}
    assert toy_ontology.propagate(["GO:0005829"]) == {"GO:0005829", "GO:0005737"}  # part_of followed
    assert "GO:0003674" in toy_ontology.propagate(["GO:0005524"], keep_roots=True)
    assert toy_ontology.propagate(["GO:0001234"]) == {"GO:0001234"}  # unknown to the graph: itself
    counts, proteins = term_frequencies([["F:GO:0005524"], ["F:GO:0000166", "C:GO:0005829"], []], toy_ontology)
    assert proteins == 3 and counts == {"GO:0005524": 1, "GO:0000166": 2, "GO:0005488": 2, "GO:0005829": 1,
                                        "GO:0005737": 1}


def test_reader_counts_every_bad_input_and_keeps_what_it_can(toy_ontology, tmp_path):
    table = _write(tmp_path / "annotations.tsv", ["accession", "sequence", "go_mf", "go_bp", "go_cc"], [
        ["P1", "MKVL", "GO:0005524;GO:0000166", "GO:0006281", "GO:0005829"],
        ["P2", "MK1L", "GO:0005524", "", ""],  # invalid residue
        ["P3", "MKVV", "", "", ""],  # no annotation
        ["P1", "MKVL", "GO:0005524", "", ""],  # accession again
        ["P4", "mkv l*", "GO:0009999;GO:0001234;GO:12", "GO:0005737", ""],  # unnamed, not in graph, malformed;
        ["", "MKV", "GO:0005524", "", ""],  # no accession                   a CC term under BP
        ["P5", "", "GO:0005524", "", ""],  # empty sequence
    ])
    report = GOReadReport()
    rows = list(go_rows(table, toy_ontology, report))
    assert [r["accession"] for r in rows] == ["P1", "P4"]
    assert rows[0]["go_function"] == "ATP binding; nucleotide binding"
    assert rows[0]["go_process"] == "DNA repair" and rows[0]["go_component"] == "cytosol"
    assert rows[0]["go_terms"] == ["F:GO:0005524", "F:GO:0000166", "P:GO:0006281", "C:GO:0005829"]
    assert rows[1]["sequence"] == "MKVL" and rows[1]["go_function"] == ""  # no named MF term
    assert rows[1]["go_component"] == "cytoplasm" and "C:GO:0005737" in rows[1]["go_terms"]
    assert set(rows[0]) == set(PROTDESCRIBE_FEATURES)
    assert report.records_read == 7 and report.records_parsed == 2
    assert report.skipped == {SKIP_INVALID_SEQUENCE: 2, SKIP_NO_ANNOTATION: 1, SKIP_DUPLICATE_ACCESSION: 1,
                              SKIP_MALFORMED: 1}
    assert report.recovered == {KEPT_UNNAMED: 2, KEPT_NOT_IN_GRAPH: 2, KEPT_MALFORMED_ID: 1,
                                KEPT_OTHER_NAMESPACE: 1}
    assert report.examples[KEPT_UNNAMED] == ["GO:0009999", "GO:0001234"]
    assert "position 2" in report.examples[SKIP_INVALID_SEQUENCE][0]
    # texts under the true-path rule: the annotated terms, then their ancestors (roots excluded)
    propagated = list(go_rows(table, toy_ontology, GOReadReport(), propagate_texts=True))
    assert propagated[0]["go_function"] == "ATP binding; nucleotide binding; binding"
    assert propagated[0]["go_component"] == "cytosol; cytoplasm" and propagated[0]["go_process"] == "DNA repair"
    assert propagated[0]["go_terms"] == rows[0]["go_terms"]  # the ids stay the annotated ones


@pytest.mark.parametrize("split", ["random", pytest.param("mmseqs", marks=pytest.mark.needs_mmseqs)])
@pytest.mark.slow
def test_go_protdescribe_has_the_features_splits_and_report_of_a_uniprot_build(tmp_path, split):
    ontology = GeneOntology.from_files(GO / "go_terms.tsv", GO / "go_graph.tsv")
    report = build_go_protdescribe(GO / "annotations.tsv", ontology, tmp_path / "go", split=split,
                                   ratios=(0.6, 0.1, 0.3), progress=False)
    parse = report["parse"]
    assert parse["records_read"] == 300
    assert parse["records_parsed"] + sum(parse["skipped"].values()) == 300
    written = report["rows"]["written"]
    assert sum(written.values()) == report["rows"]["rows_after_deduplication"]
    assert sum(written.values()) + report["rows"]["no_description_text"] + report["rows"]["exact_duplicates"] == \
        parse["records_parsed"]
    rows = {name: [r for shard in sorted((tmp_path / "go" / "data").glob(f"{name}-*.parquet"))
                   for r in pq.read_table(shard).to_pylist()] for name in written}
    assert pq.read_schema(next((tmp_path / "go" / "data").glob("train-*.parquet"))) == \
        PROTDESCRIBE_FEATURES.arrow_schema
    every = [r for split_rows in rows.values() for r in split_rows]
    assert all(r["go_terms"] and any(r[c] for c in ("go_function", "go_process", "go_component")) for r in every)
    # the texts are the names of the annotated terms
    row = every[0]
    mf = [t[2:] for t in row["go_terms"] if t.startswith("F:")]
    assert row["go_function"] == "; ".join(dict.fromkeys(ontology.name(t) for t in mf if ontology.name(t)))
    clusters = {}
    for name, split_rows in rows.items():
        for r in split_rows:
            clusters.setdefault(r["cluster"], set()).add(name)
    assert all(len(s) == 1 for s in clusters.values())  # a cluster sits in one split
    assert report["field_coverage"]["go_function"] > 0.5 and report["field_coverage"]["prot_name"] == 0
    card = (tmp_path / "go" / "README.md").read_text()
    assert "go_function" in card


def test_build_protdescribe_command_reads_go_tables(tmp_path, capsys):
    from protst_hf.cli import main as cli

    assert cli(["build-protdescribe", str(GO / "annotations.tsv"), "--go-terms", str(GO / "go_terms.tsv"),
                "--go-graph", str(GO / "go_graph.tsv"), "--go-propagate-texts", "--split", "random", "--output",
                str(tmp_path / "go"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "read 300 entries" in out and "go_function" in out
    rows = [r for shard in (tmp_path / "go" / "data").glob("*.parquet") for r in pq.read_table(shard).to_pylist()]
    assert any("; " in r["go_function"] for r in rows)
    assert cli(["build-protdescribe", str(GO / "annotations.tsv"), "--go-terms", str(GO / "go_terms.tsv"),
                "--output", str(tmp_path / "x")]) == 2
    assert "--go-graph" in capsys.readouterr().err


def test_a_go_table_without_usable_proteins_fails_clearly(toy_ontology, tmp_path):
    table = _write(tmp_path / "annotations.tsv", ["accession", "sequence", "go_mf", "go_bp", "go_cc"],
                   [["P1", "MK1", "GO:0005524", "", ""], ["P2", "MKV", "", "", ""]])
    with pytest.raises(ValueError, match="no usable GO-annotated records(.|\n)*no GO annotation in any namespace: 1"):
        build_go_protdescribe(table, toy_ontology, tmp_path / "out", split="none", progress=False)
    assert not (tmp_path / "out").exists()
