"""GO-labelled proteins from the files biologists download: UniProtKB (flat file or XML, plain or gzipped), or a
FASTA file with a GAF file (GOA's `goa_uniprot_all.gaf.gz`, a species' GAF, GAF 2.1 or 2.2).

Each annotation becomes a label only when its evidence code is kept (experimental by default, see `go_evidence`),
it is not a NOT annotation, its protein has a sequence and its term is in the ontology (alternative ids and
obsolete terms mapped: `GeneOntology.primary`). Everything dropped is counted by reason, with examples, in a
[`GOLabelReport`], which the reference's build report and card carry.

The rows returned are what `annotation.reference_inputs` and a ProtDescribe build take: `accession`, `sequence`
and `go_terms` (`F:GO:0005524`, the aspect of the term's namespace), in the order of the input, a protein with no
kept annotation left out (and counted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..models.protst.fasta_protst import ProteinRecords, open_text
from ..models.protst.texts_protst import go_annotation, go_namespace
from .go_evidence import AnnotationCounts, AnnotationFilter, describe_evidence

GAF_COLUMNS = 17  # GAF 2.1 and 2.2; the last two (annotation extension, gene product form) may be left out
ASPECTS = {"F": "molecular_function", "P": "biological_process", "C": "cellular_component"}


@dataclass
class GOLabelReport:
    """What was read, kept and left out on the way from annotation files to labelled proteins."""

    sources: list[str] = field(default_factory=list)
    ontology_version: str | None = None
    evidence: str = ""
    proteins_read: int = 0
    proteins_kept: int = 0
    proteins_without_labels: int = 0
    annotations: AnnotationCounts = field(default_factory=AnnotationCounts)
    skipped_records: list[str] = field(default_factory=list)  # records the readers could not use
    malformed_lines: int = 0
    malformed_examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"sources": self.sources, "ontology_version": self.ontology_version, "evidence": self.evidence,
                "proteins_read": self.proteins_read, "proteins_kept": self.proteins_kept,
                "proteins_without_labels": self.proteins_without_labels, "annotations": self.annotations.to_dict(),
                "skipped_records": len(self.skipped_records), "skipped_examples": self.skipped_records[:5],
                "malformed_lines": self.malformed_lines, "malformed_examples": self.malformed_examples}

    def summary(self) -> str:
        lines = [f"GO labels from {', '.join(self.sources)} (ontology {self.ontology_version or 'unversioned'}; "
                 f"evidence: {self.evidence})",
                 f"proteins read {self.proteins_read:,}, kept {self.proteins_kept:,}, without a kept annotation "
                 f"{self.proteins_without_labels:,}, unusable records {len(self.skipped_records):,}",
                 self.annotations.summary()]
        if self.malformed_lines:
            lines.append(f"  malformed GAF lines skipped: {self.malformed_lines:,} (first: "
                         + "; ".join(self.malformed_examples) + ")")
        return "\n".join(lines)


def _row(accession: str, sequence: str, terms: dict[tuple[str, str], None], ontology) -> dict:
    return {"accession": accession, "sequence": sequence,
            "go_terms": [go_annotation(go_namespace(ontology.namespaces.get(t) or ASPECTS[a]), t)
                         for t, a in terms]}


def go_rows_from_uniprot(paths, ontology, evidence: frozenset[str] | None) -> tuple[list[dict], GOLabelReport]:
    """Labelled rows from UniProtKB files (flat file or XML, plain or gzipped): each entry's `DR   GO;` lines (or
    XML GO cross-references) with their evidence codes, filtered as the module docstring says."""
    from .uniprot import ParseReport, iter_uniprot

    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    report = GOLabelReport(sources=[str(p) for p in paths], ontology_version=ontology.version,
                           evidence=describe_evidence(evidence))
    keep = AnnotationFilter(ontology, evidence)
    report.annotations = keep.counts
    parse, rows, seen = ParseReport(), [], set()
    for path in paths:
        for record in iter_uniprot(path, parse):
            report.proteins_read += 1
            if record.accession in seen:
                report.skipped_records.append(f"{record.accession}: accession seen before")
                continue
            seen.add(record.accession)
            terms: dict[tuple[str, str], None] = {}  # (primary id, aspect letter), in the order met
            for annotated, code in zip(record.go_terms, record.go_evidence):
                aspect, term = annotated.split(":", 1)
                primary = keep.term(record.accession, term, code or None)
                if primary is not None:
                    terms[(primary, aspect)] = None
            if terms:
                rows.append(_row(record.accession, record.sequence, terms, ontology))
            else:
                report.proteins_without_labels += 1
    report.proteins_kept = len(rows)
    report.skipped_records += [f"{reason}: {n}" for reason, n in parse.skipped.items()]
    report.skipped_records += [f"{path}: {why}" for path, why in {**parse.skipped_files,
                                                                   **parse.damaged_files}.items()]
    return rows, report


@dataclass
class GAFAnnotation:
    """The columns of a GAF line that labels need."""

    object_id: str  # column 2 (UniProtKB accession for GOA files)
    qualifier: str  # column 4 (`enables`, `NOT|enables`, ...)
    term: str  # column 5
    evidence: str  # column 7
    aspect: str  # column 9: F, P or C

    @property
    def negated(self) -> bool:
        return "NOT" in self.qualifier.split("|")


def read_gaf(path: str | Path, report: GOLabelReport | None = None) -> Iterator[GAFAnnotation]:
    """The annotations of a GAF 2.1 / 2.2 file (plain or gzipped; `!` lines are comments, `!gaf-version` among
    them). A line whose column count is not 15 to 17, or whose aspect is not F/P/C, is counted in `report`
    (the first five named) and the rest are read."""
    report = report if report is not None else GOLabelReport()
    with open_text(path) as lines:
        for number, line in enumerate(lines, start=1):
            if line.startswith("!") or not line.strip():
                continue
            columns = line.rstrip("\n").split("\t")
            if not 15 <= len(columns) <= GAF_COLUMNS or columns[8] not in ASPECTS:
                report.malformed_lines += 1
                if len(report.malformed_examples) < 5:
                    report.malformed_examples.append(f"{path} line {number}: {len(columns)} columns")
                continue
            yield GAFAnnotation(columns[1].strip(), columns[3].strip(), columns[4].strip(), columns[6].strip(),
                                columns[8])


def fasta_accession(identifier: str) -> str:
    """The protein id a GAF names for a FASTA header's first word: the accession of UniProt's `sp|P12345|NAME`
    and `tr|...` headers, the word itself otherwise."""
    parts = identifier.split("|")
    return parts[1] if len(parts) >= 3 and parts[0] in ("sp", "tr") else identifier


def go_rows_from_gaf(fasta: str | Path, gaf: str | Path, ontology,
                     evidence: frozenset[str] | None) -> tuple[list[dict], GOLabelReport]:
    """Labelled rows from a FASTA file (plain, gzipped or `-`) and a GAF file, matched by the GAF's DB Object ID
    (column 2) and the FASTA header's accession ([`fasta_accession`]); in the FASTA's order.

    Raises:
        ValueError: no GAF id matches a sequence (saying how many ids were compared, and how).
    """
    report = GOLabelReport(sources=[str(fasta), str(gaf)], ontology_version=ontology.version,
                           evidence=describe_evidence(evidence))
    records = ProteinRecords(fasta)
    sequences: dict[str, str] = {}
    for identifier, sequence in records:
        accession = fasta_accession(identifier)
        if accession in sequences:
            report.skipped_records.append(f"{accession}: accession seen before")
        else:
            sequences[accession] = sequence
    if not sequences:
        raise records.no_protein_error()
    report.proteins_read = records.read
    report.skipped_records += records.problems
    keep = AnnotationFilter(ontology, evidence)
    report.annotations = keep.counts
    terms: dict[str, dict[tuple[str, str], None]] = {}
    ids: Counter = Counter()
    for annotation in read_gaf(gaf, report):
        ids[annotation.object_id] += 1
        if annotation.object_id not in sequences:
            keep.term(annotation.object_id, annotation.term, annotation.evidence, annotation.negated,
                      has_sequence=False)
            continue
        primary = keep.term(annotation.object_id, annotation.term, annotation.evidence, annotation.negated)
        if primary is not None:
            terms.setdefault(annotation.object_id, {})[(primary, annotation.aspect)] = None
    matched = sum(1 for i in ids if i in sequences)
    if ids and not matched:
        example = next(iter(ids))
        raise ValueError(f"none of the {len(ids):,} protein ids of {gaf} (column 2, e.g. {example!r}) names one of "
                         f"the {len(sequences):,} sequences of {fasta} (the accession of `sp|ACC|NAME` headers, else "
                         "the header's first word, e.g. "
                         f"{next(iter(sequences))!r}): is it the GAF of these proteins?")
    if not ids:
        raise ValueError(f"{gaf} holds no GO annotation line" + (f" ({report.malformed_lines} malformed)"
                                                                  if report.malformed_lines else ""))
    rows = [_row(a, s, terms[a], ontology) for a, s in sequences.items() if a in terms]
    report.proteins_kept = len(rows)
    report.proteins_without_labels = len(sequences) - len(rows)
    return rows, report


__all__ = ["GAFAnnotation", "GOLabelReport", "fasta_accession", "go_rows_from_gaf", "go_rows_from_uniprot",
           "read_gaf"]
