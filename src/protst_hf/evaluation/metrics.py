"""Benchmark metrics as plain functions on numpy arrays (checked against scikit-learn and scipy in the tests).

- `accuracy`, `mcc` (multi-class Matthews correlation): `y_true` class ids `(N,)`, `y_score` either class ids
  `(N,)` or scores `(N, C)` (argmax is taken).
- `macro_f1`: the mean over classes of each class's F1 (classes absent from both sides left out), as
  `sklearn.metrics.f1_score(average="macro")` over the classes present; DeepLoc 2.0's measure for unbalanced classes.
- `spearman`, `pearson`: regression, `(N,)` each; NaN when either side is constant (the correlation is undefined).
- `f1_max`: protein-centric maximum F1 over thresholds, as CAFA and DeepFRI define it (precision averaged over
  proteins with at least one prediction above the threshold, recall over all proteins with a label).
- `auprc_micro`: area under the micro-averaged precision-recall curve (pairs of protein and label flattened),
  computed as average precision, like `sklearn.metrics.average_precision_score(average="micro")`.
- `zero_shot_report`: what a zero-shot classifier's predictions say beside its baselines: accuracy (a prediction
  is right when it is one of the protein's labels: localization is multi-label), balanced accuracy (the mean over
  classes of each class's recall), per-class recall, the histogram of predictions, and the majority class.
"""

from __future__ import annotations

import numpy as np


def _classes(y_score: np.ndarray) -> np.ndarray:
    y_score = np.asarray(y_score)
    return y_score.argmax(-1) if y_score.ndim == 2 else y_score.astype(np.int64)


def accuracy(y_true, y_score) -> float:
    y_true = np.asarray(y_true).astype(np.int64)
    return float((_classes(y_score) == y_true).mean())


def mcc(y_true, y_score) -> float:
    """Multi-class Matthews correlation (Gorodkin's R_K), 0 when a side predicts one class only."""
    y_true, y_pred = np.asarray(y_true).astype(np.int64), _classes(y_score)
    n = max(y_true.max(initial=0), y_pred.max(initial=0)) + 1
    confusion = np.zeros((n, n), dtype=np.float64)
    np.add.at(confusion, (y_true, y_pred), 1)
    t, p = confusion.sum(1), confusion.sum(0)
    c, s = np.trace(confusion), confusion.sum()
    denominator = np.sqrt(s**2 - p @ p) * np.sqrt(s**2 - t @ t)
    return float((c * s - t @ p) / denominator) if denominator else 0.0


def macro_f1(y_true, y_score) -> float:
    """Mean F1 over the classes that occur in `y_true` or in the predictions."""
    y_true, y_pred = np.asarray(y_true).astype(np.int64), _classes(y_score)
    n = max(y_true.max(initial=0), y_pred.max(initial=0)) + 1
    true_positives = np.bincount(y_true[y_true == y_pred], minlength=n)
    true_count, predicted_count = np.bincount(y_true, minlength=n), np.bincount(y_pred, minlength=n)
    present = (true_count + predicted_count) > 0
    if not present.any():
        return float("nan")
    return float((2 * true_positives[present] / (true_count[present] + predicted_count[present])).mean())


def _rank(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank), as `scipy.stats.rankdata`."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def pearson(y_true, y_score) -> float:
    x, y = np.asarray(y_true, dtype=np.float64).ravel(), np.asarray(y_score, dtype=np.float64).ravel()
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / denominator) if denominator else float("nan")


def spearman(y_true, y_score) -> float:
    return pearson(_rank(np.asarray(y_true, dtype=np.float64).ravel()),
                   _rank(np.asarray(y_score, dtype=np.float64).ravel()))


def _at_or_above(places: np.ndarray, rows: int, levels: int) -> np.ndarray:
    """(rows, levels) counts of scores at or above each threshold, from each score's (row, highest level) place."""
    counts = np.bincount(places, minlength=rows * levels).reshape(rows, levels)
    return counts[:, ::-1].cumsum(1)[:, ::-1]


def f1_max(y_true, y_score, thresholds: np.ndarray | None = None, chunk: int | None = None) -> float:
    """Protein-centric Fmax (CAFA). `y_true` `(N, C)` in {0, 1}, `y_score` `(N, C)` in [0, 1].

    At each threshold t: precision is averaged over proteins with at least one score >= t, recall over proteins
    with at least one true label; Fmax is the best harmonic mean over t (default: 0.00, 0.01, ..., 1.00). Each
    score is placed once at the highest threshold it reaches (a binary search, exact for `>=`), and the counts of
    every threshold are cumulative sums of those places: one pass over the matrix whatever the number of
    thresholds. Only the scores at or above the second threshold are placed (the lowest is one comparison), which
    keeps GO-sized matrices of mostly small scores cheap. Proteins are read `chunk` rows at a time (default: about
    4M scores per chunk), so GO-sized matrices are never copied whole. NaN scores reach no threshold.
    """
    return _f1_max_counted(y_true, y_score, thresholds, chunk, _threshold_counts)


def f1_max_threshold(y_true, y_score, thresholds: np.ndarray | None = None) -> tuple[float, float]:
    """[`f1_max`] and the threshold it is reached at (the lowest, on ties): what `protst annotate --threshold auto`
    keeps terms above."""
    return _f1_max_counted(y_true, y_score, thresholds, None, _threshold_counts, with_threshold=True)


def _threshold_counts(truth: np.ndarray, score: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, thresholds) counts of each protein's scores at or above each threshold, and of its true labels among
    them. The lowest threshold is counted by comparison; only the scores at or above the second one (few, in GO-sized
    matrices) are placed at the highest threshold they reach."""
    rows, levels = len(truth), len(thresholds)
    reached = score >= thresholds[0]  # False for NaN
    n_predicted = np.zeros((rows, levels), dtype=np.int64)
    correct = np.zeros((rows, levels), dtype=np.int64)
    n_predicted[:, 0], correct[:, 0] = reached.sum(1), (reached & truth).sum(1)
    if levels > 1:
        row, column = np.nonzero(score >= thresholds[1])
        place = row * (levels - 1) + np.searchsorted(thresholds, score[row, column], side="right") - 2
        n_predicted[:, 1:] = _at_or_above(place, rows, levels - 1)
        correct[:, 1:] = _at_or_above(place[truth[row, column]], rows, levels - 1)
    return n_predicted, correct


def _f1_max_counted(y_true, y_score, thresholds, chunk, counts, with_threshold: bool = False):
    """[`f1_max`] with the per-threshold counting of a chunk given (`counts(truth, score, thresholds)`), so that a
    benchmark can time another counting against the same averaging."""
    thresholds = np.linspace(0.0, 1.0, 101) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    if np.any(np.diff(thresholds) < 0):
        raise ValueError("thresholds must be sorted in increasing order")
    levels = len(thresholds)
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape} differ in shape")
    chunk = chunk or max(1, 4_000_000 // max(y_true.shape[1] if y_true.ndim == 2 else 1, 1))
    precision_sum = np.zeros(levels)
    covered_count = np.zeros(levels)
    recall_sum = np.zeros(levels)
    labelled_count = 0
    for start in range(0, len(y_true), chunk):
        truth = np.asarray(y_true[start : start + chunk], dtype=bool)
        score = np.asarray(y_score[start : start + chunk], dtype=np.float64)
        n_predicted, correct = counts(truth, score, thresholds)
        n_true = truth.sum(1)
        labelled = n_true > 0
        labelled_count += int(labelled.sum())
        covered = n_predicted > 0
        precision_sum += np.where(covered, correct / np.maximum(n_predicted, 1), 0.0).sum(0)
        covered_count += covered.sum(0)
        recall_sum += (correct[labelled] / n_true[labelled, None]).sum(0)
    best, at = 0.0, float(thresholds[0])
    for i in range(levels):
        if covered_count[i] == 0:
            continue
        precision = precision_sum[i] / covered_count[i]
        recall = recall_sum[i] / labelled_count if labelled_count else 0.0
        if precision + recall > 0 and 2 * precision * recall / (precision + recall) > best:
            best, at = 2 * precision * recall / (precision + recall), float(thresholds[i])
    return (float(best), at) if with_threshold else float(best)


def auprc_micro(y_true, y_score) -> float:
    """Average precision over all (protein, label) pairs: sum over positives of the precision at their rank."""
    y_true = np.asarray(y_true, dtype=bool).ravel()
    y_score = np.asarray(y_score, dtype=np.float64).ravel()
    if not y_true.any():
        return float("nan")
    order = np.argsort(-y_score, kind="mergesort")
    scores, hits = y_score[order], y_true[order]
    # ties are one step of the curve (as scikit-learn): take the counts at the last position of each score value
    last = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    true_positives = np.cumsum(hits)[last]
    precision = true_positives / (last + 1)
    recall_steps = np.diff(np.r_[0, true_positives]) / hits.sum()
    return float((precision * recall_steps).sum())


def auprc_macro(y_true, y_score, min_positives: int = 1) -> tuple[float, int]:
    """Term-centric macro AUPR: the mean over labels (columns) with at least `min_positives` positives of each
    label's average precision ([`auprc_micro`] of that column), and how many labels were averaged."""
    y_true = np.asarray(y_true, dtype=bool)
    columns = np.flatnonzero(y_true.sum(0) >= max(min_positives, 1))
    if not len(columns):
        return float("nan"), 0
    return float(np.mean([auprc_micro(y_true[:, c], np.asarray(y_score[:, c])) for c in columns])), len(columns)


METRICS = {"accuracy": accuracy, "mcc": mcc, "spearman": spearman, "pearson": pearson, "f1_max": f1_max,
           "auprc_micro": auprc_micro}


def zero_shot_report(predictions, labels, class_names: list[str], majority: int | None = None) -> dict:
    """Accuracy, balanced accuracy, per-class recall and the prediction histogram of predicted class ids.

    Args:
        predictions: `(N,)` predicted class ids.
        labels: per protein, its class id or a collection of class ids (multi-label: any of them counts).
        class_names: the class names, in id order.
        majority: the class a majority baseline predicts (e.g. the most frequent training class); default: the
            most frequent class among `labels`.

    Returns:
        `accuracy`, `balanced_accuracy` (over the classes that occur in `labels`), `majority_accuracy` (of
        predicting `majority` for every protein), `majority_class`, `per_class_recall` {name: recall}, and
        `prediction_histogram` {name: count}.
    """
    predictions = np.asarray(predictions, dtype=np.int64)
    label_sets = [set(np.atleast_1d(y).tolist()) for y in labels]
    if len(label_sets) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions but {len(label_sets)} label sets")
    counts = np.zeros(len(class_names), dtype=np.int64)
    hits = np.zeros(len(class_names), dtype=np.int64)
    for prediction, classes in zip(predictions, label_sets):
        for c in classes:
            counts[c] += 1
            hits[c] += prediction == c
    if majority is None:
        majority = int(counts.argmax())
    present = counts > 0
    recall = np.divide(hits, np.maximum(counts, 1))
    return {
        "accuracy": float(np.mean([p in classes for p, classes in zip(predictions, label_sets)])),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "majority_accuracy": float(np.mean([majority in classes for classes in label_sets])),
        "majority_class": class_names[majority],
        "per_class_recall": {class_names[c]: float(recall[c]) for c in np.flatnonzero(present)},
        "prediction_histogram": {class_names[c]: int(n) for c, n in
                                 enumerate(np.bincount(predictions, minlength=len(class_names))) if n},
    }


def compute(name: str, y_true, y_score) -> float:
    if name not in METRICS:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return METRICS[name](y_true, y_score)


# how each metric's inputs look to `evaluate`: class ids, regression values, or multi-label rows
_KINDS = {"accuracy": "int64", "mcc": "int64", "spearman": "float64", "pearson": "float64", "f1_max": "rows",
          "auprc_micro": "rows"}


def metric_class(name: str):
    """An `evaluate.Metric` subclass computing `name` with the function above (used by `metric_modules/*.py`)."""
    import datasets
    import evaluate

    kind = _KINDS[name]
    value = datasets.Sequence(datasets.Value("float64")) if kind == "rows" else datasets.Value(kind)
    function = METRICS[name]

    class _Metric(evaluate.Metric):
        def _info(self):
            return evaluate.MetricInfo(description=(function.__doc__ or name).strip().splitlines()[0], citation="",
                                       inputs_description="references, predictions",
                                       features=datasets.Features({"predictions": value, "references": value}))

        def _compute(self, predictions, references):
            return {name: function(np.asarray(references), np.asarray(predictions))}

    _Metric.__name__ = _Metric.__qualname__ = "".join(part.title() for part in name.split("_"))
    return _Metric


def load_metric(name: str):
    """The metric as a local `evaluate` module (no Hub fetch): `load_metric("f1_max").compute(references=...,
    predictions=...)`."""
    from pathlib import Path

    import evaluate

    if name not in METRICS:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return evaluate.load(str(Path(__file__).parent / "metric_modules" / f"{name}.py"))


__all__ = ["METRICS", "accuracy", "auprc_macro", "auprc_micro", "compute", "f1_max", "f1_max_threshold", "load_metric",
           "macro_f1",
           "mcc", "metric_class", "pearson", "spearman", "zero_shot_report"]
