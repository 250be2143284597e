"""Homology-aware splits with MMseqs2, a random fallback, and benchmark leakage reports.

MMseqs2 (`apt-get install mmseqs2`, or conda `bioconda::mmseqs2`) clusters sequences at a chosen identity; whole
clusters go to one split, so no training protein has a close homolog in validation or test. Without MMseqs2 the
functions here raise a clear error: the random split is only ever used when asked for.
"""

import csv
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..models.protst.fasta_protst import iter_fasta

SPLIT_NAMES = ("train", "validation", "test")


class MMseqsNotFound(RuntimeError):
    """MMseqs2 is needed and not installed."""


def mmseqs_path() -> str | None:
    return shutil.which("mmseqs")


def require_mmseqs(purpose: str) -> str:
    path = mmseqs_path()
    if path is None:
        hint = " For a split that ignores homology, ask for it explicitly: --split random." if "split" in purpose \
            else ""
        raise MMseqsNotFound(
            f"{purpose} needs MMseqs2, which is not installed (`apt-get install mmseqs2`, or "
            f"`conda install -c bioconda mmseqs2`).{hint}"
        )
    return path


def write_fasta(path: str | Path, records: Iterable[tuple[str, str]]) -> int:
    """Write `(id, sequence)` pairs as FASTA; returns the count."""
    count = 0
    with open(path, "w") as f:
        for identifier, sequence in records:
            f.write(f">{identifier}\n{sequence}\n")
            count += 1
    return count


def read_sequences(path: str | Path) -> Iterator[tuple[str, str]]:
    """`(id, sequence)` pairs of a FASTA file, or of a CSV/TSV file with a `sequence` column (ids from an `id`,
    `accession` or `name` column, else the row number). Residues written space-separated are joined."""
    path = Path(path)
    with open(path) as f:
        head = f.read(1)
    if head == ">":
        with open(path) as f:
            for kind, identifier, sequence in iter_fasta(f, validate=False):
                if kind == "record":
                    yield identifier, sequence
        return
    delimiter = "\t" if path.suffix in (".tsv", ".tab") else ","
    with open(path, newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        columns = {c.lower(): c for c in reader.fieldnames or []}
        if "sequence" not in columns:
            raise ValueError(f"{path}: no `sequence` column (columns: {reader.fieldnames})")
        id_column = next((columns[c] for c in ("id", "accession", "name", "entry") if c in columns), None)
        for number, row in enumerate(reader):
            identifier = row[id_column] if id_column else str(number)
            yield identifier, "".join(row[columns["sequence"]].split()).upper()


def mmseqs_cluster(
    fasta: str | Path, identity: float = 0.5, coverage: float = 0.8, threads: int | None = None,
    workdir: str | Path | None = None,
) -> dict[str, str]:
    """Cluster with `mmseqs easy-cluster`; returns member id -> representative id."""
    binary = require_mmseqs("a homology-aware split")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        prefix = Path(tmp) / "clusters"
        command = [binary, "easy-cluster", str(fasta), str(prefix), str(Path(tmp) / "work"),
                   "--min-seq-id", str(identity), "-c", str(coverage), "--cov-mode", "0", "-v", "1"]
        if threads:
            command += ["--threads", str(threads)]
        _run(command)
        clusters = {}
        with open(f"{prefix}_cluster.tsv") as f:
            for line in f:
                representative, member = line.rstrip("\n").split("\t")
                clusters[member] = representative
    return clusters


def _easy_search(purpose: str, query_fasta, target_fasta, options: list[str], columns: list[str],
                 threads: int | None, workdir) -> list[list[str]]:
    """`mmseqs easy-search` of `query_fasta` against `target_fasta` with `options`: the rows of the `columns` asked
    for (`--format-output`), as strings. The one wrapper of the two searches below."""
    binary = require_mmseqs(purpose)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        out = Path(tmp) / "hits.m8"
        command = [binary, "easy-search", str(query_fasta), str(target_fasta), str(out), str(Path(tmp) / "work"),
                   *options, "--format-output", ",".join(columns), "-v", "1"]
        if threads:
            command += ["--threads", str(threads)]
        _run(command)
        with open(out) as f:
            return [line.rstrip("\n").split("\t") for line in f]


def mmseqs_search(
    query_fasta: str | Path, target_fasta: str | Path, identity: float = 0.5, coverage: float = 0.5,
    threads: int | None = None, workdir: str | Path | None = None,
) -> list[tuple[str, str, float]]:
    """`mmseqs easy-search` hits `(query, target, identity in [0, 1])` at or above `identity`."""
    rows = _easy_search("a leakage report", query_fasta, target_fasta,
                        ["--min-seq-id", str(identity), "-c", str(coverage), "--cov-mode", "0"],
                        ["query", "target", "fident"], threads, workdir)
    return [(query, target, float(fident)) for query, target, fident in rows if float(fident) >= identity]


def mmseqs_hits(
    query_fasta: str | Path, target_fasta: str | Path, max_hits: int = 10, min_identity: float = 0.0,
    sensitivity: float = 7.5, evalue: float = 10.0, threads: int | None = None, workdir: str | Path | None = None,
    iterations: int = 1,
) -> dict[str, list[tuple[str, float, float]]]:
    """Each query's `mmseqs easy-search` hits, best first: `{query: [(target, identity in [0, 1], bits), ...]}`, at
    most `max_hits` per query, one per target (its best alignment), ordered by bit score, then identity, then as
    listed. Queries without a hit (at `evalue`, `sensitivity` -s, no coverage limit) are absent.

    Args:
        query_fasta, target_fasta: FASTA files (or MMseqs2 databases).
        max_hits: hits kept per query (DeepGOPlus's DiamondScore weighs every hit kept by its bit score).
        min_identity: `--min-seq-id`.
        sensitivity: `-s` (7.5: the most sensitive preset, for remote homologs).
        evalue: `-e`, the largest e-value kept.
        iterations: `--num-iterations`; above 1, an iterative profile search (as PSI-BLAST), which finds more
            distant hits. For GO transfer it is worse than one search: the profile drifts to unrelated families
            (benchmarks/studies/go_fusion_alternatives.py).
    """
    if iterations < 1:
        raise ValueError(f"iterations must be 1 or more, got {iterations}")
    options = ["--min-seq-id", str(min_identity), "-s", str(sensitivity), "-e", str(evalue)]
    if iterations > 1:
        options += ["--num-iterations", str(iterations)]
    rows = _easy_search("homology transfer", query_fasta, target_fasta, options, ["query", "target", "fident", "bits"],
                        threads, workdir)
    found: dict[str, dict[str, tuple[float, float, int]]] = {}
    for order, (query, target, fident, bits) in enumerate(rows):
        best = found.setdefault(query, {})
        key = (float(bits), float(fident), -order)
        if target not in best or key > best[target]:
            best[target] = key
    return {query: [(target, fident, bits) for target, (bits, fident, _) in
                    sorted(targets.items(), key=lambda item: item[1], reverse=True)[:max_hits]]
            for query, targets in found.items()}


def mmseqs_best_hits(
    query_fasta: str | Path, target_fasta: str | Path, min_identity: float = 0.0, sensitivity: float = 7.5,
    threads: int | None = None, workdir: str | Path | None = None,
) -> dict[str, tuple[str, float, float]]:
    """Each query's best `mmseqs easy-search` hit by bit score: `{query: (target, identity in [0, 1], bits)}`
    ([`mmseqs_hits`]'s first). Queries without a hit (e-value 10, `sensitivity` -s, no coverage limit) are absent."""
    hits = mmseqs_hits(query_fasta, target_fasta, max_hits=1, min_identity=min_identity, sensitivity=sensitivity,
                       threads=threads, workdir=workdir)
    return {query: found[0] for query, found in hits.items()}


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} failed ({completed.returncode}): {completed.stderr[-2000:]}")


def assign_splits(groups: np.ndarray, ratios: tuple[float, float, float], seed: int = 0) -> np.ndarray:
    """Assign whole groups (clusters) to train / validation / test.

    Args:
        groups: (num_rows,) group id of each row.
        ratios: fractions of rows for train, validation, test (summing to 1).
        seed: order in which groups are drawn.

    Returns:
        (num_rows,) int8 split index (0 train, 1 validation, 2 test). Groups are drawn in a seeded random order
        and fill validation, then test, up to their targets; a group larger than what a held-out split still
        needs goes to train, so held-out splits never overshoot.
    """
    if len(ratios) != 3 or abs(sum(ratios) - 1.0) > 1e-6 or min(ratios) < 0:
        raise ValueError(f"split ratios must be three non-negative fractions summing to 1, got {ratios}")
    unique, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    targets = [int(round(ratios[1] * len(groups))), int(round(ratios[2] * len(groups)))]
    filled = [0, 0]
    group_split = np.zeros(len(unique), dtype=np.int8)
    for group in order:
        for held_out in (0, 1):
            if filled[held_out] + sizes[group] <= targets[held_out]:
                group_split[group] = held_out + 1
                filled[held_out] += sizes[group]
                break
    return group_split[inverse]


__all__ = [
    "MMseqsNotFound",
    "SPLIT_NAMES",
    "assign_splits",
    "mmseqs_cluster",
    "mmseqs_hits",
    "mmseqs_path",
    "mmseqs_search",
    "read_sequences",
    "require_mmseqs",
    "write_fasta",
]
