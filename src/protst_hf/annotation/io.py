"""Writers of per-protein predictions: the fused annotations (long TSV, and the CAFA submission file) and zero-shot
classifications (wide or long TSV). Each writes through [`atomic_open`]: a run that fails leaves no half file."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import IO

import numpy as np

from ..data.go_labels import fasta_accession
from ..models.protst.folder_protst import atomic_open
from ..models.protst.texts_protst import go_namespace
from .evidence import Supporters
from .fields import FieldLabels
from .fusion import Fusion, topological_order
from .html_report import AnnotationReport

GAF_RELATIONS = {"F": "enables", "P": "involved_in", "C": "located_in"}  # GAF 2.2's default relation per aspect


def _leaves(kept: np.ndarray, ancestors: list[frozenset[int]]) -> np.ndarray:
    """The kept labels that are no ancestor of another kept label (goPredSim's most specific terms)."""
    above = set()
    for label in kept:
        above |= ancestors[label] - {label}
    return np.asarray([label for label in kept if label not in above], dtype=kept.dtype)


class AnnotationTable:
    """The long TSV of fused annotations (`id, label_id, name, score, evidence, support`: each evidence's weighted
    share, e.g. `homology=0.41;best_hit=0.12;neighbours=0.22;text=0.03`, and the reference protein that supports
    the label most, `P12345 identity 0.62` or `Q9Y2X3 cosine 0.83`), best first per protein, scores >= `min_score`
    (and >= `threshold`), at most `top_k` labels per protein, or with `leaves` only the most specific ones (no
    ancestor of another kept label). With `report` (an [`AnnotationReport`]), each protein's kept labels are added to
    the HTML report too. With `cafa`, the CAFA submission file of the same predictions (two-decimal
    scores in (0, 1]); with `gaf`, a GAF 2.2 file of them (evidence IEA, the reference named in the DB:Reference
    column, the supporting protein in With/From, today's date). `header` names the reference, model and ontology in
    a comment at the top of the TSV and the GAF. A context manager: every file appears, complete, when it closes
    without an error ([`atomic_open`]), and none when it closes with one.

    Example:
        >>> with AnnotationTable("mf.tsv", labels, fusion, cafa="mf.cafa") as table:
        ...     for result in reference.annotate(model, processor, records, "molecular_function"):
        ...         table.write(*result)
    """

    def __init__(self, path: str | Path, labels: FieldLabels, fusion: Fusion, min_score: float = 0.01,
                 top_k: int | None = None, cafa: str | Path | None = None, author: str = "protst-hf",
                 gaf: str | Path | None = None, threshold: float | None = None, leaves: bool = False,
                 header: dict | None = None, report: AnnotationReport | None = None):
        self.path, self.cafa, self.gaf, self.author, self.report = path, cafa, gaf, author, report
        self.labels, self.fusion, self.top_k, self.leaves = labels, fusion, top_k, leaves
        self.min_score = max(min_score, threshold or 0.0)
        self.header = dict(header or {})
        self.rows = 0
        self._ancestors = _label_ancestors(labels.parents) if leaves else None
        if report is not None:
            report.add_field(labels, fusion, min_score, threshold, leaves)

    def __enter__(self) -> AnnotationTable:
        self._files = ExitStack()
        try:
            self.out = self._files.enter_context(atomic_open(self.path))
            self.cafa_file = self._files.enter_context(atomic_open(self.cafa)) if self.cafa else None
            self.gaf_file = self._files.enter_context(atomic_open(self.gaf)) if self.gaf else None
        except BaseException:
            self._files.close()
            raise
        described = "; ".join(f"{k}: {v}" for k, v in self.header.items() if v is not None)
        if described:
            self.out.write(f"# protst annotate, {self.labels.name}; {described}\n")
        self.out.write("id\tlabel_id\tname\tscore\tevidence\tsupport\n")
        if self.cafa_file:
            self.cafa_file.write(f"AUTHOR {self.author}\nMODEL 1\nKEYWORDS sequence alignment, machine learning, "
                                 "natural language processing.\n")
        if self.gaf_file:
            self.gaf_file.write(f"!gaf-version: 2.2\n!generated-by: protst-hf {_version()}\n"
                                f"!date-generated: {date.today().isoformat()}\n"
                                + "".join(f"!{k}: {v}\n" for k, v in self.header.items() if v is not None))
            self._aspect = go_namespace(self.labels.name).aspect
            self._reference = f"protst-hf:{self.header.get('reference') or 'reference'}"
        return self

    def write(self, ids: list[str], scores: np.ndarray, evidence: dict, bins: np.ndarray,
              supporters: Supporters | None = None) -> None:
        labels = self.labels
        for q, identifier in enumerate(ids):
            row = scores[q]
            order = np.argsort(-row, kind="stable")
            order = order[row[order] >= self.min_score]
            if self.leaves:
                order = _leaves(order, self._ancestors)
            order = order[:self.top_k]
            shares = self.fusion.contributions(evidence, bins, q, order)
            supports = []
            for position, label in enumerate(order):
                parts = ";".join(f"{k}={v[position]:.3f}" for k, v in shares.items() if v[position] > 0)
                support = None
                if supporters is not None:
                    homology = sum(shares[k][position] for k in ("homology", "best_hit") if k in shares)
                    support = supporters(q, label, homology, shares["neighbours"][position]
                                         if "neighbours" in shares else 0.0)
                supports.append(support)
                shown = f"{support[1]} {support[0]} {support[2]:.2f}" if support else ""
                self.out.write(f"{identifier}\t{labels.ids[label]}\t{labels.names[label]}\t{row[label]:.4f}\t"
                               f"{parts}\t{shown}\n")
                self.rows += 1
                if self.cafa_file and row[label] >= 0.005:
                    self.cafa_file.write(f"{identifier}\t{labels.ids[label]}\t{max(row[label], 0.01):.2f}\n")
                if self.gaf_file:
                    self._gaf_line(identifier, labels.ids[label], support)
            if self.report is not None:
                self.report.add(labels.name, identifier, int(bins[q]), supporters.best_hit(q) if supporters else None,
                                order, row, shares, supports)

    def _gaf_line(self, identifier: str, term: str, support) -> None:
        accession = fasta_accession(identifier)
        database, symbol = ("UniProtKB", identifier.split("|")[2]) if accession != identifier else \
            ("protst-hf", identifier)
        with_from = f"UniProtKB:{support[1]}" if support else ""
        self.gaf_file.write(f"{database}\t{accession}\t{symbol}\t{GAF_RELATIONS[self._aspect]}\t{term}\t"
                            f"{self._reference}\tIEA\t{with_from}\t{self._aspect}\t\t\tprotein\ttaxon:1\t"
                            f"{date.today():%Y%m%d}\tprotst-hf\t\t\n")

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None and self.cafa_file:
            self.cafa_file.write("END\n")
        self._files.__exit__(kind, value, traceback)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("protst-hf")
    except PackageNotFoundError:  # pragma: no cover - a source tree without an install
        return "(source)"


def _label_ancestors(parents: list[list[int]]) -> list[frozenset[int]]:
    """Each label's ancestors within the field (itself included), built parents first ([`topological_order`]
    reversed)."""
    ancestors: list[frozenset[int]] = [frozenset()] * len(parents)
    for label in reversed(topological_order(parents)):
        ancestors[label] = frozenset({label}).union(*(ancestors[p] for p in parents[label]))
    return ancestors


def annotate_to_files(reference, model, processor, records: Iterable[tuple[str, str]], fields: Sequence[str],
                      tables: dict, cafas: dict | None = None, gafs: dict | None = None,
                      thresholds: dict | None = None, report: AnnotationReport | None = None,
                      header: dict | None = None, chunk_size: int = 1000, threads: int | None = None,
                      **table_options) -> dict[str, int]:
    """Annotate `records` against `reference` for `fields` and write each field's files (`tables`, and optionally
    `cafas` / `gafs`: field -> path) through [`AnnotationTable`], with the kept labels added to `report`; what
    `protst annotate` and the Space run. Each protein is embedded and searched once for all fields. Returns the
    rows written per field. `table_options`: `min_score`, `top_k`, `leaves` of [`AnnotationTable`]. The caller
    checks the model against the reference first (`reference.check_model`, on the weights as saved)."""
    cafas, gafs, thresholds = cafas or {}, gafs or {}, thresholds or {}
    with ExitStack() as files:
        writers = {field: files.enter_context(AnnotationTable(
            tables[field], *reference.field(field)[:2], cafa=cafas.get(field), gaf=gafs.get(field),
            threshold=thresholds.get(field), header=header, report=report, **table_options)) for field in fields}
        for ids, scored in reference.annotate_fields(model, processor, records, fields, chunk_size=chunk_size,
                                                     threads=threads, check_model=False):
            for field, result in scored.items():
                writers[field].write(ids, *result)
        if getattr(records, "read", None) == 0:  # raised inside the writers: no output is left
            raise records.no_protein_error()
    return {field: writer.rows for field, writer in writers.items()}


def write_annotations(path: str | Path, results: Iterable[tuple],
                      labels: FieldLabels, fusion: Fusion, min_score: float = 0.01, top_k: int | None = None,
                      cafa: str | Path | None = None, author: str = "protst-hf") -> int:
    """[`AnnotationTable`] of one field's results (`reference.annotate(...)`); returns the rows written."""
    with AnnotationTable(path, labels, fusion, min_score, top_k, cafa, author) as table:
        for result in results:
            table.write(*result)
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


__all__ = ["AnnotationTable", "ClassificationTable", "annotate_to_files", "write_annotations"]
