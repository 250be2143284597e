"""The ontology from OBO (data/go_obo.py): names, namespaces, is_a and part_of kept (regulates not followed),
alternative ids and obsolete terms mapped, the data-version recorded; a malformed stanza or a cycle is an error naming
the line and the term; the OBO route gives the TSV tables' ontology exactly."""

import gzip

import pytest

from protst_hf.data.gene_ontology import GeneOntology
from protst_hf.data.go_obo import OBOFormatError, load_ontology, read_obo

FIXTURES = "tests/fixtures/go"
MINI = f"{FIXTURES}/go-mini.obo"


def test_terms_relations_alternative_ids_and_obsolete_terms():
    ontology = read_obo(MINI)
    assert ontology.version == "releases/2024-01-17"
    assert ontology.names["GO:0005524"] == "ATP binding"
    assert ontology.namespaces["GO:0005829"] == "cellular_component"
    assert ontology.parents["GO:0005829"] == ("GO:0005622", "GO:0005737")  # is_a and part_of
    assert ontology.parents["GO:0001932"] == ("GO:0008150",)  # regulates is not followed
    assert ontology.propagate(["GO:0005829"]) == {"GO:0005829", "GO:0005737", "GO:0005622"}
    assert ontology.primary("GO:0005524") == ("GO:0005524", None)
    assert ontology.primary("GO:0008022") == ("GO:0005524", "alternative id mapped to its primary id")
    assert ontology.primary("GO:0005625") == ("GO:0005829", "obsolete term mapped through replaced_by")
    assert ontology.primary("GO:0006467") == (None, "obsolete term without replaced_by")
    assert ontology.primary("GO:0099999") == (None, "term not in the ontology")
    assert "GO:0005625" not in ontology.names and "part_of" not in ontology.names  # no obsolete term, no Typedef


def test_gzipped_obo_reads_the_same(tmp_path):
    packed = tmp_path / "go-basic.obo.gz"
    packed.write_bytes(gzip.compress(open(MINI, "rb").read()))
    assert read_obo(packed).parents == read_obo(MINI).parents


def test_malformed_stanza_cycle_and_binary_are_errors_naming_where(tmp_path):
    text = open(MINI).read()
    bad = tmp_path / "bad.obo"
    bad.write_text(text.replace("is_a: GO:0000166 ! nucleotide binding", "is_a GO:0000166"))
    line = bad.read_text().splitlines().index("is_a GO:0000166") + 1
    with pytest.raises(OBOFormatError, match=rf"bad.obo: malformed OBO at line {line}, in the stanza of GO:0005524"):
        read_obo(bad)
    cycle = tmp_path / "cycle.obo"
    cycle.write_text(text.replace("is_a: GO:0005488 ! binding", "is_a: GO:0005524"))
    with pytest.raises(OBOFormatError, match=r"cycle: GO:0000166 -> GO:0005524 -> GO:0000166 \(the stanza of "
                                             r"GO:0000166 is at line \d+\)"):
        read_obo(cycle)
    noise = tmp_path / "noise.obo"
    noise.write_bytes(bytes(range(128, 256)) * 8)  # not UTF-8
    with pytest.raises(OBOFormatError, match="noise.obo: not a readable OBO file"):
        read_obo(noise)
    with pytest.raises(FileNotFoundError):
        read_obo(tmp_path / "absent.obo")


def test_the_obo_of_the_tsv_tables_is_the_same_ontology(tmp_path):
    """The converter writes the TSV tables as OBO (names with `{` escaped); reading it back gives the same names,
    namespaces and parents as the TSVs. The full corpus is checked the same way in the closing note (40,415
    terms); here the fixture's 300-protein excerpt."""
    from benchmarks.go_corpus_to_obo_gaf import obo_escape

    tables = GeneOntology.from_files(f"{FIXTURES}/go_terms.tsv", f"{FIXTURES}/go_graph.tsv")
    lines = ["format-version: 1.2", "data-version: test", ""]
    for term in sorted(tables.names):
        lines += ["[Term]", f"id: {term}", f"name: {obo_escape(tables.names[term] + ' {x}!')}"]
        lines += [f"namespace: {tables.namespaces[term]}"] if tables.namespaces[term] else []
        lines += [f"is_a: {p}" for p in tables.parents.get(term, ())] + [""]
    (tmp_path / "go.obo").write_text("\n".join(lines))
    ontology = read_obo(tmp_path / "go.obo")
    assert ontology.names == {t: n + " {x}!" for t, n in tables.names.items()}
    assert ontology.namespaces == tables.namespaces
    assert ontology.parents == {t: p for t, p in tables.parents.items() if t in tables.names}


def test_load_ontology_takes_obo_or_the_tables_once():
    assert load_ontology(go_obo=MINI).version == "releases/2024-01-17"
    assert load_ontology(go_terms=f"{FIXTURES}/go_terms.tsv", go_graph=f"{FIXTURES}/go_graph.tsv").names
    with pytest.raises(ValueError, match="--go-obo go-basic.obo"):
        load_ontology()
    with pytest.raises(ValueError, match="give the ontology once"):
        load_ontology(go_obo=MINI, go_terms=f"{FIXTURES}/go_terms.tsv")
