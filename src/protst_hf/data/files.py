"""Writing files so that a reader never sees half of one: [`atomic_open`] writes beside the target and renames it
into place only when the writing finished, and removes the partial file when it did not."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open `path.tmp-PID` for writing; on a clean exit it replaces `path` (one `os.replace`), on an exception it is
    removed and `path` is left as it was (absent, or its previous content).

    Example:
        >>> with atomic_open("scores.tsv") as out:
        ...     out.write("id\\tscore\\n")
    """
    target = Path(path)
    partial = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        with open(partial, mode) as handle:
            yield handle
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """`path`'s whole text, written through [`atomic_open`]."""
    with atomic_open(path) as handle:
        handle.write(text)


__all__ = ["atomic_open", "write_atomic"]
