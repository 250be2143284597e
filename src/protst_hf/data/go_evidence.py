"""GO evidence codes: which annotations count as labels.

A GO annotation carries the kind of evidence behind it (GAF column 7, UniProt's `DR   GO;` lines, or an ECO id in
UniProt XML). Electronic annotations (IEA) are other tools' predictions: transferring them teaches a model to repeat
those tools. CAFA, DeepGOPlus and goPredSim keep experimental evidence only, and so does the default here
(`experimental`: CAFA's experimental codes with the high-throughput ones); `non-electronic` drops IEA and ND
(eggNOG-mapper's preset); `all` keeps every code; or name the codes (`IDA,IMP`).

Evidence codes and their ECO ids: http://geneontology.org/docs/guide-go-evidence-codes/ and GO's
`gaf-eco-mapping.txt`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

EXPERIMENTAL = ("EXP", "IDA", "IPI", "IMP", "IGI", "IEP", "TAS", "IC", "HTP", "HDA", "HMP", "HGI", "HEP")
# every GO evidence code, by the ECO id UniProt XML writes for it (IEA under several automatic-assertion ids)
ECO_CODES = {
    "ECO:0000269": "EXP", "ECO:0000314": "IDA", "ECO:0000353": "IPI", "ECO:0000315": "IMP", "ECO:0000316": "IGI",
    "ECO:0000270": "IEP", "ECO:0000304": "TAS", "ECO:0000305": "IC", "ECO:0006056": "HTP", "ECO:0007005": "HDA",
    "ECO:0007001": "HMP", "ECO:0007003": "HGI", "ECO:0007007": "HEP", "ECO:0000318": "IBA", "ECO:0000319": "IBD",
    "ECO:0000320": "IKR", "ECO:0000321": "IRD", "ECO:0000250": "ISS", "ECO:0000266": "ISO", "ECO:0000247": "ISA",
    "ECO:0000255": "ISM", "ECO:0000317": "IGC", "ECO:0000245": "RCA", "ECO:0000303": "NAS", "ECO:0000307": "ND",
    "ECO:0000501": "IEA", "ECO:0007669": "IEA", "ECO:0000256": "IEA", "ECO:0000265": "IEA", "ECO:0000322": "IEA",
    "ECO:0000323": "IEA",
}
CODES = tuple(dict.fromkeys([*EXPERIMENTAL, *ECO_CODES.values()]))
PRESETS = {"experimental": frozenset(EXPERIMENTAL), "non-electronic": frozenset(CODES) - {"IEA", "ND"},
           "all": None}  # None: every code, unknown ones included

# reasons an annotation is not a label, as reported
DROP_EVIDENCE = "evidence code not kept"
DROP_NOT = "NOT qualifier (negative evidence)"
DROP_OBSOLETE = "obsolete term without replaced_by"
DROP_UNKNOWN = "term not in the ontology"
DROP_NO_SEQUENCE = "no sequence for the protein"
MAPPED_ALT_ID = "alternative id mapped to its primary id"
MAPPED_REPLACED = "obsolete term mapped through replaced_by"


def evidence_code(value: str) -> str:
    """The GO evidence code of `IDA`, `IDA:UniProtKB` (a `DR   GO;` line) or an ECO id (`ECO:0000314`); an ECO id
    of no GO code is returned as it is."""
    value = value.strip().rstrip(".")
    if value.startswith("ECO:"):
        return ECO_CODES.get(value, value)
    return value.split(":", 1)[0].strip()


def parse_evidence(spec: str | None) -> frozenset[str] | None:
    """The codes `--evidence` keeps: a preset (`experimental`, the default; `non-electronic`; `all`: None, every
    code) or codes joined by commas. An unknown code is refused with the valid ones."""
    spec = (spec or "experimental").strip()
    if spec in PRESETS:
        return PRESETS[spec]
    codes = [c.strip().upper() for c in spec.split(",") if c.strip()]
    unknown = [c for c in codes if c not in CODES]
    if unknown or not codes:
        raise ValueError(f"unknown evidence code(s) {', '.join(unknown) or repr(spec)}: give a preset "
                         f"({', '.join(PRESETS)}) or codes among {', '.join(CODES)}")
    return frozenset(codes)


def describe_evidence(codes: frozenset[str] | None) -> str:
    """How a card or report names a set of kept codes."""
    if codes is None:
        return "all evidence codes"
    for name, preset in PRESETS.items():
        if preset == codes:
            return f"{name} ({', '.join(c for c in CODES if c in codes)})"
    return ", ".join(c for c in CODES if c in codes)


@dataclass
class AnnotationCounts:
    """What became of the annotations read: kept, dropped per reason, mapped per reason (with up to five examples
    each), and the evidence codes kept."""

    kept: int = 0
    kept_codes: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    mapped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, counter: Counter, reason: str, example: str) -> None:
        counter[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < 5 and example not in shown:
            shown.append(example)

    def to_dict(self) -> dict:
        return {"kept": self.kept, "kept_by_evidence": dict(self.kept_codes.most_common()),
                "dropped": dict(self.dropped), "mapped": dict(self.mapped), "examples": dict(self.examples)}

    def summary(self) -> str:
        lines = [f"annotations kept: {self.kept:,} ("
                 + ", ".join(f"{c} {n:,}" for c, n in self.kept_codes.most_common()) + ")"]
        lines += [f"  dropped, {reason}: {n:,}" for reason, n in self.dropped.items()]
        lines += [f"  mapped, {reason}: {n:,}" for reason, n in self.mapped.items()]
        return "\n".join(lines)


class AnnotationFilter:
    """Decides, annotation by annotation, which become labels: the evidence code is kept, the qualifier is not NOT,
    and the term is in the ontology (an alternative id mapped to its primary id, an obsolete term through its
    `replaced_by`). Every decision is counted in `counts`.

    Args:
        ontology: a [`GeneOntology`] (from OBO, with alternative ids and obsolete terms; or from the TSV tables).
        evidence: the codes kept ([`parse_evidence`]); None keeps every code.
    """

    def __init__(self, ontology, evidence: frozenset[str] | None):
        self.ontology, self.evidence, self.counts = ontology, evidence, AnnotationCounts()

    def term(self, protein: str, term: str, evidence: str | None = None, negated: bool = False,
             has_sequence: bool = True) -> str | None:
        """The primary id `term` stands for when the annotation is kept, else None (counted, by the first reason
        met: NOT, evidence code, no sequence for the protein, the term)."""
        example = f"{protein} {term}" + (f" {evidence}" if evidence else "")
        if negated:
            self.counts.note(self.counts.dropped, DROP_NOT, example)
            return None
        if self.evidence is not None and evidence not in self.evidence:
            self.counts.note(self.counts.dropped, DROP_EVIDENCE, example)
            return None
        if not has_sequence:
            self.counts.note(self.counts.dropped, DROP_NO_SEQUENCE, protein)
            return None
        primary, reason = self.ontology.primary(term)
        if primary is None:
            self.counts.note(self.counts.dropped, reason, example)
            return None
        if reason:
            self.counts.note(self.counts.mapped, reason, f"{term} -> {primary}")
        self.counts.kept += 1
        self.counts.kept_codes[evidence or "unstated"] += 1
        return primary


__all__ = ["CODES", "ECO_CODES", "EXPERIMENTAL", "PRESETS", "AnnotationCounts", "AnnotationFilter",
           "describe_evidence", "evidence_code", "parse_evidence"]
