"""The labels of an annotation reference: one [`FieldLabels`] per field (a GO namespace, or a single-label field such
as subcellular location), built from labelled rows ([`go_fields`], [`class_field`]), and [`reference_inputs`], the
step from a labelled dataset (ProtDescribe, or parquet splits) to what [`build_reference`] takes, shared by `protst
reference build` and the benchmarks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..models.protst.processing_protst import clean_protein
from .evidence import LabelTable

MULTI_LABEL, SINGLE_LABEL = "multi_label", "single_label"
GO_NAMESPACES = ("molecular_function", "biological_process", "cellular_component")


@dataclass
class FieldLabels:
    """One field of a reference: its labels, how to word them, and which reference proteins hold them.

    Attributes:
        name: the field (`molecular_function`, `subcellular_location`, ...).
        kind: `multi_label` (GO terms: independent scores, consistent with `parents`) or `single_label` (one class
            per protein: scores are a distribution).
        ids / names: each label's id (`GO:0005524`, a class name) and name (what the prompt says).
        prompts: the zero-shot prompts of each label (one or more).
        parents: each label's parents as label rows (GO's is_a / part_of within the field); empty lists otherwise.
        table: the labels of each reference protein, in reference row order.
    """

    name: str
    kind: str
    ids: list[str]
    names: list[str]
    prompts: list[list[str]]
    parents: list[list[int]]
    table: LabelTable

    def __post_init__(self):
        if self.kind not in (MULTI_LABEL, SINGLE_LABEL):
            raise ValueError(f"a field's kind is {MULTI_LABEL!r} or {SINGLE_LABEL!r}, got {self.kind!r}")
        if not (len(self.ids) == len(self.names) == len(self.prompts) == len(self.parents) == self.table.num_labels):
            raise ValueError(f"field {self.name!r}: {len(self.ids)} ids, {len(self.names)} names, "
                             f"{len(self.prompts)} prompt groups, {len(self.parents)} parent lists for "
                             f"{self.table.num_labels} labels")

    @property
    def single_label(self) -> bool:
        return self.kind == SINGLE_LABEL

    def label_rows(self, label_sets: Iterable[Iterable[str]]) -> list[list[int]]:
        """Each set of label ids as this field's label rows (e.g. validation proteins' GO terms); ids the field
        does not hold are left out (a term no reference protein has cannot be transferred or fitted on)."""
        position = {label: row for row, label in enumerate(self.ids)}
        return [[position[label] for label in labels if label in position] for labels in label_sets]


def go_fields(rows: Sequence[Mapping], ontology, templates: Mapping[str, str],
              namespaces: Sequence[str] = GO_NAMESPACES,
              ) -> tuple[list[FieldLabels], dict[str, list[set[str]]]]:
    """One multi-label field per GO namespace from ProtDescribe GO rows (`go_terms`: `"F:GO:0005524"`, ...): each
    protein's terms under the true-path rule (propagated over is_a / part_of, roots excluded), every term held by
    some protein a label, worded by the namespace's template (`"MOLECULAR FUNCTION: {}."`).

    Returns:
        the fields, and per namespace each row's term set (what the fields' tables hold, by id).
    """
    fields, sets = [], {}
    for namespace in namespaces:
        per_row = [ontology.annotated_terms(row.get("go_terms") or [], namespace) for row in rows]
        terms = sorted({t for s in per_row for t in s})
        position = {t: i for i, t in enumerate(terms)}
        names = [ontology.name(t) or t for t in terms]
        parents = [[position[p] for p in ontology.parents.get(t, ()) if p in position] for t in terms]
        table = LabelTable.from_sets([[position[t] for t in s] for s in per_row], len(terms))
        template = templates[namespace]
        fields.append(FieldLabels(namespace, MULTI_LABEL, terms, names, [[template.format(n)] for n in names],
                                  parents, table))
        sets[namespace] = per_row
    return fields, sets


def class_field(name: str, classes: Sequence[str], label_sets: Sequence[Iterable[str]],
                prompts: Sequence[Sequence[str]]) -> FieldLabels:
    """A single-label field (e.g. `subcellular_location` over DeepLoc's 10 classes).

    Args:
        classes: the class names, in order.
        label_sets: each reference protein's classes (usually one; several are each given an equal share).
        prompts: each class's zero-shot prompts (e.g. a built-in label set's).
    """
    position = {c: i for i, c in enumerate(classes)}
    unknown = sorted({c for s in label_sets for c in s if c not in position})
    if unknown:
        raise ValueError(f"classes {unknown[:5]} are not among the field's {list(classes)}")
    table = LabelTable.from_sets([[position[c] for c in s] for s in label_sets], len(classes), single_label=True)
    return FieldLabels(name, SINGLE_LABEL, list(classes), list(classes), [list(p) for p in prompts],
                       [[] for _ in classes], table)


def clean_records(records: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """The records whose sequences are proteins ([`clean_protein`]), cleaned, and one line per skipped record."""
    kept, skipped = [], []
    for identifier, sequence in records:
        try:
            kept.append((identifier, clean_protein(sequence, f"record {identifier!r}")))
        except ValueError as err:
            skipped.append(str(err))
    return kept, skipped


@dataclass
class ReferenceInputs:
    """What a reference is built from (the arguments of [`build_reference`]), and what was left out on the way.

    Attributes:
        proteins: `(accession, sequence)` of the reference proteins, cleaned.
        fields: the label fields, their tables in `proteins`' order.
        validation / validation_labels: the fit split's proteins and, per field, their label rows; None when the
            fusion is cross-fitted on the reference proteins.
        clusters: each reference protein's cluster (the dataset's `cluster` column), None when some protein has
            none (the build then clusters them with MMseqs2).
        skipped / skipped_validation: one line per record left out because its sequence is not a protein.
    """

    proteins: list[tuple[str, str]]
    fields: list[FieldLabels]
    validation: list[tuple[str, str]] | None = None
    validation_labels: dict[str, list[list[int]]] | None = None
    clusters: list | None = None
    skipped: list[str] = field(default_factory=list)
    skipped_validation: list[str] = field(default_factory=list)

    @property
    def left_out(self) -> dict[str, list[str]]:
        """The report of what was skipped, as `build_reference` records it."""
        return {"invalid_reference_sequences": self.skipped, "invalid_validation_sequences": self.skipped_validation}


def _kept_rows(rows: Sequence[Mapping]) -> tuple[list[tuple[str, str]], list[Mapping], list[str]]:
    proteins, skipped = clean_records((r["accession"], r["sequence"]) for r in rows)
    kept = {a for a, _ in proteins}
    return proteins, [r for r in rows if r["accession"] in kept], skipped


def reference_inputs(rows: Sequence[Mapping], fit_rows: Sequence[Mapping] | None = None, *,
                     ontology=None, namespaces: Sequence[str] | None = None,
                     templates: Mapping[str, str] | None = None,
                     class_column: str | None = None, field_name: str | None = None,
                     classes: Sequence[str] | None = None, prompts: Sequence[Sequence[str]] | None = None,
                     template: str | None = None) -> ReferenceInputs:
    """The reference proteins, fields and fit split of a build from labelled rows (`accession`, `sequence`, and
    `go_terms` or `class_column`, optionally `cluster`); records whose sequence is not a protein are left out and
    named.

    Args:
        rows: the reference proteins' rows.
        fit_rows: the rows the fusion is fitted on (a validation split), or None to cross-fit on `rows`.
        ontology, namespaces, templates: GO fields: the [`GeneOntology`], the namespaces built (default all three)
            and each one's prompt template (`"MOLECULAR FUNCTION: {}."`).
        class_column, field_name: a single-label field instead: the column of class names (several joined by `|`)
            and the field's name (default the column's).
        classes, prompts: the single-label field's classes and each one's prompts (a built-in label set's); default:
            the column's classes worded by `template`.
    """
    proteins, rows, skipped = _kept_rows(rows)
    validation, fit_rows, skipped_validation = _kept_rows(fit_rows) if fit_rows is not None else (None, None, [])
    if class_column is None:
        if ontology is None:
            raise ValueError("a GO reference needs the ontology (--go-terms and --go-graph), or give a class column "
                             "for a single-label field")
        if rows and "go_terms" not in rows[0]:
            raise ValueError("the dataset has no go_terms column: build it with `protst build-protdescribe ... "
                             "--go-terms --go-graph`, or give a class column")
        namespaces = list(namespaces or GO_NAMESPACES)
        if templates is None or set(namespaces) - set(templates):
            raise ValueError(f"GO fields need a prompt template for each of {namespaces}, e.g. the model's recorded "
                             "templates (`field_template`)")
        fields, _ = go_fields(rows, ontology, templates, namespaces)
        labels_of = {f.name: (lambda row, name=f.name: ontology.annotated_terms(row["go_terms"] or [], name))
                     for f in fields}
    else:
        name = field_name or class_column

        def classes_of(row):
            return [c.strip() for c in str(row[class_column] or "").split("|") if c.strip()]

        if classes is None:
            classes = sorted({c for r in rows for c in classes_of(r)})
            prompts = [[template.format(c)] for c in classes]
        fields = [class_field(name, classes, [classes_of(r) for r in rows], prompts)]
        labels_of = {name: classes_of}
    validation_labels = None if fit_rows is None else {
        f.name: f.label_rows(labels_of[f.name](r) for r in fit_rows) for f in fields}
    clusters = None
    if all(r.get("cluster") is not None and r["cluster"] >= 0 for r in rows):
        clusters = [r["cluster"] for r in rows]
    return ReferenceInputs(proteins, fields, validation, validation_labels, clusters, skipped, skipped_validation)


def load_reference_rows(dataset: str, splits: str, required: Sequence[str], optional: Sequence[str] = (),
                        limit: int | None = None) -> list[dict]:
    """The rows of `splits` (`train`, or several joined by `+`) of a ProtDescribe folder or parquet splits, with
    the `required` columns (an error naming the ones missing) and those of `optional` the dataset has; the first
    `limit` rows of each split (a smoke run)."""
    from ..data.pretraining_data import load_pairs

    rows = []
    for split in splits.split("+"):
        data = load_pairs(dataset, split=split)
        missing = sorted(set(required) - set(data.column_names))
        if missing:
            raise ValueError(f"split {split!r} of {dataset} has no column(s) {missing}; it has {data.column_names}")
        wanted = list(required) + [c for c in optional if c in data.column_names]
        rows += data.select_columns(wanted).to_list()[:limit]
    return rows


__all__ = ["GO_NAMESPACES", "MULTI_LABEL", "SINGLE_LABEL", "FieldLabels", "ReferenceInputs", "class_field",
           "clean_records", "go_fields", "load_reference_rows", "reference_inputs"]
