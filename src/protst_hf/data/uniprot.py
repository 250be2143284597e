"""Streaming parsers for UniProtKB: the XML format and the flat-file ("swiss") format, plain or gzipped.

Both read the input in large blocks and cut it into entries with string searches, so memory stays flat whatever
the input size (the full Swiss-Prot, TrEMBL). Each entry is parsed on its own: a malformed entry is counted in
the [`ParseReport`] under its reason and the parser moves on to the next one; nothing is dropped silently.

Example:

```python
>>> report = ParseReport()
>>> for record in iter_uniprot("uniprot_sprot.xml.gz", report):
...     print(record.accessions[0], record.protein_names)
>>> print(report.summary())
```
"""

import gzip
import io
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

UNIPROT_NS = "http://uniprot.org/uniprot"
# residues UniProtKB sequences may hold: the 20 standard ones, U (Sec), O (Pyl), and the ambiguity codes B, Z, X
SEQUENCE_LETTERS = frozenset("ACDEFGHIKLMNPQRSTVWYUOBZX")
_BLOCK = 1 << 20  # characters read at a time: the peak memory of a parser is a few times this


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


class MalformedEntry(ValueError):
    """An entry that cannot be turned into a record; `reason` is the counted category."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class ParseReport:
    """What the parsers read and skipped, by reason, with the first few identifiers of each reason."""

    records_read: int = 0
    records_parsed: int = 0
    skipped: Counter = field(default_factory=Counter)
    recovered: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    skipped_files: dict = field(default_factory=dict)

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
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- text cleaning

_EVIDENCE = re.compile(r"\s*\{(?:ECO|EC0):[^{}]*\}")
_PARENTHESES = re.compile(r"\s*\(([^()]*)\)")
_CITATION_ITEM = re.compile(r"^\s*(?:PubMed:\s*\d+|Ref\.\s*\d+|ECO:\d+(?:\|[^,]*)?)\s*$")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:])")
_DOUBLE_PERIOD = re.compile(r"(?<!\.)\.\.(?!\.)")


def _strip_citation(match: re.Match) -> str:
    items = match.group(1).split(",")
    return "" if all(_CITATION_ITEM.match(item) for item in items) else match.group(0)


def clean_text(text: str) -> str:
    """Remove evidence tags (`{ECO:...}`) and parenthesised citations (`(PubMed:123, PubMed:456)`, `(Ref.3)`),
    keep qualifiers such as `(By similarity)` and isoform prefixes, and normalise whitespace."""
    text = _EVIDENCE.sub("", text)
    text = _PARENTHESES.sub(_strip_citation, text)
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _DOUBLE_PERIOD.sub(".", text)  # "(By similarity). {ECO:...}." leaves ".."


# ------------------------------------------------------------------------------------------------ file access


def open_text(path: str | Path) -> io.TextIOBase:
    """Open plain or gzipped text (detected from the magic bytes, not the name)."""
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def detect_format(path: str | Path) -> str:
    """`"xml"` or `"flat"`, from the first non-blank characters of the (decompressed) file."""
    with open_text(path) as f:
        head = f.read(4096).lstrip()
    return "xml" if head.startswith("<") else "flat"


def iter_uniprot(
    path: str | Path, report: ParseReport | None = None, fmt: str | None = None
) -> Iterator[UniProtRecord]:
    """Stream the records of a UniProtKB file (XML or flat file, plain or gzipped).

    Args:
        path: the file.
        report: counts what was read and skipped; a fresh one when not given.
        fmt: `"xml"` or `"flat"`; detected when not given.
    """
    report = report if report is not None else ParseReport()
    fmt = fmt or detect_format(path)
    report.files.append(str(path))
    parse = _iter_xml if fmt == "xml" else _iter_flat
    with open_text(path) as stream:
        yield from parse(stream, str(path), report)


def _read_blocks(stream) -> Iterator[str]:
    while block := stream.read(_BLOCK):
        yield block


def _validated_sequence(sequence: str, declared_length: int | None) -> str:
    if not sequence:
        raise MalformedEntry("no sequence")
    bad = set(sequence) - SEQUENCE_LETTERS
    if bad:
        raise MalformedEntry("invalid residue in sequence", "".join(sorted(bad))[:10])
    if declared_length is not None and declared_length != len(sequence):
        raise MalformedEntry("sequence length differs from the declared length",
                             f"{len(sequence)} != {declared_length}")
    return sequence


# --------------------------------------------------------------------------------------------------- flat file

_DE_FIELD = re.compile(r"(Full|Short|EC|Allergen|Biotech|CD_antigen|INN)=([^;]*);?")
_SPECIAL_NAMES = {"Allergen": "allergen {}", "Biotech": "{}", "CD_antigen": "CD antigen {}", "INN": "{}"}
_SQ_LENGTH = re.compile(r"SEQUENCE\s+(\d+)\s+AA")
_TAXON = re.compile(r"NCBI_TaxID=(\d+)")
_OLD_DE_EC = re.compile(r"\(EC ([0-9n.\-]+)\)")
_FLAT_CODES = frozenset(("ID", "AC", "DT", "DE", "OS", "OX", "CC", "DR", "KW"))


def _iter_flat(stream, path: str, report: ParseReport) -> Iterator[UniProtRecord]:
    pending = ""
    index = 0
    for block in _read_blocks(stream):
        pending += block
        *entries, pending = pending.split("\n//")
        for text in entries:
            if text.strip():
                index += 1
                yield from _flat_entry(text, f"{path}#{index}", report)
    if pending.strip():
        if pending.strip() == "//" and index == 0:
            return
        index += 1
        report.records_read += 1
        report.skip("truncated entry at end of input (no // line)", f"{path}#{index}")


def _flat_entry(text: str, where: str, report: ParseReport) -> Iterator[UniProtRecord]:
    report.records_read += 1
    # the "//" of the previous entry leaves its line end (and possibly blank lines or spaces) at the start
    text = text.lstrip("/ \t\r\n")
    lines, sq_line, sequence_text = _flat_sections(text)
    try:
        record = _parse_flat(lines, sq_line, sequence_text, report, where)
    except MalformedEntry as err:
        report.skip(err.reason, _where(where, lines))
        return
    report.records_parsed += 1
    yield record


_REFERENCES_END = re.compile(r"\n(?!R[NPCXGATL]   )")


def _flat_sections(text: str) -> tuple[list[str], str | None, str]:
    """The lines read (references and features cut out: never read), the SQ line and the sequence text.

    The flat-file order puts references (RN...RL) in one run after the organism lines, and the features (FT) in
    one run just before SQ, so both are cut by position instead of being split into lines.
    """
    sq = text.find("\nSQ   ")
    if sq < 0:
        return text.split("\n"), None, ""
    sq_end = text.find("\n", sq + 1)
    sq_line = text[sq + 1 : sq_end if sq_end >= 0 else len(text)]
    sequence_text = text[sq_end:] if sq_end >= 0 else ""
    body = text[:sq]
    references = body.find("\nRN   ")
    if references >= 0:
        after = _REFERENCES_END.search(body, references + 1)
        references_end = after.start() if after else len(body)
        features = body.find("\nFT   ", references_end)
        body = body[:references] + (body[references_end:features] if features >= 0 else body[references_end:])
    else:
        features = body.find("\nFT   ")
        body = body[:features] if features >= 0 else body
    # cross-references: one run of DR lines; only its GO lines (themselves one run) are read
    first_dr = body.find("\nDR   ")
    if first_dr >= 0:
        last_dr = body.rfind("\nDR   ")
        dr_end = body.find("\n", last_dr + 1)
        dr_end = dr_end if dr_end >= 0 else len(body)
        first_go = body.find("\nDR   GO;", first_dr, dr_end)
        go = body[first_go : body.find("\n", body.rfind("\nDR   GO;", first_go, dr_end) + 1)] if first_go >= 0 else ""
        body = body[:first_dr] + go + body[dr_end:]
    return body.split("\n"), sq_line, sequence_text


def _where(where: str, lines: list[str]) -> str:
    for line in lines[:8]:
        if line.startswith("AC   "):
            return f"{line[5:].split(';')[0].strip()} ({where})"
    return where


def _parse_flat(
    lines: list[str], sq_line: str | None, sequence_text: str, report: ParseReport, where: str
) -> UniProtRecord:
    grouped: dict[str, list[str]] = {code: [] for code in _FLAT_CODES}
    for line in lines:
        code = line[:2]
        if code in grouped:
            grouped[code].append(line[5:].rstrip())
        elif code.strip() and code != "**" and not code.isalpha():
            # "**" lines are UniProt's internal section (.txl files): not part of the public record
            raise MalformedEntry("unreadable line", line[:40])

    if not grouped["AC"]:
        raise MalformedEntry("no AC (accession) line")
    accessions = [a.strip() for line in grouped["AC"] for a in line.split(";") if a.strip()]
    if not grouped["ID"]:
        report.recover("no ID line (entry name left empty)", f"{accessions[0]} ({where})")
        entry_name, reviewed = "", None
    else:
        id_fields = grouped["ID"][0].split()
        entry_name = id_fields[0] if id_fields else ""
        status = id_fields[1].rstrip(";") if len(id_fields) > 1 else ""
        reviewed = {"Reviewed": True, "STANDARD": True, "Unreviewed": False, "PRELIMINARY": False}.get(status)
    if sq_line is None:
        raise MalformedEntry("no sequence")
    declared = _SQ_LENGTH.search(sq_line)
    sequence = _validated_sequence("".join(sequence_text.split()), int(declared.group(1)) if declared else None)

    taxon = _TAXON.search(" ".join(grouped["OX"]))
    comments = _flat_comments(grouped["CC"])
    sublocation = comments.get("SUBCELLULAR LOCATION", [])
    return UniProtRecord(
        accessions=accessions,
        entry_name=entry_name,
        reviewed=reviewed,
        organism=" ".join(grouped["OS"]).strip().rstrip("."),
        taxon_id=int(taxon.group(1)) if taxon else None,
        sequence=sequence,
        names=_flat_names(grouped["DE"]),
        function=comments.get("FUNCTION", []),
        subcellular_location=sublocation,
        location_terms=location_terms_from_text(sublocation),
        similarity=comments.get("SIMILARITY", []),
        go_terms=_flat_go(grouped["DR"]),
        keywords=_flat_keywords(grouped["KW"]),
        modified=_flat_modified(grouped["DT"]),
    )


def _flat_comments(cc_lines: list[str]) -> dict[str, list[str]]:
    """CC lines -> {topic: [block text with its "TOPIC: " prefix, ...]}."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in cc_lines:
        start = line[:4]
        if start == "    ":
            if current is not None:
                current.append(line.strip())
        elif start == "-!- ":
            topic, _, rest = line[4:].partition(":")
            current = [f"{topic}: {rest.strip()}"] if rest.strip() else [f"{topic}:"]
            blocks.setdefault(topic.strip(), []).append(current)
        else:
            current = None  # the licence box ("-----", "Copyrighted by ...") ends the comments
    return {topic: [_join_wrapped(parts) for parts in texts] for topic, texts in blocks.items()}


def _join_wrapped(parts: list[str]) -> str:
    """Join wrapped lines: with a space, except after a hyphen, where UniProt breaks words without one."""
    text = parts[0]
    for part in parts[1:]:
        text += part if text.endswith("-") else " " + part
    return text


def _flat_names(de_lines: list[str]) -> ProteinNames:
    if not de_lines:
        return ProteinNames()
    if not any(line.lstrip().startswith(("RecName:", "SubName:", "AltName:")) for line in de_lines):
        # pre-2008 format: "DE   Amyloid beta A4 protein precursor (APP) (ABPP)."
        text = _EVIDENCE.sub("", " ".join(line.strip() for line in de_lines)).strip().rstrip(".")
        names = ProteinNames(free_text=text)
        names.names.append(NameGroup(ecs=_OLD_DE_EC.findall(text)))
        return names
    top = ProteinNames()
    target, section, group = top, None, None
    for line in de_lines:
        stripped = line.strip()
        if stripped in ("Contains:", "Includes:"):
            section = stripped[:-1]
            continue
        if stripped.startswith("Flags:"):
            continue
        if not line.startswith(" "):
            target = top  # back at the top level
        kind, colon, rest = stripped.partition(":")
        if colon and kind in ("RecName", "AltName", "SubName"):
            if line.startswith("  ") and section and kind in ("RecName", "SubName"):
                target = ProteinNames()
                (top.contains if section == "Contains" else top.includes).append(target)
            group = NameGroup()
            target.names.append(group)
            stripped = rest
        if group is None:
            continue
        for key, value in _DE_FIELD.findall(stripped):
            value = _EVIDENCE.sub("", value).strip()
            if key == "Full":
                group.full = value
            elif key == "Short":
                group.shorts.append(value)
            elif key == "EC":
                group.ecs.append(value)
            else:
                group.special = _SPECIAL_NAMES[key].format(value)
    return top


def _flat_go(dr_lines: list[str]) -> list[str]:
    terms = []
    for line in dr_lines:  # "GO; GO:0005737; C:cytoplasm; IDA:UniProtKB."
        parts = [p.strip() for p in line.split(";")]
        if len(parts) >= 3 and parts[1].startswith("GO:") and parts[2][:2] in ("C:", "F:", "P:"):
            terms.append(f"{parts[2][0]}:{parts[1]}")
    return terms


def _flat_keywords(kw_lines: list[str]) -> list[str]:
    text = _EVIDENCE.sub("", " ".join(kw_lines)).strip().rstrip(".")
    return [k.strip() for k in text.split(";") if k.strip()]


_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                                       "DEC"), start=1)}
_DT = re.compile(r"(\d{2})-([A-Z]{3})-(\d{4})")


def _flat_modified(dt_lines: list[str]) -> str | None:
    """The last DT line's date as ISO `YYYY-MM-DD` (the XML's `modified`), `None` when unreadable."""
    match = _DT.search(dt_lines[-1]) if dt_lines else None
    if match is None or match.group(2) not in _MONTHS:
        return None
    return f"{match.group(3)}-{_MONTHS[match.group(2)]:02d}-{match.group(1)}"


def location_terms_from_text(blocks: list[str]) -> list[str]:
    """Location terms of SUBCELLULAR LOCATION texts: `Cell membrane {ECO:..}; Multi-pass membrane protein.
    Cytoplasm, cytoskeleton. Note=...` gives `["Cell membrane", "Cytoplasm, cytoskeleton"]`."""
    terms = []
    for block in blocks:
        text = _EVIDENCE.sub("", block)
        text = text.split(":", 1)[1] if text.startswith("SUBCELLULAR LOCATION") else text
        text = text.split("Note=")[0].strip()
        if text.startswith("["):  # "[Isoform 2]: Nucleus."
            text = text.split("]:", 1)[-1]
        for statement in text.split(". "):
            location = _QUALIFIER.sub("", statement.split(";")[0]).strip().rstrip(".").strip()
            if location and location not in terms:
                terms.append(location)
    return terms


_QUALIFIER = re.compile(r"\s*\((?:Potential|Probable|By similarity)\)")
_STATUS = {"by similarity": "By similarity", "probable": "Probable", "potential": "Potential"}


# --------------------------------------------------------------------------------------------------------- XML

_XMLNS = re.compile(r'\sxmlns(?::\w+)?="[^"]*"')
# Sections never read (citations, features, genes, hosts, lineage, other comments), cut by pattern before the XML
# parse when an entry does not follow the schema's order (see `_reduce_entry`). None nests inside another of its kind.
_UNREAD_XML = re.compile(
    r"<reference\b.*?</reference>|<feature\b[^>]*?(?:/>|>.*?</feature>)|<lineage>.*?</lineage>"
    r"|<gene>.*?</gene>|<organismHost>.*?</organismHost>|<geneLocation\b[^>]*?(?:/>|>.*?</geneLocation>)"
    r'|<comment type="(?!function"|similarity"|subcellular location")[^"]*"[^>]*?(?:/>|>.*?</comment>)',
    re.S,
)


def _iter_xml(stream, path: str, report: ParseReport) -> Iterator[UniProtRecord]:
    pending = ""
    checked_root = False
    index = 0
    for block in _read_blocks(stream):
        pending += block
        if not checked_root:
            first = _next_entry_start(pending, 0)
            if first < 0 and "</uniprot>" not in pending and len(pending) < (1 << 20):
                continue
            head = pending[: first if first >= 0 else len(pending)]
            root = re.search(r"<([A-Za-z_][\w.:-]*)[\s>]", re.sub(r"<\?.*?\?>|<!--.*?-->", "", head, flags=re.S))
            if root is None or root.group(1) != "uniprot" or UNIPROT_NS not in head:
                found = f"<{root.group(1)}>" if root else "no root element"
                report.skipped_files[path] = f"not UniProtKB XML (root {found}, expected <uniprot> in {UNIPROT_NS})"
                return
            checked_root = True
        position = 0
        while True:
            start = _next_entry_start(pending, position)
            if start < 0:
                break
            end = pending.find("</entry>", start)
            if end < 0:
                break
            end += len("</entry>")
            index += 1
            yield from _xml_entry(pending[start:end], f"{path}#{index}", report)
            position = end
        pending = pending[position:]
    if _next_entry_start(pending, 0) >= 0:
        report.records_read += 1
        report.skip("truncated entry at end of input (no </entry>)", f"{path}#{index + 1}")


_KEPT_COMMENTS = re.compile(
    r'<comment type="(?:function|similarity|subcellular location)"[^>]*?(?:/>|>.*?</comment>)', re.S
)
_GO_REFERENCE = re.compile(r'<dbReference type="GO" id="(GO:\d+)"[^>]*?(?:/>|>(.*?)</dbReference>)', re.S)
_GO_ASPECT = re.compile(r'type="term" value="([CFP]):')
_EC_REFERENCE = re.compile(r'<dbReference type="EC" id="([^"]+)"')


def _reduce_entry(text: str) -> tuple[str, tuple[list[str], list[str]] | None]:
    """The entry without the sections never read, and its GO terms and EC cross-references (read here with
    patterns).

    The UniProt schema fixes the order of an entry's children (accession, name, protein, gene, organism,
    organismHost, geneLocation, reference, comment, dbReference, proteinExistence, keyword, feature, evidence,
    sequence), so genes, hosts, references, features and cross-references are contiguous runs cut by position.
    An entry out of that order falls back to a slower pattern-based cut, its cross-references left to the XML
    parse.
    """
    protein_end = text.find("</protein>")
    organism = text.find("<organism", protein_end)
    lineage = text.find("<lineage>", organism)
    lineage_end = text.find("</lineage>", lineage)
    organism_end = text.find("</organism>", organism)
    references = text.find("<reference ", organism_end)
    references_end = text.rfind("</reference>")
    existence = text.find("<proteinExistence", references_end)
    sequence = text.rfind("<sequence")
    marks = (protein_end, organism, organism_end, references, references_end, existence, sequence)
    if min(marks) < 0 or list(marks) != sorted(marks) or not (lineage < 0 or organism < lineage < organism_end):
        return _UNREAD_XML.sub("", text), None
    features = text.find("<feature ", existence, sequence)
    evidence = text.find("<evidence ", existence, sequence)
    tail = evidence if evidence >= 0 else sequence
    keywords_end = features if 0 <= features < tail else tail
    middle_start = references_end + len("</reference>")
    go_terms = []
    for go_id, body in _GO_REFERENCE.findall(text, middle_start, existence):
        aspect = _GO_ASPECT.search(body)
        if aspect:
            go_terms.append(f"{aspect.group(1)}:{go_id}")
    ec_references = _EC_REFERENCE.findall(text, middle_start, existence)
    organism_part = text[organism:lineage] + text[lineage_end + len("</lineage>") : organism_end] if lineage >= 0 \
        else text[organism:organism_end]
    parts = (
        text[: protein_end + len("</protein>")],  # accession, name, protein
        organism_part + "</organism>",  # without lineage
        "".join(_KEPT_COMMENTS.findall(text, middle_start, existence)),
        text[existence:keywords_end],  # proteinExistence, keywords
        text[tail:],  # evidence, sequence
    )
    return "".join(parts), (go_terms, ec_references)


def _next_entry_start(text: str, position: int) -> int:
    while True:
        start = text.find("<entry", position)
        if start < 0 or text[start + 6 : start + 7] in (" ", ">", "\n", "\t", "\r"):
            return start
        position = start + 6


def _xml_entry(text: str, where: str, report: ParseReport) -> Iterator[UniProtRecord]:
    report.records_read += 1
    try:
        # the namespace is declared on the root (or repeated on each entry): parse without it
        head_end = text.find(">")
        body, references = _reduce_entry(text[head_end:])
        record = _parse_xml(ET.fromstring(_XMLNS.sub("", text[:head_end]) + body), references)
    except ET.ParseError as err:
        report.skip("malformed XML entry", f"{where}: {err}")
        return
    except MalformedEntry as err:
        accession = re.search(r"<accession>([^<]+)</accession>", text)
        report.skip(err.reason, f"{accession.group(1)} ({where})" if accession else where)
        return
    report.records_parsed += 1
    yield record


def _parse_xml(entry: ET.Element, references: tuple[list[str], list[str]] | None = None) -> UniProtRecord:
    """A record from an `<entry>` element; `references` are its (GO terms, EC cross-references) when already
    read, else they are read from the element."""
    accessions = [a.text.strip() for a in entry.findall("accession") if a.text]
    if not accessions:
        raise MalformedEntry("no accession")
    sequence_element = entry.find("sequence")
    if sequence_element is None:
        raise MalformedEntry("no sequence")
    sequence = "".join((sequence_element.text or "").split())
    declared = sequence_element.get("length")
    sequence = _validated_sequence(sequence, int(declared) if declared and declared.isdigit() else None)

    evidence = _xml_evidence(entry)
    organism = entry.find("organism")
    scientific, others = "", []
    taxon_id = None
    if organism is not None:
        for name in organism.findall("name"):
            if name.get("type") == "scientific":
                scientific = (name.text or "").strip()
            elif name.text and name.text.strip():  # common name, synonyms: "(...)" as on the flat file's OS line
                others.append(name.text.strip())
        for ref in organism.findall("dbReference"):
            if ref.get("type") == "NCBI Taxonomy" and (ref.get("id") or "").isdigit():
                taxon_id = int(ref.get("id"))
    function, sublocation, similarity, terms = [], [], [], []
    for comment in entry.findall("comment"):
        kind = comment.get("type")
        if kind == "function":
            function.append(_xml_comment_text("FUNCTION", comment, evidence))
        elif kind == "similarity":
            similarity.append(_xml_comment_text("SIMILARITY", comment, evidence))
        elif kind == "subcellular location":
            sublocation.append(_xml_sublocation(comment, evidence, terms))
    go_terms, ec_references = references if references is not None else _xml_references(entry)
    names = _xml_names(entry.find("protein"))
    if ec_references and names.names and not names.ec_numbers():
        names.names[0].ecs.extend(ec_references)  # where the flat file of the same release writes them
    name = entry.find("name")
    dataset = entry.get("dataset")
    return UniProtRecord(
        accessions=accessions,
        entry_name=(name.text or "").strip() if name is not None else "",
        reviewed={"Swiss-Prot": True, "TrEMBL": False}.get(dataset),
        organism=" ".join([scientific, *(f"({name})" for name in others)]),
        taxon_id=taxon_id,
        sequence=sequence,
        names=names,
        function=[t for t in function if t],
        subcellular_location=[t for t in sublocation if t],
        location_terms=terms,
        similarity=[t for t in similarity if t],
        go_terms=go_terms,
        keywords=[(k.text or "").strip() for k in entry.findall("keyword") if k.text],
        modified=entry.get("modified"),
        ec_cross_references=ec_references,
    )


def _xml_references(entry: ET.Element) -> tuple[list[str], list[str]]:
    go_terms, ec_references = [], []
    for ref in entry.findall("dbReference"):
        if ref.get("type") == "GO":
            for prop in ref.findall("property"):
                if prop.get("type") == "term" and (prop.get("value") or "")[:2] in ("C:", "F:", "P:"):
                    go_terms.append(f"{prop.get('value')[0]}:{ref.get('id')}")
        elif ref.get("type") == "EC" and ref.get("id"):
            ec_references.append(ref.get("id"))
    return go_terms, ec_references


def _xml_evidence(entry: ET.Element) -> dict[str, str]:
    """Evidence key -> `ECO:0000269|PubMed:123`, as the flat file writes evidence."""
    result = {}
    for element in entry.findall("evidence"):
        text = element.get("type", "")
        source = element.find("source")  # two simple finds stay in C; a path goes through ElementPath
        ref = source.find("dbReference") if source is not None else None
        if ref is not None and ref.get("type") and ref.get("id"):
            text += f"|{ref.get('type')}:{ref.get('id')}"
        result[element.get("key", "")] = text
    return result


def _with_evidence(text: str, element: ET.Element, evidence: dict[str, str]) -> str:
    keys = (element.get("evidence") or "").split()
    tags = [evidence[k] for k in keys if evidence.get(k)]
    return f"{text} {{{', '.join(tags)}}}" if tags else text


def _with_status(text: str, element: ET.Element) -> str:
    """Older XML marks uncertain statements with `status="potential"`, the flat file with "(Potential)"."""
    status = _STATUS.get(element.get("status", ""))
    return f"{text} ({status})" if status else text


def _xml_comment_text(topic: str, comment: ET.Element, evidence: dict[str, str]) -> str:
    texts = [_with_evidence(" ".join((t.text or "").split()), t, evidence) for t in comment.findall("text")]
    texts = [t for t in texts if t]
    if not texts:
        return ""
    molecule = comment.find("molecule")
    prefix = f"[{molecule.text.strip()}]: " if molecule is not None and molecule.text else ""
    return f"{topic}: {prefix}" + " ".join(_sentence(t) for t in texts)


def _sentence(text: str) -> str:
    """`text.` or `text. {ECO:...}.`: the flat file's punctuation around a trailing evidence block."""
    body, brace, tag = text.partition(" {")
    body = body if body.endswith(".") else body + "."
    return f"{body} {{{tag}." if brace else body


def _xml_sublocation(comment: ET.Element, evidence: dict[str, str], terms: list[str]) -> str:
    statements = []
    for sub in comment.findall("subcellularLocation"):
        # several <location>s are one hierarchical location: "Secreted, extracellular space"
        locations = [e for e in sub.findall("location") if e.text and e.text.strip()]
        parts = []
        if locations:
            names = [e.text.strip() for e in locations]
            location = ", ".join([names[0], *(n[0].lower() + n[1:] for n in names[1:])])
            if location not in terms:
                terms.append(location)
            parts.append(_with_evidence(_with_status(location, locations[-1]), locations[-1], evidence))
        for tag in ("topology", "orientation"):
            for element in sub.findall(tag):
                if element.text and element.text.strip():
                    parts.append(_with_evidence(_with_status(element.text.strip(), element), element, evidence))
        if parts:
            statements.append(_sentence("; ".join(parts)))
    notes = [_with_evidence(" ".join((t.text or "").split()), t, evidence) for t in comment.findall("text")]
    notes = [n for n in notes if n]
    if not statements and not notes:
        return ""
    text = " ".join(statements)
    if notes:
        text = (text + " " if text else "") + "Note=" + " ".join(_sentence(n) for n in notes)
    molecule = comment.find("molecule")
    prefix = f"[{molecule.text.strip()}]: " if molecule is not None and molecule.text else ""
    return f"SUBCELLULAR LOCATION: {prefix}{text}"


def _xml_names(protein: ET.Element | None) -> ProteinNames:
    names = ProteinNames()
    if protein is None:
        return names
    for element in protein:
        tag = element.tag
        if tag in ("recommendedName", "submittedName", "alternativeName"):
            group = NameGroup(
                full=" ".join((element.findtext("fullName") or "").split()),
                shorts=[" ".join(s.text.split()) for s in element.findall("shortName") if s.text],
                ecs=[e.text.strip() for e in element.findall("ecNumber") if e.text],
            )
            if tag == "alternativeName":
                names.names.append(group)
            else:
                names.names.insert(0 if not names.names or tag == "recommendedName" else len(names.names), group)
        elif tag in ("allergenName", "biotechName", "cdAntigenName", "innName") and element.text:
            template = {"allergenName": "allergen {}", "cdAntigenName": "CD antigen {}"}.get(tag, "{}")
            names.names.append(NameGroup(special=template.format(element.text.strip())))
        elif tag == "domain":
            names.includes.append(_xml_names(element))
        elif tag == "component":
            names.contains.append(_xml_names(element))
    return names


__all__ = [
    "MalformedEntry",
    "NameGroup",
    "ParseReport",
    "ProteinNames",
    "UniProtRecord",
    "clean_text",
    "detect_format",
    "iter_uniprot",
    "location_terms_from_text",
    "open_text",
]
