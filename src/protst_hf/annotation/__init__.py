"""Protein function annotation fused from homology (MMseqs2), embedding neighbours (FAISS), ProtST's zero-shot
text scores and the label frequencies: `build_reference` once, then `AnnotationReference.annotate`
(`protst reference build` / `protst annotate`)."""

from .evidence import LabelTable, best_hit_evidence, hit_evidence, homology_evidence, neighbour_evidence
from .fusion import BINS, COMPONENTS, Fusion, fit_fusion, identity_bins, ontology_consistent
from .reference import (
    AnnotationReference,
    FieldLabels,
    IncompleteReferenceError,
    MismatchedReferenceModelError,
    build_reference,
    class_field,
    clean_records,
    go_fields,
    write_annotations,
)

__all__ = ["BINS", "COMPONENTS", "AnnotationReference", "FieldLabels", "Fusion", "IncompleteReferenceError",
           "LabelTable", "MismatchedReferenceModelError", "best_hit_evidence", "build_reference", "class_field",
           "clean_records", "fit_fusion", "go_fields", "hit_evidence", "homology_evidence", "identity_bins",
           "neighbour_evidence", "ontology_consistent", "write_annotations"]
