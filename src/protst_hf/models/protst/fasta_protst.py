"""FASTA input: streamed records with every skipped record named (a sequence before any header, an empty sequence, a
character that is not a residue).

This file is shipped to the Hub with saved models (the pipelines import it): it imports its siblings only.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from .processing_protst import clean_protein


def iter_fasta(lines: Iterable[str], validate: bool = True) -> Iterator[tuple[str, str | None, str]]:
    """Stream a FASTA file's lines: `("record", id, sequence)` for usable records and `("problem", None, why)` for
    skipped ones (a sequence before any header, an empty sequence, a character that is not a residue; see
    `clean_protein`). Sequences may span lines; ids are the header's first word. With `validate=False` every
    record comes back with its residues joined as written (whitespace removed), for callers that count bad rows
    themselves."""
    identifier, parts, header_line, count = None, [], 0, 0

    def close():
        if not validate:
            return ("record", identifier, "".join("".join(parts).split()))
        try:
            return ("record", identifier, clean_protein("".join(parts), f"record {identifier!r} (line {header_line})"))
        except ValueError as err:
            return ("problem", None, str(err))

    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            if identifier is not None:
                yield close()
            count += 1
            identifier, parts, header_line = (line[1:].split() or [f"record_{count}"])[0], [], number
        elif identifier is None:
            yield ("problem", None, f"line {number}: sequence before any '>' header")
        else:
            parts.append(line)
    if identifier is not None:
        yield close()


@contextmanager
def open_text(path: str | os.PathLike) -> Iterator[Iterable[str]]:
    """The lines of a text file: `-` is standard input, a gzip file (found by its magic bytes, whatever its name) is
    decompressed. A file that is not UTF-8 text, or a damaged gzip stream, is a `ValueError` naming the file, raised
    where it is found (callers write their outputs atomically, so nothing is half-written)."""
    name = "standard input" if str(path) == "-" else str(path)
    if str(path) == "-":
        handle = sys.stdin
    else:
        with open(path, "rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
        raw = gzip.open(path, "rb") if gzipped else open(path, "rb")
        handle = io.TextIOWrapper(raw, encoding="utf-8")

    def lines():
        try:
            yield from handle
        except UnicodeDecodeError as err:
            raise ValueError(f"{name} is not a text file (byte {err.start} of a chunk is not UTF-8): give a FASTA "
                             "file, plain or gzipped") from None
        except (EOFError, gzip.BadGzipFile, OSError) as err:
            raise ValueError(f"{name}: damaged gzip stream ({err})") from None

    try:
        yield lines()
    finally:
        if handle is not sys.stdin:
            handle.close()


class ProteinRecords:
    """The usable `(id, sequence)` records of a FASTA file (`-`: standard input; plain or gzipped), read lazily; the
    skipped ones are counted in `problems` (see [`iter_fasta`]) as they are met. One pass only.

    Example:
        >>> records = ProteinRecords("proteome.fasta.gz")
        >>> for identifier, sequence in records: ...
        >>> records.problems   # one line per skipped record
    """

    def __init__(self, path: str | os.PathLike):
        self.path, self.problems, self.read = path, [], 0

    def __iter__(self) -> Iterator[tuple[str, str]]:
        with open_text(self.path) as lines:
            for kind, identifier, content in iter_fasta(lines):
                if kind == "problem":
                    self.problems.append(content)
                    continue
                self.read += 1
                yield identifier, content

    def no_protein_error(self) -> ValueError:
        """The error of an input that held no usable protein."""
        name = "standard input" if str(self.path) == "-" else str(self.path)
        why = f": {len(self.problems)} record(s) skipped: " + "; ".join(self.problems[:5]) if self.problems else ""
        return ValueError(f"{name} holds no protein{why}")


def iter_chunks(items: Iterable, size: int) -> Iterator[list]:
    """`items` in lists of `size` (the last one shorter)."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def is_fasta(source) -> bool:
    """True for FASTA text (starts with `>`) or the path of an existing file."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    text = str(source)
    return text.lstrip().startswith(">") or (len(text) < 4096 and os.path.isfile(text))


def read_fasta(source: str | os.PathLike) -> tuple[list[tuple[str, str]], list[str]]:
    """Records `(id, sequence)` of a FASTA file (or of FASTA text starting with `>`), and the problems of the
    records that were skipped (see [`iter_fasta`])."""
    text = str(source)
    if text.lstrip().startswith(">"):
        items = list(iter_fasta(text.splitlines()))
    else:
        with open_text(source) as lines:
            items = list(iter_fasta(lines))
    records = [(i, s) for kind, i, s in items if kind == "record"]
    return records, [s for kind, _, s in items if kind == "problem"]


__all__ = ["ProteinRecords", "is_fasta", "iter_chunks", "iter_fasta", "open_text", "read_fasta"]
