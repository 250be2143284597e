"""The Gene Ontology: term names, the is_a / part_of graph, annotation propagation (the CAFA convention), and
GO-annotated proteins read into ProtDescribe rows.

Input tables (tab-separated, plain or gzipped, with a header line), as in `swissprot_go_2014`:

- terms: `go_id`, `name`, `namespace` (`molecular_function`, `biological_process`, `cellular_component`; empty for
  a term not reachable from a root, e.g. an obsolete one);
- graph: `child`, `parent`, `relation` (only `is_a` and `part_of` are followed, as CAFA propagates);
- annotations: `accession`, `sequence`, `go_mf`, `go_bp`, `go_cc` (GO ids joined by `;`).

A row's GO texts are the names of its annotated terms per namespace, joined by `"; "`, in the columns `go_function`,
`go_process` and `go_component` (the ids, with their aspect, `F:GO:0005524`, in `go_terms`, as a UniProt build
writes them). The texts are the terms as annotated (not propagated: a protein is described by its most specific
terms); evaluation propagates the truth with [`GeneOntology.propagate`].

Example:

```python
>>> ontology = GeneOntology.from_files("go_terms.tsv.gz", "go_graph.tsv.gz")
>>> ontology.propagate(["GO:0005524"])  # ATP binding -> its ancestors, roots excluded
>>> report = build_go_protdescribe("swissprot_go_2014.tsv.gz", ontology, "protdescribe_go", identity=0.3)
```
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..models.protst.processing_protst import clean_protein
from ..models.protst.texts_protst import GO_NAMESPACES, go_annotation, go_namespace, parse_go_annotation
from .go_evidence import DROP_OBSOLETE, DROP_UNKNOWN, MAPPED_ALT_ID, MAPPED_REPLACED
from .texts import GO_NAME_SEPARATOR

ROOTS = frozenset(namespace.root for namespace in GO_NAMESPACES)
PROPAGATED_RELATIONS = ("is_a", "part_of")


def _open_table(path: str | Path) -> Iterator[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    raw = gzip.open(path, "rt", newline="") if path.suffix == ".gz" else open(path, newline="")
    with raw as handle:
        yield from csv.DictReader(handle, delimiter="\t")


@dataclass
class GeneOntology:
    """GO terms (name, namespace) and their is_a / part_of parents; from OBO ([`read_obo`]) also each alternative
    id's primary id, the obsolete terms with their `replaced_by`, and the release (`data-version`)."""

    names: dict[str, str]
    namespaces: dict[str, str]
    parents: dict[str, tuple[str, ...]]
    alt_ids: dict[str, str] = field(default_factory=dict)
    obsolete: dict[str, str | None] = field(default_factory=dict)  # obsolete id -> its replaced_by, or None
    version: str | None = None
    _ancestors: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_files(cls, terms: str | Path, graph: str | Path,
                   relations: Iterable[str] = PROPAGATED_RELATIONS) -> GeneOntology:
        """Read the terms and graph tables; a term with an empty name or namespace is kept (its namespace is then
        taken from the annotation column it appears in)."""
        names, namespaces = {}, {}
        for row in _open_table(terms):
            if not row.get("go_id"):
                continue
            names[row["go_id"]] = (row.get("name") or "").strip()
            namespaces[row["go_id"]] = (row.get("namespace") or "").strip()
        followed = set(relations)
        parents: dict[str, set[str]] = {}
        for row in _open_table(graph):
            if row.get("relation") in followed and row.get("child") and row.get("parent"):
                parents.setdefault(row["child"], set()).add(row["parent"])
        return cls(names, namespaces, {child: tuple(sorted(p)) for child, p in parents.items()})

    def primary(self, term: str) -> tuple[str | None, str | None]:
        """`(primary id, how it was mapped)` of an annotated id: the id itself (`None` for how), an alternative
        id's primary id, an obsolete term's `replaced_by`; `(None, reason)` for an obsolete term without a
        replacement or an id the ontology does not know."""
        if term in self.obsolete:
            replacement = self.obsolete[term]
            return (replacement, MAPPED_REPLACED) if replacement else (None, DROP_OBSOLETE)
        if term in self.alt_ids:
            return self.alt_ids[term], MAPPED_ALT_ID
        if term in self.names or self.in_graph(term):
            return term, None
        return None, DROP_UNKNOWN

    def in_graph(self, term: str) -> bool:
        """Whether the graph knows the term (as a child, or as a root)."""
        return term in self.parents or term in ROOTS

    def ancestors(self, term: str) -> frozenset[str]:
        """The term and every term above it by is_a / part_of (a term unknown to the graph: itself)."""
        cached = self._ancestors.get(term)
        if cached is not None:
            return cached
        seen, stack = {term}, [term]
        while stack:
            for parent in self.parents.get(stack.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        result = frozenset(seen)
        self._ancestors[term] = result
        return result

    def propagate(self, terms: Iterable[str], keep_roots: bool = False) -> set[str]:
        """The terms and all their ancestors (the true-path rule), without the three namespace roots (which every
        annotated protein has: CAFA does not score them) unless `keep_roots`."""
        out = set()
        for term in terms:
            out |= self.ancestors(term)
        return out if keep_roots else out - ROOTS

    def name(self, term: str) -> str:
        return self.names.get(term, "")

    def annotated_terms(self, go_terms: Iterable[str], namespace: str) -> set[str]:
        """The terms a protein has in `namespace` under the true-path rule (roots excluded), from its annotated ids
        (`go_terms` of a ProtDescribe row, `"F:GO:0005524"`): the annotated ids of that namespace propagated over
        is_a / part_of, ancestors of another namespace left out. What CAFA scores a prediction against.

        Args:
            go_terms: annotated ids with their aspect letter.
            namespace: a namespace by name, aspect letter or short name (`molecular_function`, `F`, `MF`).
        """
        wanted = go_namespace(namespace)
        annotated = [term for space, term in map(parse_go_annotation, go_terms) if space == wanted]
        return {t for t in self.propagate(annotated) if self.namespaces.get(t, wanted.name) == wanted.name}


@dataclass
class GOReadReport:
    """What the annotation reader read, kept and skipped (counts, with a few examples of each)."""

    files: list[str] = field(default_factory=list)
    records_read: int = 0
    records_parsed: int = 0
    skipped: Counter = field(default_factory=Counter)
    recovered: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, counter: Counter, reason: str, example: str, count: int = 1) -> None:
        counter[reason] += count
        shown = self.examples.setdefault(reason, [])
        if len(shown) < 5 and example not in shown:
            shown.append(example)

    def to_dict(self) -> dict:
        """The layout of a UniProt build's parse report (the dataset card reads both)."""
        return {"files": list(self.files), "skipped_files": {}, "damaged_files": {},
                "records_read": self.records_read, "records_parsed": self.records_parsed,
                "skipped": dict(self.skipped), "recovered": dict(self.recovered), "examples": dict(self.examples)}

    def summary(self) -> str:
        lines = [f"read {self.records_read:,} proteins, kept {self.records_parsed:,}"]
        lines += [f"  skipped, {reason}: {count:,}" for reason, count in self.skipped.items()]
        lines += [f"  kept, {reason}: {count:,}" for reason, count in self.recovered.items()]
        return "\n".join(lines)


# reasons, as reported
SKIP_MALFORMED = "malformed line (no accession or sequence column)"
SKIP_INVALID_SEQUENCE = "invalid or empty sequence"
SKIP_NO_ANNOTATION = "no GO annotation in any namespace"
SKIP_DUPLICATE_ACCESSION = "accession seen before"
KEPT_UNNAMED = "GO id without a name (kept in go_terms, absent from the texts)"
KEPT_NOT_IN_GRAPH = "GO id missing from the graph (kept, propagates to itself only)"
KEPT_OTHER_NAMESPACE = "GO id listed under another namespace than its own (kept under its own)"
KEPT_MALFORMED_ID = "malformed GO id (not GO:nnnnnnn; dropped from the row)"


def _table_labels(annotations: str | Path, ontology: GeneOntology,
                  report: GOReadReport) -> Iterator[tuple[str, str, dict[str, list[str]]]]:
    """`(accession, sequence, {namespace: annotated ids})` of a GO annotation table; every skipped protein and every
    odd GO id is counted in `report`, with examples."""
    seen: set[str] = set()
    columns = {namespace.annotation_column: namespace.name for namespace in GO_NAMESPACES}
    for line_number, record in enumerate(_open_table(annotations), start=2):
        report.records_read += 1
        accession = (record.get("accession") or "").strip()
        if not accession or record.get("sequence") is None:
            report.note(report.skipped, SKIP_MALFORMED, f"line {line_number}")
            continue
        try:
            sequence = clean_protein(record["sequence"], accession)
        except ValueError as err:
            report.note(report.skipped, SKIP_INVALID_SEQUENCE, str(err)[:120])
            continue
        if accession in seen:
            report.note(report.skipped, SKIP_DUPLICATE_ACCESSION, accession)
            continue
        by_namespace: dict[str, list[str]] = {namespace.name: [] for namespace in GO_NAMESPACES}
        for column, listed_under in columns.items():
            for term in (t.strip() for t in (record.get(column) or "").split(";")):
                if not term:
                    continue
                if not (term.startswith("GO:") and term[3:].isdigit() and len(term) == 10):
                    report.note(report.recovered, KEPT_MALFORMED_ID, f"{accession}: {term!r}")
                    continue
                namespace = ontology.namespaces.get(term) or listed_under
                if namespace != listed_under and namespace in by_namespace:
                    report.note(report.recovered, KEPT_OTHER_NAMESPACE, f"{accession}: {term}")
                else:
                    namespace = listed_under
                if term not in by_namespace[namespace]:
                    by_namespace[namespace].append(term)
                if not ontology.name(term):
                    report.note(report.recovered, KEPT_UNNAMED, term)
                if not ontology.in_graph(term):
                    report.note(report.recovered, KEPT_NOT_IN_GRAPH, term)
        if not any(by_namespace.values()):
            report.note(report.skipped, SKIP_NO_ANNOTATION, accession)
            continue
        seen.add(accession)
        yield accession, sequence, by_namespace


def _row_labels(rows: Iterable[dict], report: GOReadReport) -> Iterator[tuple[str, str, dict[str, list[str]]]]:
    """`(accession, sequence, {namespace: annotated ids})` of labelled rows (`go_labels`: `go_terms` of
    `F:GO:0005524`), already filtered and counted there."""
    for row in rows:
        report.records_read += 1
        by_namespace: dict[str, list[str]] = {namespace.name: [] for namespace in GO_NAMESPACES}
        for value in row["go_terms"]:
            namespace, term = parse_go_annotation(value)
            by_namespace[namespace.name].append(term)
        yield row["accession"], row["sequence"], by_namespace


def go_rows(annotations, ontology: GeneOntology, report: GOReadReport,
            propagate_texts: bool = False) -> Iterator[dict]:
    """ProtDescribe rows (`PROTDESCRIBE_FEATURES`) of a GO annotation table, or of labelled rows from downloaded
    files (`data.go_labels`: UniProt, FASTA + GAF); what the table reader skips is counted in `report`. `go_terms`
    holds the annotated ids; the texts name the annotated terms, or with `propagate_texts` every term the protein has
    under the true-path rule (its annotated terms and their ancestors, roots excluded, most specific first: the
    annotated ones, then the others by name)."""
    from .protdescribe import PROTDESCRIBE_FEATURES

    empty = {name: ([] if hasattr(feature, "feature") else "") for name, feature in PROTDESCRIBE_FEATURES.items()}
    if isinstance(annotations, (str, Path)):
        report.files.append(str(annotations))
        labelled = _table_labels(annotations, ontology, report)
    else:
        labelled = _row_labels(annotations, report)
    for accession, sequence, by_namespace in labelled:
        report.records_parsed += 1
        row = dict(empty, accession=accession, sequence=sequence, length=len(sequence), taxon_id=-1, cluster=-1)
        row["go_terms"] = [go_annotation(go_namespace(n), t) for n, terms in by_namespace.items() for t in terms]
        for namespace, terms in by_namespace.items():
            if propagate_texts:
                above = ontology.propagate(terms) - set(terms)
                terms = terms + sorted((t for t in above if ontology.namespaces.get(t, namespace) == namespace),
                                       key=ontology.name)
            row[go_namespace(namespace).text_column] = GO_NAME_SEPARATOR.join(
                dict.fromkeys(ontology.name(t) for t in terms if ontology.name(t)))
        yield row


def build_go_protdescribe(annotations, ontology: GeneOntology, output_dir: str | Path,
                          split: str = "mmseqs", identity: float = 0.3, coverage: float = 0.8,
                          ratios: tuple[float, float, float] = (0.9, 0.02, 0.08), propagate_texts: bool = False,
                          label_report: dict | None = None, **kwargs) -> dict:
    """ProtDescribe from a GO annotation table, or from labelled rows of downloaded files (`data.go_labels`, with
    `label_report`, what they kept and dropped, recorded as `labels` in the build report): the same
    features, splits, card and report as a UniProt build ([`build_protdescribe`]), texts in the GO text columns (see
    [`go_rows`] for `propagate_texts`). Default split: MMseqs2 clusters at 30% identity (whole clusters to one
    split). The report's `parse` counts what was skipped and kept-with-a-note, per reason; `go` records the texts'
    layout."""
    from .protdescribe import build_from_rows

    def read(report: dict):
        go_report = GOReadReport()
        report["inputs"] = [str(annotations)] if isinstance(annotations, (str, Path)) else ["labelled rows"]
        report["parse"] = go_report
        report["kind"] = "GO-annotated"
        report["details"] = {"go": {
            "text_columns": {namespace.text_column: namespace.name for namespace in GO_NAMESPACES},
            "texts": "annotated and ancestor terms (roots excluded)" if propagate_texts else "annotated terms"}}
        if label_report:
            report["details"]["labels"] = label_report
        for row in go_rows(annotations, ontology, go_report, propagate_texts):
            yield row, None

    return build_from_rows(read, output_dir, split=split, identity=identity, coverage=coverage, ratios=ratios,
                           with_original=False, **kwargs)


def term_frequencies(go_terms: Iterable[Iterable[str]], ontology: GeneOntology) -> tuple[Counter, int]:
    """(propagated term -> proteins annotated with it, proteins) over rows' `go_terms` (`F:GO:...`): CAFA's
    naive predictor scores a term by its frequency among the training proteins."""
    counts, proteins = Counter(), 0
    for terms in go_terms:
        proteins += 1
        counts.update(ontology.propagate(parse_go_annotation(t)[1] for t in terms))
    return counts, proteins


__all__ = ["ROOTS", "GOReadReport", "GeneOntology", "build_go_protdescribe", "go_rows",
           "term_frequencies"]
