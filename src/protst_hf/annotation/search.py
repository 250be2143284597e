"""The one search of an annotation reference: MMseqs2 for homologs and the reference's FAISS index for embedding
neighbours ([`search_reference`]), used alike by `annotate` (queries against the whole reference) and by the
cross-fitting of the fusion (reference proteins against the reference without their own fold). Memory is bounded by a
chunk, not by the reference's size: the cross-fit scans the index's own stored vectors a block at a time with the
excluded rows masked (FAISS's exclusion selector takes its sequential path, 11x slower than this on 100k proteins),
only the drawn proteins' embeddings and sequences are read, and the target FASTA of each fold is streamed
(`benchmarks/bench_cross_fit_memory.py`)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.splits import mmseqs_hits, read_sequences, write_fasta
from ..models.protst.index_protst import ProteinIndex

SEARCH_CHUNK = 4096  # queries per FAISS call: (chunk, k) results at a time
SCAN_CHUNK = 2048  # reference rows per block of the masked scan: (queries, chunk) cosines at a time


@dataclass
class Lookup:
    """What a set of query proteins finds in a reference, whatever the field.

    Attributes:
        embeddings: (queries, D) L2-normalised protein embeddings.
        hits: query row -> its MMseqs2 hits `(reference row, identity, bit score)`, best first.
        similarities / rows: (queries, k) cosines and reference rows of the nearest proteins (-1: none).
    """

    embeddings: torch.Tensor
    hits: dict[int, list[tuple[int, float, float]]]
    similarities: np.ndarray
    rows: np.ndarray


def search_reference(sequences: Sequence[str], embeddings: torch.Tensor, targets: Path, index: ProteinIndex,
                     settings: dict, exclude: np.ndarray | None = None, threads: int | None = None,
                     workdir: str | Path | None = None) -> Lookup:
    """Homologs (MMseqs2 over the FASTA `targets`, whose ids are reference rows) and the `settings["neighbours"]`
    nearest reference proteins in `index` (rows in `exclude` never returned) of cleaned `sequences`."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        write_fasta(Path(tmp) / "queries.fasta", ((str(i), s) for i, s in enumerate(sequences)))
        found = mmseqs_hits(Path(tmp) / "queries.fasta", targets, max_hits=settings["max_hits"],
                            sensitivity=settings["sensitivity"], iterations=settings.get("search_iterations", 1),
                            threads=threads, workdir=tmp)
    hits = {int(q): [(int(t), identity, bits) for t, identity, bits in found_hits] for q, found_hits in found.items()}
    k = min(settings["neighbours"], len(index))
    if exclude is not None:
        similarities, rows = nearest_excluding(index, embeddings, k, exclude)
        return Lookup(embeddings, hits, similarities, rows)
    similarities = np.zeros((len(sequences), k), dtype=np.float32)
    rows = np.full(similarities.shape, -1, dtype=np.int64)
    queries = embeddings.numpy()
    for start in range(0, len(queries), SEARCH_CHUNK):
        scores, ids = index.search(queries[start:start + SEARCH_CHUNK], k=k)
        similarities[start:start + len(scores)] = np.nan_to_num(scores, nan=0.0)
        for q, neighbours in enumerate(ids, start=start):
            rows[q, :len(neighbours)] = [int(i) for i in neighbours]
    return Lookup(embeddings, hits, similarities, rows)


def nearest_excluding(index: ProteinIndex, queries: torch.Tensor, k: int,
                      exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The `k` reference rows of highest cosine to each query, never one of `exclude`: the index's stored vectors
    scanned `SCAN_CHUNK` rows at a time (one product per block, the excluded rows masked, a running top-k), so that
    nothing the size of the reference is copied. Returns (queries, k) float32 cosines and int64 rows (-1 and 0 where
    fewer than `k` rows are allowed)."""
    masked = np.zeros(len(index), dtype=bool)
    masked[np.asarray(exclude, dtype=np.int64)] = True
    best_values = torch.full((len(queries), 0), float("-inf"))
    best_rows = torch.zeros((len(queries), 0), dtype=torch.int64)
    for start in range(0, len(index), SCAN_CHUNK):
        block = torch.from_numpy(index.vectors(start, start + SCAN_CHUNK))
        cosines = queries @ block.T  # (queries, block)
        cosines[:, torch.from_numpy(masked[start:start + len(block)])] = float("-inf")
        values, places = cosines.topk(min(k, len(block)), dim=1)
        best_values = torch.cat([best_values, values], dim=1)
        best_rows = torch.cat([best_rows, places + start], dim=1)
        best_values, keep = best_values.topk(min(k, best_values.shape[1]), dim=1)
        best_rows = best_rows.gather(1, keep)
    missing = torch.isinf(best_values)
    return (best_values.masked_fill(missing, 0.0).numpy().astype(np.float32),
            best_rows.masked_fill(missing, -1).numpy())


def cross_fit_folds(clusters: Sequence, proteins: int = 5000, folds: int = 5,
                    seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The cross-fitting draw: the clusters dealt into `folds` folds at random, up to `proteins / folds` proteins
    drawn from each fold. Returns one `(queries, targets)` pair of sorted row arrays per non-empty fold: the drawn
    proteins and every protein of the other folds (never their own cluster), what they are searched against."""
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds}")
    _, cluster_of = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)
    rng = np.random.default_rng(seed)
    fold_of = (rng.permutation(cluster_of.max() + 1) % folds)[cluster_of]
    if len(np.unique(fold_of)) < 2:
        raise ValueError("cross-fitting needs at least 2 clusters in the reference")
    per_fold = -(-proteins // folds)
    draws = []
    for fold in range(folds):
        members = np.flatnonzero(fold_of == fold)
        if len(members):
            queries = np.sort(rng.choice(members, min(per_fold, len(members)), replace=False))
            draws.append((queries, np.flatnonzero(fold_of != fold)))
    return draws


def read_rows(folder: Path, index: ProteinIndex, rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The sequences (the reference's FASTA, streamed) and embeddings (the index's stored vectors, the same float32
    values as the embedding shards) of the reference `rows`: only those rows are held."""
    wanted = {int(r): place for place, r in enumerate(rows)}
    sequences: list[str] = [""] * len(rows)
    for identifier, sequence in read_sequences(folder / "proteins.fasta"):
        if int(identifier) in wanted:
            sequences[wanted[int(identifier)]] = sequence
    return sequences, np.ascontiguousarray(index.vectors()[np.asarray(rows, dtype=np.int64)])


def write_targets(folder: Path, path: Path, exclude: Iterable[int]) -> None:
    """The reference FASTA without the rows of `exclude`, streamed into `path` (a fold's MMseqs2 target)."""
    excluded = {int(r) for r in exclude}
    write_fasta(path, ((i, s) for i, s in read_sequences(folder / "proteins.fasta") if int(i) not in excluded))


def cross_fit_lookup(folder: Path, index: ProteinIndex, settings: dict, clusters: Sequence, proteins: int = 5000,
                     folds: int = 5, seed: int = 0, threads: int | None = None, workdir: str | Path | None = None,
                     progress=None) -> tuple[np.ndarray, Lookup]:
    """Reference proteins looked up as queries from families the reference lacks (cross-fitting): the clusters are
    dealt into `folds` folds, up to `proteins / folds` proteins are drawn from each fold ([`cross_fit_folds`]), and
    each is searched ([`search_reference`]) against the reference proteins of the other folds only.

    Args:
        clusters: the cluster of each reference protein, in row order (e.g. ProtDescribe's `cluster` column, or
            MMseqs2 representatives); proteins of one cluster never find each other.
        progress: called with a line per fold searched (e.g. a logger's `info`).

    Returns:
        `(rows, lookup)`: the drawn proteins' reference rows and what they found (rows of the whole reference).
    """
    draws = cross_fit_folds(clusters, proteins, folds, seed)
    drawn = np.concatenate([queries for queries, _ in draws]).astype(np.int64)
    sequences, embeddings = read_rows(folder, index, drawn)
    hits, similarities, neighbours, start = {}, [], [], 0
    for number, (queries, targets) in enumerate(draws, start=1):
        fold = np.setdiff1d(np.arange(len(clusters)), targets)  # what the fold's queries must not find
        part = slice(start, start + len(queries))
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            write_targets(folder, Path(tmp) / "targets.fasta", fold)
            found = search_reference(sequences[part], torch.from_numpy(embeddings[part]), Path(tmp) / "targets.fasta",
                                     index, settings, exclude=fold, threads=threads, workdir=tmp)
        hits.update({start + q: found_hits for q, found_hits in found.hits.items()})
        similarities.append(found.similarities)
        neighbours.append(found.rows)
        start += len(queries)
        if progress is not None:
            progress(f"cross-fit fold {number}/{len(draws)}: {len(queries)} proteins searched against "
                     f"{len(targets)}")
    lookup = Lookup(torch.from_numpy(embeddings), hits, np.concatenate(similarities), np.concatenate(neighbours))
    return drawn, lookup


__all__ = ["Lookup", "cross_fit_folds", "cross_fit_lookup", "nearest_excluding", "read_rows", "search_reference",
           "write_targets"]
