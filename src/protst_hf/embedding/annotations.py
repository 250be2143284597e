"""Annotations shown beside search hits (`protst search --annotations`): id -> text."""

from pathlib import Path


def load_annotations(path: str | Path | None) -> dict[str, str]:
    """id -> annotation from a TSV (`id<TAB>text`) or a ProtDescribe folder / parquet (`accession`, `prot_name`)."""
    if path is None:
        return {}
    path = Path(path)
    if path.is_dir() or path.suffix == ".parquet":
        import pyarrow.parquet as pq

        files = sorted(path.glob("**/*.parquet")) if path.is_dir() else [path]
        annotations = {}
        for file in files:
            if not {"accession", "prot_name"} <= set(pq.read_schema(file).names):
                continue  # e.g. the `original` config of a ProtDescribe folder
            table = pq.read_table(file, columns=["accession", "prot_name"]).to_pydict()
            annotations.update(zip(table["accession"], table["prot_name"]))
        return annotations
    with open(path) as f:
        return dict(line.rstrip("\n").split("\t", 1) for line in f if "\t" in line)


__all__ = ["load_annotations"]
