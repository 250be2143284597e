"""File access shared by both parsers: plain or gzipped text, format detection, and reading in large blocks that
turn a damaged stream (a gzip file cut short, corrupt compressed data) into a report entry instead of a crash."""

import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path

from .records import ParseReport, UniProtInputError

BLOCK = 1 << 20  # characters read at a time: the peak memory of a parser is a few times this


def open_text(path: str | Path) -> io.TextIOBase:
    """Open plain or gzipped text (detected from the magic bytes, not the name)."""
    path = Path(path)
    if path.is_dir():
        raise UniProtInputError(f"{path} is a directory, not a UniProt file")
    if not path.exists():
        raise UniProtInputError(f"{path} does not exist")
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def detect_format(path: str | Path) -> str | None:
    """`"xml"` or `"flat"`, from the first non-blank characters of the (decompressed) file; `None` for an empty or
    binary file, or text that starts like neither (the flat file starts with an `ID` line)."""
    try:
        with open_text(path) as f:
            head = f.read(4096)
    except (EOFError, OSError, zlib.error):
        return None
    if "\x00" in head or "\ufffd" in head:
        return None
    head = head.lstrip()
    if head.startswith("<"):
        return "xml"
    return "flat" if head.startswith("ID   ") else None


def read_blocks(stream, path: str, report: ParseReport, entries: list[int]) -> Iterator[str]:
    """The stream's text in blocks; a read that fails (gzip data cut short or corrupt) ends the stream and is
    recorded in `report.damaged_files[path]`, with how much was read and `entries[0]`, the entries read so far."""
    read = 0
    while True:
        try:
            block = stream.read(BLOCK)
        except (EOFError, OSError, zlib.error) as err:
            kind = "gzip stream truncated" if isinstance(err, EOFError) else f"unreadable data ({err})"
            report.damaged_files[path] = (f"{kind} after {read / 1e6:.1f} MB of text; {entries[0]} entries read "
                                          "before it")
            return
        if not block:
            return
        read += len(block)
        yield block


def describe_unreadable(path: str | Path) -> str:
    """Why `detect_format` found no UniProt format in a file."""
    try:
        with open_text(path) as f:
            head = f.read(4096)
    except (EOFError, OSError, zlib.error) as err:
        return f"unreadable ({err})"
    if not head.strip():
        return "empty file"
    if "\x00" in head or "\ufffd" in head:
        return "binary data, not UniProtKB text"
    return "not UniProtKB (neither XML nor a flat file starting with an ID line)"


__all__ = ["BLOCK", "describe_unreadable", "detect_format", "open_text", "read_blocks"]
