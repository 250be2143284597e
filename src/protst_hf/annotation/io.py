"""Writers of per-protein predictions: the fused annotations (long TSV, and the CAFA submission file) and zero-shot
classifications (wide or long TSV). Each writes through [`atomic_open`]: a run that fails leaves no half file."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import numpy as np

from ..models.protst.folder_protst import atomic_open
from .fields import FieldLabels
from .fusion import Fusion


class AnnotationTable:
    """The long TSV of fused annotations (`id, label_id, name, score, evidence`: each evidence's weighted share,
    e.g. `homology=0.41;best_hit=0.12;neighbours=0.22;text=0.03`), best first per protein, scores >= `min_score`, at
    most `top_k` labels per protein; with `cafa`, the CAFA submission file of the same predictions (two-decimal
    scores in (0, 1]). A context manager: both files appear, complete, when it closes without an error
    ([`atomic_open`]), and neither when it closes with one.

    Example:
        >>> with AnnotationTable("mf.tsv", labels, fusion, cafa="mf.cafa") as table:
        ...     for ids, scores, evidence, bins in reference.annotate(model, processor, records, "molecular_function"):
        ...         table.write(ids, scores, evidence, bins)
    """

    def __init__(self, path: str | Path, labels: FieldLabels, fusion: Fusion, min_score: float = 0.01,
                 top_k: int | None = None, cafa: str | Path | None = None, author: str = "protst-hf"):
        self.path, self.cafa, self.author = path, cafa, author
        self.labels, self.fusion, self.min_score, self.top_k = labels, fusion, min_score, top_k
        self.rows = 0

    def __enter__(self) -> AnnotationTable:
        self._files = ExitStack()
        try:
            self.out = self._files.enter_context(atomic_open(self.path))
            self.cafa_file = self._files.enter_context(atomic_open(self.cafa)) if self.cafa else None
        except BaseException:
            self._files.close()
            raise
        self.out.write("id\tlabel_id\tname\tscore\tevidence\n")
        if self.cafa_file:
            self.cafa_file.write(f"AUTHOR {self.author}\nMODEL 1\nKEYWORDS sequence alignment, machine learning, "
                                 "natural language processing.\n")
        return self

    def write(self, ids: list[str], scores: np.ndarray, evidence: dict, bins: np.ndarray) -> None:
        labels = self.labels
        for q, identifier in enumerate(ids):
            row = scores[q]
            order = np.argsort(-row, kind="stable")
            order = order[row[order] >= self.min_score][:self.top_k]
            shares = self.fusion.contributions(evidence, bins, q, order)
            for position, label in enumerate(order):
                parts = ";".join(f"{k}={v[position]:.3f}" for k, v in shares.items() if v[position] > 0)
                self.out.write(f"{identifier}\t{labels.ids[label]}\t{labels.names[label]}\t{row[label]:.4f}\t"
                               f"{parts}\n")
                self.rows += 1
                if self.cafa_file and row[label] >= 0.005:
                    self.cafa_file.write(f"{identifier}\t{labels.ids[label]}\t{max(row[label], 0.01):.2f}\n")

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None and self.cafa_file:
            self.cafa_file.write("END\n")
        self._files.__exit__(kind, value, traceback)


def write_annotations(path: str | Path, results: Iterable[tuple[list[str], np.ndarray, dict, np.ndarray]],
                      labels: FieldLabels, fusion: Fusion, min_score: float = 0.01, top_k: int | None = None,
                      cafa: str | Path | None = None, author: str = "protst-hf") -> int:
    """[`AnnotationTable`] of one field's results (`reference.annotate(...)`); returns the rows written."""
    with AnnotationTable(path, labels, fusion, min_score, top_k, cafa, author) as table:
        for ids, scores, evidence, bins in results:
            table.write(ids, scores, evidence, bins)
    return table.rows


class ClassificationTable:
    """The TSV of zero-shot classification results (the pipeline's dicts: `id`, `labels`, `scores`), written as they
    come: wide (`id, label, score`, then every label's probability in a column) or long (`id, label, score`, one
    row per protein and label, best first). Labels are named by their ids when given (a labels file's GO ids).

    Args:
        out: an open text file.
        names: the labels' names, in the classifier's order (the wide columns).
        ids: each label's id to write instead of its name, or None.
        long_format: one row per protein and label.
    """

    def __init__(self, out: IO, names: Sequence[str], ids: Sequence[str] | None = None, long_format: bool = False):
        self.out, self.names, self.long_format, self.proteins = out, list(names), long_format, 0
        self.shown = dict(zip(self.names, ids)) if ids else {n: n for n in self.names}
        columns = ["id", "label", "score", *([] if long_format else [self.shown[n] for n in self.names])]
        out.write("\t".join(columns) + "\n")

    def write(self, results: Iterable[dict]) -> None:
        shown = self.shown
        for result in results:
            self.proteins += 1
            if self.long_format:
                self.out.writelines(f"{result['id']}\t{shown[label]}\t{score:.6g}\n"
                                    for label, score in zip(result["labels"], result["scores"]))
                continue
            scores = dict(zip(result["labels"], result["scores"]))
            self.out.write("\t".join([result["id"], shown[result["labels"][0]], f"{result['scores'][0]:.6f}",
                                      *(f"{scores[n]:.6f}" for n in self.names)]) + "\n")


__all__ = ["AnnotationTable", "ClassificationTable", "write_annotations"]
