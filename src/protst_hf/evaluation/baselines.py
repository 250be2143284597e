"""Baselines scored on the same splits and metrics as the models.

- `majority_baseline`: the most frequent training class (single-label), the training label frequencies as every
  protein's scores (multi-label), the training mean (regression: a constant prediction, whose correlation is
  undefined and reported as NaN).
- `knn_baseline`: non-parametric label transfer over frozen embeddings: the k nearest training proteins by cosine
  (k chosen on validation among 1, 5, 10, 20), votes weighted by similarity (classification) or a weighted mean
  (regression).
- `few_shot_indices` / `nonparametric_few_shot`: the original's few-shot protocol (`run_few_shot*.py`): `shot`
  training proteins per class; the non-parametric classifier scores class c by sum_s exp(-||x - e_cs||^2) over its
  shots' frozen embeddings (computed in log space here, where the original's `exp` underflows to 0 for
  1280-d features); the parametric one trains the frozen protocol's head on the shots (the harness does that).
- `homology_baseline`: nearest-homolog label transfer with MMseqs2: each test protein takes the labels of its
  best-scoring training hit (bit score); proteins without a hit fall back to the majority baseline, and how many
  did is reported (`coverage`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .metrics import compute
from .tasks import TaskData


def _prior_scores(data: TaskData, n: int) -> np.ndarray:
    train = data.splits["train"].labels
    if data.task.label_type == "regression":
        return np.full(n, float(train.mean()), dtype=np.float64)
    if data.task.label_type == "multi_label":
        return np.tile(train.mean(0), (n, 1))
    counts = np.bincount(train, minlength=data.num_labels).astype(np.float64)
    return np.tile(counts / counts.sum(), (n, 1))


def _score(data: TaskData, split: str, scores: np.ndarray) -> dict[str, float]:
    labels = data.splits[split].labels
    return {name: compute(name, labels, scores) for name in data.task.metrics}


def majority_baseline(data: TaskData, split: str = "test") -> dict:
    return {"test": _score(data, split, _prior_scores(data, len(data.splits[split])))}


def knn_scores(data: TaskData, train_features: np.ndarray, features: np.ndarray, k: int) -> np.ndarray:
    """Scores of `features` from their k most similar training proteins (cosine)."""
    def normalise(x):
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    similarity = normalise(features) @ normalise(train_features).T  # (N, N_train)
    k = min(k, similarity.shape[1])
    neighbours = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    weights = np.maximum(np.take_along_axis(similarity, neighbours, 1), 0) + 1e-6
    train = data.splits["train"].labels
    if data.task.label_type == "regression":
        return (train[neighbours] * weights).sum(1) / weights.sum(1)
    if data.task.label_type == "multi_label":
        return (train[neighbours] * weights[..., None]).sum(1) / weights.sum(1, keepdims=True)
    scores = np.zeros((len(features), data.num_labels))
    np.add.at(scores, (np.arange(len(features))[:, None], train[neighbours]), weights)
    return scores / scores.sum(1, keepdims=True)


def knn_baseline(data: TaskData, features: dict[str, np.ndarray], ks=(1, 5, 10, 20)) -> dict:
    """k-NN label transfer; `features` maps split -> `(N, D)` frozen embeddings."""
    first = data.task.metrics[0]
    chosen, best = ks[0], None
    for k in ks:
        value = _score(data, "validation", knn_scores(data, features["train"], features["validation"], k))[first]
        if best is None or (not np.isnan(value) and value > best):
            chosen, best = k, value
    test = _score(data, "test", knn_scores(data, features["train"], features["test"], chosen))
    return {"test": test, "k": chosen, "validation": {first: best}}


def few_shot_indices(labels: np.ndarray, shot: int, seed: int) -> np.ndarray:
    """`shot` training rows per class (drawn with replacement where a class has fewer), as the original samples."""
    rng = np.random.default_rng(seed)
    rows = []
    for label in np.unique(labels):
        members = np.nonzero(labels == label)[0]
        rows.append(rng.choice(members, size=shot, replace=len(members) < shot))
    return np.concatenate(rows)


def nonparametric_few_shot(data: TaskData, features: dict[str, np.ndarray], shot: int, seeds: int = 3) -> dict:
    """Kernel class scores from `shot` examples per class, mean and std over `seeds` draws (single-label tasks)."""
    import torch

    values = []
    for seed in range(seeds):
        rows = few_shot_indices(data.splits["train"].labels, shot, seed)
        support = torch.from_numpy(features["train"][rows]).double()
        support_labels = torch.from_numpy(data.splits["train"].labels[rows])
        test = torch.from_numpy(features["test"]).double()
        log_kernel = -torch.cdist(test, support) ** 2  # (N, C * shot)
        scores = torch.full((len(test), data.num_labels), -float("inf"), dtype=torch.float64)
        for label in support_labels.unique():
            scores[:, label] = torch.logsumexp(log_kernel[:, support_labels == label], dim=1)
        values.append(_score(data, "test", scores.softmax(-1).numpy()))
    summary = {name: {"mean": float(np.mean([v[name] for v in values])),
                      "std": float(np.std([v[name] for v in values], ddof=1)) if seeds > 1 else 0.0}
               for name in values[0]}
    return {"test": {name: value["mean"] for name, value in summary.items()}, "summary": summary, "shot": shot}


def homology_scores(data: TaskData, split: str = "test", identity: float = 0.0,
                    workdir: str | Path | None = None) -> tuple[np.ndarray, dict]:
    """Nearest-homolog scores for `split` and a report (`hits`, `coverage`, median identity of the hits)."""
    from ..data.splits import mmseqs_best_hits, write_fasta

    train, query = data.splits["train"], data.splits[split]
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        write_fasta(Path(tmp) / "train.fasta", ((f"t{i}", s) for i, s in enumerate(train.sequences)))
        write_fasta(Path(tmp) / "query.fasta", ((f"q{i}", s) for i, s in enumerate(query.sequences)))
        hits = mmseqs_best_hits(Path(tmp) / "query.fasta", Path(tmp) / "train.fasta", min_identity=identity,
                                workdir=tmp)
    scores = _prior_scores(data, len(query)).astype(np.float64)
    identities = []
    for query_id, (target_id, fident, _bits) in hits.items():
        row, target = int(query_id[1:]), int(target_id[1:])
        label = train.labels[target]
        if data.task.label_type == "regression":
            scores[row] = label
        elif data.task.label_type == "multi_label":
            scores[row] = label  # the homolog's label set, as 0/1 scores
        else:
            scores[row] = np.eye(data.num_labels)[label]
        identities.append(fident)
    report = {"hits": len(hits), "proteins": len(query), "coverage": len(hits) / max(len(query), 1),
              "median_identity": float(np.median(identities)) if identities else None,
              "no_hit": "majority / mean of train"}
    return scores, report


def homology_baseline(data: TaskData, split: str = "test", identity: float = 0.0) -> dict:
    scores, report = homology_scores(data, split, identity)
    return {"test": _score(data, split, scores), **report}


__all__ = ["few_shot_indices", "homology_baseline", "homology_scores", "knn_baseline", "knn_scores",
           "majority_baseline", "nonparametric_few_shot"]
