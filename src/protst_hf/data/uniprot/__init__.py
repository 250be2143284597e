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


from collections.abc import Iterator
from pathlib import Path

from .flat_file import iter_flat
from .records import MalformedEntry, NameGroup, ParseReport, ProteinNames, UniProtInputError, UniProtRecord
from .stream import describe_unreadable, detect_format, open_text
from .text import clean_text, location_terms_from_text
from .xml_file import iter_xml


def iter_uniprot(
    path: str | Path, report: ParseReport | None = None, fmt: str | None = None
) -> Iterator[UniProtRecord]:
    """Stream the records of a UniProtKB file (XML or flat file, plain or gzipped).

    Args:
        path: the file.
        report: counts what was read and skipped; a fresh one when not given. A file that is not UniProtKB is
            recorded in `report.skipped_files`, a damaged one (cut short, corrupt compressed data) in
            `report.damaged_files` after the records read before the damage.
        fmt: `"xml"` or `"flat"`; detected when not given.

    Raises:
        `UniProtInputError`: the path is a directory or does not exist.
    """
    report = report if report is not None else ParseReport()
    fmt = fmt or detect_format(path)
    report.files.append(str(path))
    if fmt is None:
        report.skipped_files[str(path)] = describe_unreadable(path)
        return
    parse = iter_xml if fmt == "xml" else iter_flat
    with open_text(path) as stream:
        yield from parse(stream, str(path), report)


__all__ = [
    "MalformedEntry",
    "NameGroup",
    "ParseReport",
    "ProteinNames",
    "UniProtInputError",
    "UniProtRecord",
    "clean_text",
    "detect_format",
    "iter_uniprot",
    "location_terms_from_text",
    "open_text",
]
