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
  did is reported (`coverage`). [`transfer_from_hits`] is the transfer itself, also in CAFA's form (the hit's labels
  scored by its identity, no prediction without a hit: CAFA's "BLAST" baseline).
- `linear_probe`: a linear classifier on standardised frozen features (softmax for single-label targets, one
  sigmoid per label for multi-label ones), its L2 penalty chosen on held-out rows: the one probe of the package and
  its benchmarks.
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
    labels = train.labels
    if data.task.label_type == "single_label":
        labels = np.eye(data.num_labels)[labels]
    elif data.task.label_type == "regression":
        labels = labels.reshape(-1, 1)
    fallback = _prior_scores(data, len(query)).astype(np.float64).reshape(len(query), -1)
    scores = transfer_from_hits(hits, labels, len(query), score="binary", fallback=fallback)
    scores = scores.reshape(-1) if data.task.label_type == "regression" else scores
    identities = [fident for _target, fident, _bits in hits.values()]
    report = {"hits": len(hits), "proteins": len(query), "coverage": len(hits) / max(len(query), 1),
              "median_identity": float(np.median(identities)) if identities else None,
              "no_hit": "majority / mean of train"}
    return scores, report


def transfer_from_hits(hits: dict[str, tuple[str, float, float]], train_labels: np.ndarray, num_queries: int,
                       score: str = "binary", fallback: np.ndarray | None = None) -> np.ndarray:
    """(num_queries, labels) scores transferred from each query's best training hit.

    Args:
        hits: `{"q<row>": ("t<training row>", identity, bits)}`, as [`mmseqs_best_hits`] returns for FASTA files
            whose ids are `q0, q1, ...` and `t0, t1, ...`.
        train_labels: (training proteins, labels) label matrix (0/1, or values to copy).
        score: `"binary"`: the hit's labels as they are (the homolog's label set); `"identity"`: each of the hit's
            labels scored by the hit's identity in [0, 1] (CAFA's BLAST baseline).
        fallback: (num_queries, labels) scores of queries without a hit (e.g. the training frequencies); None: no
            prediction (0).
    """
    if score not in ("binary", "identity"):
        raise ValueError(f"score must be 'binary' or 'identity', got {score!r}")
    train_labels = np.asarray(train_labels)
    out = np.zeros((num_queries, train_labels.shape[1]), dtype=np.float64) if fallback is None else \
        np.array(fallback, dtype=np.float64)
    for query_id, (target_id, identity, _bits) in hits.items():
        row, labels = int(query_id[1:]), train_labels[int(target_id[1:])]
        out[row] = labels * identity if score == "identity" else labels
    return out


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, multi_label: bool = False,
                 l2_grid: tuple[float, ...] = (0.0,), held_out: np.ndarray | None = None, epochs: int = 10,
                 batch_size: int = 512, learning_rate: float = 3e-3, seed: int = 0) -> np.ndarray:
    """Scores of a linear probe on frozen features: one linear layer on standardised features, trained with Adam;
    softmax cross-entropy over the labels (a row with several labels spreads its target evenly over them), or with
    `multi_label` one logistic output per label (binary cross-entropy), biases started at the label frequencies.

    Args:
        train_x: (N, D) training features; `test_x`: (M, D).
        train_y: (N, labels) 0/1 (or boolean) targets.
        multi_label: independent labels (sigmoid) instead of one distribution over them (softmax).
        l2_grid: L2 penalties tried; with more than one, the one whose probe trained on the rows outside `held_out`
            scores best on the `held_out` rows (accuracy of the top label for single-label targets, the negative
            loss for multi-label ones) is used to train on every row.
        held_out: (N,) boolean mask of the rows that choose the penalty.

    Returns:
        (M, labels) float32 probabilities (rows sum to 1 for single-label targets).
    """
    import torch

    train_y = np.asarray(train_y)
    if len(l2_grid) > 1:
        if held_out is None or not held_out.any() or held_out.all():
            raise ValueError("choosing among several L2 penalties needs held-out rows (and rows to train on)")
        fitted = {}
        for l2 in l2_grid:
            scores = linear_probe(train_x[~held_out], train_y[~held_out], train_x[held_out], multi_label, (l2,),
                                  epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed)
            truth = train_y[held_out].astype(bool)
            if multi_label:
                p = np.clip(scores, 1e-7, 1 - 1e-7)
                fitted[l2] = float(np.mean(truth * np.log(p) + ~truth * np.log(1 - p)))
            else:
                fitted[l2] = float(np.mean(truth[np.arange(len(truth)), scores.argmax(1)]))
        l2_grid = (max(fitted, key=fitted.get),)
    torch.manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    x = torch.from_numpy((train_x - mean) / std).float()
    y = torch.from_numpy(train_y)
    frequency = torch.from_numpy(train_y.mean(0).astype(np.float64)).float().clamp(1e-4, 1 - 1e-4)
    head = torch.nn.Linear(x.shape[1], y.shape[1])
    with torch.no_grad():  # start at the training frequencies
        head.bias.copy_(torch.logit(frequency) if multi_label else frequency.log())
    optimizer = torch.optim.Adam(head.parameters(), lr=learning_rate, weight_decay=l2_grid[0])
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            target = y[batch].float()
            logits = head(x[batch])
            if multi_label:
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
            else:
                loss = torch.nn.functional.cross_entropy(logits, target / target.sum(1, keepdim=True).clamp(min=1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        logits = head(torch.from_numpy((test_x - mean) / std).float())
        return (torch.sigmoid(logits) if multi_label else logits.softmax(-1)).numpy()


def homology_baseline(data: TaskData, split: str = "test", identity: float = 0.0) -> dict:
    scores, report = homology_scores(data, split, identity)
    return {"test": _score(data, split, scores), **report}


__all__ = ["few_shot_indices", "homology_baseline", "homology_scores", "knn_baseline", "knn_scores", "linear_probe",
           "majority_baseline", "nonparametric_few_shot", "transfer_from_hits"]
