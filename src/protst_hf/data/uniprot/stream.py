"""File access shared by both parsers: plain or gzipped text, format detection, and reading in large blocks."""

import gzip
import io
from collections.abc import Iterator
from pathlib import Path

BLOCK = 1 << 20  # characters read at a time: the peak memory of a parser is a few times this


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


def read_blocks(stream) -> Iterator[str]:
    while block := stream.read(BLOCK):
        yield block


__all__ = ["BLOCK", "detect_format", "open_text", "read_blocks"]
