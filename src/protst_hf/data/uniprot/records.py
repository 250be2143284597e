"""UniProtKB records as the parsers produce them, the parse report, and the sequence check both parsers share."""

from collections import Counter
from dataclasses import dataclass, field

from ...models.protst.processing_protst import PROTEIN_LETTERS

_RESIDUES = frozenset(PROTEIN_LETTERS)


@dataclass
class NameGroup:
    """One protein name: a full name with its short names and EC numbers (a RecName, AltName or SubName)."""

    full: str = ""
    shorts: list[str] = field(default_factory=list)
    ecs: list[str] = field(default_factory=list)
    special: str = ""  # "CD antigen CD47", "allergen Ara h 1", an INN or biotech name


@dataclass
class ProteinNames:
    """The names of a protein as UniProt structures them (DE lines / `<protein>`)."""

    names: list[NameGroup] = field(default_factory=list)  # the first is the recommended (or submitted) name
    includes: list["ProteinNames"] = field(default_factory=list)  # domains ("Includes:")
    contains: list["ProteinNames"] = field(default_factory=list)  # cleavage products ("Contains:")
    free_text: str = ""  # the pre-2008 flat-file DE format, one free-text line

    def render(self) -> str:
        """UniProt's "Protein names" string: `Full (Short) (EC x) (Alt full) (Alt short) [Includes: ...]
        [Cleaved into: ...]`."""
        if self.free_text:
            return self.free_text
        parts = []
        for i, group in enumerate(self.names):
            main = group.special or group.full
            if main:
                parts.append(main if i == 0 else f"({main})")
            parts.extend(f"({s})" for s in group.shorts)
            parts.extend(f"(EC {e})" for e in group.ecs)
        for label, children in (("Includes", self.includes), ("Cleaved into", self.contains)):
            if children:
                parts.append(f"[{label}: " + "; ".join(child.render() for child in children) + "]")
        return " ".join(parts)

    def ec_numbers(self) -> list[str]:
        ecs = [e for group in self.names for e in group.ecs]
        for child in (*self.includes, *self.contains):
            ecs.extend(child.ec_numbers())
        return list(dict.fromkeys(ecs))


@dataclass
class UniProtRecord:
    """One UniProtKB entry, with the fields ProtST and its evaluations read.

    Comment texts keep UniProt's topic prefix (`FUNCTION: ...`) and their evidence (`{ECO:...}`), as the UniProt
    flat file and TSV export show them; [`clean_text`] removes evidence and citations.
    """

    accessions: list[str]
    entry_name: str
    reviewed: bool | None
    organism: str
    taxon_id: int | None
    sequence: str
    names: ProteinNames
    function: list[str] = field(default_factory=list)
    subcellular_location: list[str] = field(default_factory=list)
    location_terms: list[str] = field(default_factory=list)
    similarity: list[str] = field(default_factory=list)
    go_terms: list[str] = field(default_factory=list)  # "C:GO:0005737" (aspect C, F or P, then the id)
    go_evidence: list[str] = field(default_factory=list)  # each GO term's evidence code ("IDA"; "" when unstated)
    keywords: list[str] = field(default_factory=list)
    modified: str | None = None  # date of the entry version
    ec_cross_references: list[str] = field(default_factory=list)  # pre-2011 XML lists EC numbers as dbReferences

    @property
    def accession(self) -> str:
        return self.accessions[0]

    @property
    def protein_names(self) -> str:
        return self.names.render()

    @property
    def ec_numbers(self) -> list[str]:
        return list(dict.fromkeys(self.names.ec_numbers() + self.ec_cross_references))


class UniProtInputError(ValueError):
    """An input that is not a readable UniProtKB file (missing, a directory, empty, not UniProt, or damaged)."""


class MalformedEntry(ValueError):
    """An entry that cannot be turned into a record; `reason` is the counted category."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class ParseReport:
    """What the parsers read and skipped, by reason, with the first few identifiers of each reason.

    `skipped_files` holds inputs that are not UniProtKB at all (empty, binary, another format); `damaged_files`
    holds inputs whose data end early or cannot be decompressed (a cut download): the records read before the
    damage were counted and yielded, and the reason says where the damage starts.
    """

    records_read: int = 0
    records_parsed: int = 0
    skipped: Counter = field(default_factory=Counter)
    recovered: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    skipped_files: dict = field(default_factory=dict)
    damaged_files: dict = field(default_factory=dict)

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self._example(reason, where)

    def recover(self, reason: str, where: str) -> None:
        self.recovered[reason] += 1
        self._example(reason, where)

    def _example(self, reason: str, where: str) -> None:
        examples = self.examples.setdefault(reason, [])
        if len(examples) < 5:
            examples.append(where)

    def to_dict(self) -> dict:
        return {
            "files": list(self.files),
            "skipped_files": dict(self.skipped_files),
            "damaged_files": dict(self.damaged_files),
            "records_read": self.records_read,
            "records_parsed": self.records_parsed,
            "skipped": dict(self.skipped.most_common()),
            "recovered": dict(self.recovered.most_common()),
            "examples": {k: list(v) for k, v in self.examples.items()},
        }

    def summary(self) -> str:
        lines = [f"read {self.records_read} entries from {len(self.files)} file(s), parsed {self.records_parsed}"]
        lines += [f"  skipped {n}: {reason}" for reason, n in self.skipped.most_common()]
        lines += [f"  kept after recovery {n}: {reason}" for reason, n in self.recovered.most_common()]
        lines += [f"  skipped file {path}: {reason}" for path, reason in self.skipped_files.items()]
        lines += [f"  damaged file {path}: {reason}" for path, reason in self.damaged_files.items()]
        return "\n".join(lines)


def validated_sequence(sequence: str, declared_length: int | None) -> str:
    if not sequence:
        raise MalformedEntry("no sequence")
    bad = set(sequence) - _RESIDUES
    if bad:
        raise MalformedEntry("invalid residue in sequence", "".join(sorted(bad))[:10])
    if declared_length is not None and declared_length != len(sequence):
        raise MalformedEntry("sequence length differs from the declared length",
                             f"{len(sequence)} != {declared_length}")
    return sequence


__all__ = ["MalformedEntry", "NameGroup", "ParseReport", "ProteinNames", "UniProtInputError", "UniProtRecord",
           "validated_sequence"]
