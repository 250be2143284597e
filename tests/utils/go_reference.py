"""The GO fixture (300 Swiss-Prot proteins) as an annotation reference's inputs: a random 60/20/20 ProtDescribe
build, and the fields, proteins and validation labels of its train split (shared by the annotation tests)."""

from protst_hf.annotation import clean_records, go_fields
from protst_hf.data.gene_ontology import GeneOntology, build_go_protdescribe
from protst_hf.data.pretraining_data import load_pairs
from utils.builders import FIXTURES

GO = FIXTURES / "go"
NAMESPACES = ("molecular_function", "cellular_component")
TEMPLATES = {"molecular_function": "MOLECULAR FUNCTION: {}.", "cellular_component": "CELLULAR COMPONENT: {}."}


def go_ontology() -> GeneOntology:
    return GeneOntology.from_files(GO / "go_terms.tsv", GO / "go_graph.tsv")


def go_splits(folder, ontology):
    """The fixture built as ProtDescribe into `folder`: `({split: rows}, folder)`."""
    build_go_protdescribe(GO / "annotations.tsv", ontology, folder, split="random", ratios=(0.6, 0.2, 0.2),
                          progress=False)
    return {split: load_pairs(str(folder), split=split).to_list() for split in ("train", "validation", "test")}, \
        folder


def reference_inputs(go_build, ontology):
    """`(proteins, fields, label sets, validation proteins, validation labels)` of the train split."""
    splits, _ = go_build
    proteins, skipped = clean_records((r["accession"], r["sequence"]) for r in splits["train"])
    assert not skipped
    fields, sets = go_fields(splits["train"], ontology, TEMPLATES, NAMESPACES)
    validation = [(r["accession"], r["sequence"]) for r in splits["validation"]]
    labels = {field.name: field.label_rows(ontology.annotated_terms(r["go_terms"], field.name)
                                           for r in splits["validation"]) for field in fields}
    return proteins, fields, sets, validation, labels
