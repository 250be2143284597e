"""FASTA input: streamed records with every skipped record named (a sequence before any header, an empty sequence, a
character that is not a residue).

This file is shipped to the Hub with saved models (the pipelines import it): it imports its siblings only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

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
        with open(source) as f:
            items = list(iter_fasta(f))
    records = [(i, s) for kind, i, s in items if kind == "record"]
    return records, [s for kind, _, s in items if kind == "problem"]


__all__ = ["is_fasta", "iter_fasta", "read_fasta"]
