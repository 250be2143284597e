"""The UniProtKB flat-file ("swiss") parser: entries cut at `//` lines, each parsed on its own."""

import re
from collections.abc import Iterator

from ..go_evidence import evidence_code
from .records import MalformedEntry, NameGroup, ParseReport, ProteinNames, UniProtRecord, validated_sequence
from .stream import read_blocks
from .text import EVIDENCE_TAG, location_terms_from_text

_DE_FIELD = re.compile(r"(Full|Short|EC|Allergen|Biotech|CD_antigen|INN)=([^;]*);?")
_SPECIAL_NAMES = {"Allergen": "allergen {}", "Biotech": "{}", "CD_antigen": "CD antigen {}", "INN": "{}"}
_SQ_LENGTH = re.compile(r"SEQUENCE\s+(\d+)\s+AA")
_TAXON = re.compile(r"NCBI_TaxID=(\d+)")
_OLD_DE_EC = re.compile(r"\(EC ([0-9n.\-]+)\)")
_FLAT_CODES = frozenset(("ID", "AC", "DT", "DE", "OS", "OX", "CC", "DR", "KW"))


def iter_flat(stream, path: str, report: ParseReport) -> Iterator[UniProtRecord]:
    pending = ""
    entries_read = [0]
    for block in read_blocks(stream, path, report, entries_read):
        pending += block
        *entries, pending = pending.split("\n//")
        for text in entries:
            if text.strip():
                entries_read[0] += 1
                yield from _flat_entry(text, f"{path}#{entries_read[0]}", report)
    if pending.strip():
        if pending.strip() == "//" and entries_read[0] == 0:
            return
        report.records_read += 1
        report.skip("truncated entry at end of input (no // line)", f"{path}#{entries_read[0] + 1}")
        report.damaged_files.setdefault(path, f"ends inside an entry (no closing // line: the file is cut off); "
                                              f"{entries_read[0]} entries read before it")


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
    sequence = validated_sequence("".join(sequence_text.split()), int(declared.group(1)) if declared else None)

    taxon = _TAXON.search(" ".join(grouped["OX"]))
    comments = _flat_comments(grouped["CC"])
    sublocation = comments.get("SUBCELLULAR LOCATION", [])
    go_terms, go_evidence = _flat_go(grouped["DR"])
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
        go_terms=go_terms,
        go_evidence=go_evidence,
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
        text = EVIDENCE_TAG.sub("", " ".join(line.strip() for line in de_lines)).strip().rstrip(".")
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
            value = EVIDENCE_TAG.sub("", value).strip()
            if key == "Full":
                group.full = value
            elif key == "Short":
                group.shorts.append(value)
            elif key == "EC":
                group.ecs.append(value)
            else:
                group.special = _SPECIAL_NAMES[key].format(value)
    return top


def _flat_go(dr_lines: list[str]) -> tuple[list[str], list[str]]:
    """The GO terms of `DR   GO;` lines (`C:GO:0005737`) and each one's evidence code (`IDA`)."""
    terms, evidence = [], []
    for line in dr_lines:  # "GO; GO:0005737; C:cytoplasm; IDA:UniProtKB."
        parts = [p.strip() for p in line.split(";")]
        if len(parts) >= 3 and parts[1].startswith("GO:") and parts[2][:2] in ("C:", "F:", "P:"):
            terms.append(f"{parts[2][0]}:{parts[1]}")
            evidence.append(evidence_code(parts[3]) if len(parts) >= 4 else "")
    return terms, evidence


def _flat_keywords(kw_lines: list[str]) -> list[str]:
    text = EVIDENCE_TAG.sub("", " ".join(kw_lines)).strip().rstrip(".")
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


__all__ = ["iter_flat"]
