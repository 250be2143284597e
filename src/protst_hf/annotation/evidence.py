"""The evidence an annotation is fused from, each a `(queries, labels)` float32 matrix of scores in [0, 1]:

- `homology_evidence`: the labels of a query's MMseqs2 hits, each hit weighted by its bit score (DeepGOPlus's
  DiamondScore, Kulmanov & Hoehndorf 2020: S(q, l) = sum of the bit scores of the hits annotated with l / sum of
  the bit scores of all hits);
- `best_hit_evidence`: the labels of the best hit scored by its identity (CAFA's BLAST baseline, Radivojac et al.
  2013): it keeps how close the nearest homolog is, which DiamondScore normalises away (one distant hit scores 1);
- `neighbour_evidence`: the labels of a query's k nearest reference proteins in the model's embedding space,
  weighted by cosine similarity (goPredSim's embedding transfer, Littmann et al. 2021, with k neighbours);
- the zero-shot posterior (ProtST's text side) and the reference's label frequencies (CAFA's naive predictor) are
  computed by [`AnnotationReference`](reference.py) from the model and the label table.

A reference protein's labels are a compressed sparse row table (`LabelTable`): for a multi-label field (GO terms,
already propagated over the ontology) each label counts 1; for a single-label field a protein with several classes
(DeepLoc's multi-localised proteins) spreads one vote evenly over them, so every transferred row sums to 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class LabelTable:
    """The labels of each reference protein, as CSR arrays over label indices.

    Attributes:
        indptr: (proteins + 1,) int64 offsets into `indices`.
        indices: int32 label indices of every protein, in protein order.
        num_labels: the width of the label space.
        single_label: a protein's vote is spread over its labels (rows sum to 1) instead of 1 per label.
    """

    indptr: np.ndarray
    indices: np.ndarray
    num_labels: int
    single_label: bool = False

    @classmethod
    def from_sets(cls, label_sets: Sequence[Sequence[int]], num_labels: int, single_label: bool = False) -> LabelTable:
        lengths = np.fromiter((len(s) for s in label_sets), dtype=np.int64, count=len(label_sets))
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        indices = np.fromiter((i for s in label_sets for i in sorted(s)), dtype=np.int32, count=int(indptr[-1]))
        if len(indices) and (indices.min() < 0 or indices.max() >= num_labels):
            raise ValueError(f"label indices must lie in [0, {num_labels})")
        return cls(indptr, indices, int(num_labels), bool(single_label))

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def row(self, protein: int) -> np.ndarray:
        return self.indices[self.indptr[protein]:self.indptr[protein + 1]]

    def votes(self, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """(queries, labels) float64 sums of `weights[q, j]` over each query's reference proteins `rows[q, j]` (-1:
        none), per label; a single-label table splits each protein's weight over its labels."""
        queries = rows.shape[0]
        out = np.zeros(queries * self.num_labels, dtype=np.float64)
        valid = rows >= 0
        query_index = np.broadcast_to(np.arange(queries)[:, None], rows.shape)[valid]
        proteins, weight = rows[valid], weights[valid]
        starts, ends = self.indptr[proteins], self.indptr[proteins + 1]
        counts = ends - starts
        if self.single_label:
            weight = np.where(counts > 0, weight / np.maximum(counts, 1), 0.0)
        # every (query, label) pair of every hit, expanded without a Python loop
        repeat = np.repeat(np.arange(len(proteins)), counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        labels = self.indices[np.repeat(starts, counts) + offsets]
        out += np.bincount(query_index[repeat] * self.num_labels + labels, weights=weight[repeat],
                           minlength=len(out))
        return out.reshape(queries, self.num_labels)

    def dense(self, rows: np.ndarray | None = None) -> np.ndarray:
        """(proteins, labels) boolean membership of `rows` (default: every protein)."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows)
        out = np.zeros((len(rows), self.num_labels), dtype=bool)
        for r, protein in enumerate(rows):
            out[r, self.row(int(protein))] = True
        return out

    def frequencies(self) -> np.ndarray:
        """(labels,) the share of reference proteins holding each label (single-label: the share of votes)."""
        counts = np.diff(self.indptr)
        weight = 1.0 / np.maximum(counts, 1) if self.single_label else np.ones(len(counts))
        out = np.bincount(self.indices, weights=np.repeat(weight, counts), minlength=self.num_labels)
        return out / max(len(self), 1)


def _normalised(votes: np.ndarray, totals: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(totals[:, None] > 0, votes / totals[:, None], 0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def homology_evidence(hits: Mapping[int, Sequence[tuple[int, float, float]]], table: LabelTable,
                      num_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """DiamondScore transfer from MMseqs2 hits.

    Args:
        hits: query row -> its hits `(reference row, identity in [0, 1], bit score)`, best first
            ([`mmseqs_hits`] with the rows as ids).
        table: the reference proteins' labels.
        num_queries: rows of the output (queries without a hit score 0 everywhere).

    Returns:
        `(scores, best_identity)`: (queries, labels) float32 in [0, 1], and (queries,) the identity of each query's
        best hit by bit score (NaN: no hit).
    """
    width = max((len(h) for h in hits.values()), default=0)
    rows = np.full((num_queries, max(width, 1)), -1, dtype=np.int64)
    bits = np.zeros(rows.shape, dtype=np.float64)
    best_identity = np.full(num_queries, np.nan)
    for query, found in hits.items():
        for j, (target, _identity, bit_score) in enumerate(found):
            rows[query, j], bits[query, j] = target, bit_score
        if found:
            best_identity[query] = found[0][1]
    return _normalised(table.votes(rows, bits), bits.sum(1)), best_identity


def best_hit_evidence(hits: Mapping[int, Sequence[tuple[int, float, float]]], table: LabelTable,
                      num_queries: int) -> np.ndarray:
    """(queries, labels) float32: the labels of each query's best hit (the first of `hits`, by bit score) scored by
    its identity in [0, 1] (queries without a hit score 0; a single-label hit's classes share its identity)."""
    rows = np.full((num_queries, 1), -1, dtype=np.int64)
    identity = np.zeros(rows.shape, dtype=np.float64)
    for query, found in hits.items():
        if found:
            rows[query, 0], identity[query, 0] = found[0][0], found[0][1]
    return np.clip(table.votes(rows, identity), 0.0, 1.0).astype(np.float32)


def hit_evidence(hits: Mapping[int, Sequence[tuple[int, float, float]]], table: LabelTable,
                 num_queries: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The evidences that need nothing but MMseqs2 hits: `{"homology": DiamondScore, "best_hit": best hit x
    identity}` ([`homology_evidence`], [`best_hit_evidence`]), and (queries,) each query's best-hit identity (NaN:
    no hit)."""
    homology, best_identity = homology_evidence(hits, table, num_queries)
    return {"homology": homology, "best_hit": best_hit_evidence(hits, table, num_queries)}, best_identity


def neighbour_evidence(similarities: np.ndarray, rows: np.ndarray, table: LabelTable) -> np.ndarray:
    """Transfer from the k nearest reference proteins by cosine: each neighbour weighted by max(cosine, 0).

    Args:
        similarities: (queries, k) cosines of the neighbours (FAISS inner products of normalised embeddings).
        rows: (queries, k) their reference rows (-1: none).
        table: the reference proteins' labels.
    """
    weights = np.where(rows >= 0, np.maximum(similarities, 0.0), 0.0).astype(np.float64)
    return _normalised(table.votes(rows, weights), weights.sum(1))


class Supporters:
    """Which reference protein supports a query's label most: the best MMseqs2 hit holding the label (with its
    identity) where homology (DiamondScore and best hit) carries the larger share of the fused score, the nearest
    embedding neighbour holding it (with its cosine) where the neighbours do. Computed for the labels written only.

    Args:
        hits: query row -> MMseqs2 hits `(reference row, identity, bit score)`, best first (`Lookup.hits`).
        similarities / rows: (queries, k) the nearest reference proteins' cosines and rows (`Lookup`).
        table: the field's labels of the reference proteins.
        accessions: each reference row's accession.
    """

    def __init__(self, hits, similarities: np.ndarray, rows: np.ndarray, table: LabelTable, accessions):
        self.hits, self.similarities, self.rows, self.table, self.accessions = hits, similarities, rows, table, \
            accessions

    def best_hit(self, query: int) -> tuple[str, float] | None:
        """The query's best MMseqs2 hit (by bit score) as `(accession, identity)`, or None without a hit."""
        found = self.hits.get(query)
        return (self.accessions[found[0][0]], float(found[0][1])) if found else None

    def _holds(self, row: int, label: int) -> bool:
        labels = self.table.row(row)
        at = np.searchsorted(labels, label)
        return bool(at < len(labels) and labels[at] == label)

    def __call__(self, query: int, label: int, homology_share: float, neighbour_share: float,
                 ) -> tuple[str, str, float] | None:
        """`("identity", accession, identity)` or `("cosine", accession, cosine)` from the evidence with the larger
        share of the score (homology first on a tie), or None when neither contributes (a score from the text or
        the frequencies alone)."""
        if homology_share > 0 and homology_share >= neighbour_share:
            hit = next(((r, i) for r, i, _ in self.hits.get(query, ()) if self._holds(r, label)), None)
            if hit is not None:
                return "identity", self.accessions[hit[0]], float(hit[1])
        if neighbour_share > 0:
            found = next(((int(r), float(c)) for r, c in zip(self.rows[query], self.similarities[query])
                          if r >= 0 and self._holds(int(r), label)), None)
            if found is not None:
                return "cosine", self.accessions[found[0]], found[1]
        return None


__all__ = ["LabelTable", "Supporters", "best_hit_evidence", "hit_evidence", "homology_evidence", "neighbour_evidence"]
