"""The UniProtKB XML parser: `<entry>` elements cut from the stream with string searches and parsed one by one."""

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from ..go_evidence import evidence_code
from .records import MalformedEntry, NameGroup, ParseReport, ProteinNames, UniProtRecord, validated_sequence
from .stream import read_blocks
from .text import STATUS_QUALIFIERS

UNIPROT_NS = "http://uniprot.org/uniprot"

_XMLNS = re.compile(r'\sxmlns(?::\w+)?="[^"]*"')
# Sections never read (citations, features, genes, hosts, lineage, other comments), cut by pattern before the XML
# parse when an entry does not follow the schema's order (see `_reduce_entry`). None nests inside another of its kind.
_UNREAD_XML = re.compile(
    r"<reference\b.*?</reference>|<feature\b[^>]*?(?:/>|>.*?</feature>)|<lineage>.*?</lineage>"
    r"|<gene>.*?</gene>|<organismHost>.*?</organismHost>|<geneLocation\b[^>]*?(?:/>|>.*?</geneLocation>)"
    r'|<comment type="(?!function"|similarity"|subcellular location")[^"]*"[^>]*?(?:/>|>.*?</comment>)',
    re.S,
)


def iter_xml(stream, path: str, report: ParseReport) -> Iterator[UniProtRecord]:
    pending = ""
    checked_root = False
    index = 0
    entries_read = [0]
    for block in read_blocks(stream, path, report, entries_read):
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
            entries_read[0] = index
            yield from _xml_entry(pending[start:end], f"{path}#{index}", report)
            position = end
        pending = pending[position:]
    if _next_entry_start(pending, 0) >= 0:
        report.records_read += 1
        report.skip("truncated entry at end of input (no </entry>)", f"{path}#{index + 1}")
        report.damaged_files.setdefault(path, f"XML ends inside an <entry> (the file is cut off); {index} entries "
                                              "read before it")
    elif checked_root and "</uniprot>" not in pending and path not in report.damaged_files:
        report.damaged_files[path] = f"XML ends without </uniprot> (the file is cut off); {index} entries read"


_KEPT_COMMENTS = re.compile(
    r'<comment type="(?:function|similarity|subcellular location)"[^>]*?(?:/>|>.*?</comment>)', re.S
)
_GO_REFERENCE = re.compile(r'<dbReference type="GO" id="(GO:\d+)"[^>]*?(?:/>|>(.*?)</dbReference>)', re.S)
_GO_ASPECT = re.compile(r'type="term" value="([CFP]):')
_GO_EVIDENCE = re.compile(r'type="evidence" value="([^"]+)"')
_EC_REFERENCE = re.compile(r'<dbReference type="EC" id="([^"]+)"')


def _reduce_entry(text: str) -> tuple[str, tuple[list[str], list[str]] | None]:
    """The entry without the sections never read, and its GO terms, their evidence and EC cross-references (read
    here with patterns).

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
    go_terms, go_evidence = [], []
    for go_id, body in _GO_REFERENCE.findall(text, middle_start, existence):
        aspect = _GO_ASPECT.search(body)
        if aspect:
            go_terms.append(f"{aspect.group(1)}:{go_id}")
            evidence = _GO_EVIDENCE.search(body)
            go_evidence.append(evidence_code(evidence.group(1)) if evidence else "")
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
    return "".join(parts), (go_terms, go_evidence, ec_references)


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


def _parse_xml(entry: ET.Element, references: tuple[list[str], list[str], list[str]] | None = None) -> UniProtRecord:
    """A record from an `<entry>` element; `references` are its (GO terms, their evidence codes, EC
    cross-references) when already read, else they are read from the element."""
    accessions = [a.text.strip() for a in entry.findall("accession") if a.text]
    if not accessions:
        raise MalformedEntry("no accession")
    sequence_element = entry.find("sequence")
    if sequence_element is None:
        raise MalformedEntry("no sequence")
    sequence = "".join((sequence_element.text or "").split())
    declared = sequence_element.get("length")
    sequence = validated_sequence(sequence, int(declared) if declared and declared.isdigit() else None)

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
    go_terms, go_evidence, ec_references = references if references is not None else _xml_references(entry)
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
        go_evidence=go_evidence,
        keywords=[(k.text or "").strip() for k in entry.findall("keyword") if k.text],
        modified=entry.get("modified"),
        ec_cross_references=ec_references,
    )


def _xml_references(entry: ET.Element) -> tuple[list[str], list[str], list[str]]:
    go_terms, go_evidence, ec_references = [], [], []
    for ref in entry.findall("dbReference"):
        if ref.get("type") == "GO":
            properties = {prop.get("type"): prop.get("value") or "" for prop in ref.findall("property")}
            if properties.get("term", "")[:2] in ("C:", "F:", "P:"):
                go_terms.append(f"{properties['term'][0]}:{ref.get('id')}")
                go_evidence.append(evidence_code(properties["evidence"]) if properties.get("evidence") else "")
        elif ref.get("type") == "EC" and ref.get("id"):
            ec_references.append(ref.get("id"))
    return go_terms, go_evidence, ec_references


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
    status = STATUS_QUALIFIERS.get(element.get("status", ""))
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


__all__ = ["UNIPROT_NS", "iter_xml"]
