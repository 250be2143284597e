"""Files of labels and class frequencies a user gives zero-shot classification (`protst classify --labels-file`,
`--prior FILE`)."""

from __future__ import annotations

import json
from pathlib import Path


def read_labels_file(path: str | Path) -> tuple[list[str] | None, list[str]]:
    """(ids or None, names) of a labels file: one label name per line (`ATP binding`), or an id and a name per line
    separated by a tab (`GO:0005524<TAB>ATP binding`: the id is what the output names, the name what is put into the
    prompt). A first line `id<TAB>name` (or `go_id`, `label`) is a header. Blank lines are skipped; a name or id
    given twice, or a mix of one- and two-column lines, is an error naming the line."""
    ids, names, seen = [], [], set()
    with open(path) as handle:
        lines = [(number, line.rstrip("\n\r")) for number, line in enumerate(handle, start=1) if line.strip()]
    if lines and lines[0][1].split("\t")[0].strip().lower() in ("id", "go_id", "label", "term"):
        lines = lines[1:]
    if not lines:
        raise ValueError(f"{path}: no labels")
    columns = len(lines[0][1].split("\t"))
    for number, line in lines:
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) != columns or columns > 2 or not all(fields):
            raise ValueError(f"{path}, line {number}: expected {'an id and a name' if columns == 2 else 'a name'} "
                             f"per line (tab-separated), got {line!r}")
        key = fields[0]
        if key in seen or (columns == 2 and fields[1] in names):
            raise ValueError(f"{path}, line {number}: {fields[-1] if columns == 2 else key!r} is listed twice")
        seen.add(key)
        ids.append(fields[0])
        names.append(fields[-1])
    return (ids if columns == 2 else None), names


def read_class_frequencies(path: str | Path) -> dict[str, float]:
    """Class frequencies from a JSON object (`{"Nucleus": 0.3, ...}`) or a two-column TSV (name, frequency)."""
    path = str(path)
    if not Path(path).is_file():
        raise ValueError(f"--prior must be auto, uniform, training or a file of class frequencies; {path!r} is none")
    text = Path(path).read_text()
    if path.endswith(".json"):
        return {str(k): float(v) for k, v in json.loads(text).items()}
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    if any(len(r) != 2 for r in rows):
        raise ValueError(f"{path}: each line must be 'name<TAB>frequency'")
    return {name.strip(): float(value) for name, value in rows}


__all__ = ["read_class_frequencies", "read_labels_file"]
