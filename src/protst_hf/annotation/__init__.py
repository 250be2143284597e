"""Protein function annotation fused from homology (MMseqs2), embedding neighbours (FAISS), ProtST's zero-shot
text scores and the label frequencies: `build_reference` once, then `AnnotationReference.annotate`
(`protst reference build` / `protst annotate`).

One module per job: `fields` (the labels of a reference, and the step from a labelled dataset to them), `evidence`
(each evidence from what a search found), `fusion` (their per-bin blend and its fit), `search` (the one MMseqs2 +
FAISS search, for annotation and for the cross-fit), `build` (a reference from labelled proteins), `store` (the
folder's format and card), `reference` (a loaded reference that annotates), `io` (the TSV, CAFA and GAF writers) and
`html_report` (the self-contained HTML page of a run).
"""

from ..models.protst.folder_protst import IncompleteFolderError
from .build import ReferenceBuildArguments, build_reference
from .evidence import LabelTable, best_hit_evidence, hit_evidence, homology_evidence, neighbour_evidence
from .fields import FieldLabels, ReferenceInputs, class_field, clean_records, go_fields, reference_inputs
from .fusion import BINS, COMPONENTS, Fusion, fit_fusion, identity_bins, ontology_consistent
from .html_report import AnnotationReport
from .io import AnnotationTable, ClassificationTable, annotate_to_files, write_annotations
from .reference import AnnotationReference, MismatchedReferenceModelError
from .search import Lookup, cross_fit_folds

__all__ = ["BINS", "COMPONENTS", "AnnotationReference", "AnnotationReport", "AnnotationTable", "ClassificationTable",
           "FieldLabels", "Fusion", "IncompleteFolderError", "LabelTable", "Lookup", "MismatchedReferenceModelError",
           "ReferenceBuildArguments", "ReferenceInputs", "annotate_to_files", "best_hit_evidence", "build_reference",
           "class_field", "clean_records", "cross_fit_folds", "fit_fusion", "go_fields", "hit_evidence",
           "homology_evidence", "identity_bins", "neighbour_evidence", "ontology_consistent", "reference_inputs",
           "write_annotations"]
