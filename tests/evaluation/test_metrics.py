"""Metrics against scikit-learn and scipy."""

import numpy as np
import pytest

from protst_hf.evaluation import metrics

sklearn_metrics = pytest.importorskip("sklearn.metrics")

stats = pytest.importorskip("scipy.stats")


def _f1_max_reference(y_true, y_score, thresholds=None):
    """CAFA protein-centric Fmax written from the definition, one protein and one threshold at a time."""
    best = 0.0
    for t in np.linspace(0, 1, 101) if thresholds is None else thresholds:
        precisions, recalls = [], []
        for truth, score in zip(y_true, y_score):
            predicted = {j for j, s in enumerate(score) if s >= t}
            true = {j for j, v in enumerate(truth) if v}
            if predicted:
                precisions.append(len(predicted & true) / len(predicted))
            if true:
                recalls.append(len(predicted & true) / len(true))
        if precisions:
            p, r = np.mean(precisions), np.mean(recalls)
            if p + r:
                best = max(best, 2 * p * r / (p + r))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_the_reference_libraries(seed):
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 5, 300)
    scores = rng.random((300, 5)) + np.eye(5)[classes] * rng.random(300)[:, None]
    predicted = scores.argmax(1)
    assert metrics.accuracy(classes, scores) == pytest.approx(sklearn_metrics.accuracy_score(classes, predicted))
    assert metrics.mcc(classes, scores) == pytest.approx(sklearn_metrics.matthews_corrcoef(classes, predicted))
    assert metrics.macro_f1(classes, scores) == pytest.approx(sklearn_metrics.f1_score(classes, predicted,
                                                                                       average="macro"))
    skewed = np.where(predicted == 4, 0, predicted)  # a class never predicted counts with F1 0
    assert metrics.macro_f1(classes, skewed) == pytest.approx(sklearn_metrics.f1_score(classes, skewed,
                                                                                       average="macro"))
    x = rng.normal(size=200)
    y = np.round(x + rng.normal(size=200), 1)  # rounded: ties, which the rank correlation must average
    assert metrics.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert metrics.pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic)
    multi = (rng.random((80, 12)) < 0.2).astype(int)
    multi[0] = 0  # a protein without labels: excluded from recall, as CAFA
    multi_scores = np.round(np.clip(multi * 0.4 + rng.random((80, 12)) * 0.7, 0, 1), 2)
    assert metrics.auprc_micro(multi, multi_scores) == pytest.approx(
        sklearn_metrics.average_precision_score(multi, multi_scores, average="micro"))
    assert metrics.f1_max(multi, multi_scores) == pytest.approx(_f1_max_reference(multi, multi_scores))
    assert metrics.f1_max(multi, multi_scores, chunk=7) == pytest.approx(_f1_max_reference(multi, multi_scores))
    macro, averaged = metrics.auprc_macro(multi, multi_scores, min_positives=15)
    kept = multi.sum(0) >= 15
    assert averaged == kept.sum() > 0 and macro == pytest.approx(
        sklearn_metrics.average_precision_score(multi[:, kept], multi_scores[:, kept], average="macro"))
    # and through the local `evaluate` modules (no Hub fetch)
    assert metrics.load_metric("f1_max").compute(references=multi, predictions=multi_scores)["f1_max"] == \
        pytest.approx(metrics.f1_max(multi, multi_scores))
    assert metrics.load_metric("mcc").compute(references=classes, predictions=scores.argmax(1))["mcc"] == \
        pytest.approx(metrics.mcc(classes, scores))


@pytest.mark.parametrize("seed", [0, 1])
def test_f1_max_on_mostly_zero_scores_nan_and_other_thresholds(seed):
    """GO-like matrices (most scores 0, some exactly on the lowest two thresholds, NaN) and threshold grids other
    than the default, as the definition counts them."""
    rng = np.random.default_rng(seed)
    truth = rng.random((60, 40)) < 0.1
    truth[0] = False
    scores = np.where(rng.random((60, 40)) < 0.15, np.round(rng.random((60, 40)), 2), 0.0)
    scores[rng.random((60, 40)) < 0.05] = 0.01
    scores[3, :5] = np.nan
    assert metrics.f1_max(truth, scores) == pytest.approx(_f1_max_reference(truth, scores))
    assert metrics.f1_max(truth, scores.astype(np.float32), chunk=9) == pytest.approx(
        _f1_max_reference(truth, scores.astype(np.float32)))
    for thresholds in ([0.0, 0.05, 0.3, 0.3, 0.7], [0.3], [0.02, 0.5]):
        assert metrics.f1_max(truth, scores, np.array(thresholds), chunk=7) == pytest.approx(
            _f1_max_reference(truth, scores, thresholds))


def test_metric_edge_cases():
    assert metrics.f1_max([[1, 0], [0, 1]], [[1.0, 0.0], [0.0, 1.0]]) == 1.0
    assert np.isnan(metrics.spearman([1, 2, 3], [5, 5, 5]))  # constant prediction: undefined, not 0
    assert metrics.mcc([0, 1, 0], [0, 0, 0]) == 0.0
    with pytest.raises(KeyError, match="unknown metric"):
        metrics.compute("auroc", [0], [0])


def test_zero_shot_report_counts_any_label_and_balances_classes():
    names = ["a", "b", "c"]
    labels = [[0], [0, 1], [1], [2], [0]]
    report = metrics.zero_shot_report([0, 1, 0, 0, 0], labels, names)
    assert report["accuracy"] == pytest.approx(3 / 5)  # the second protein is right with either of its labels
    # recall: a 2/3 (proteins 0 and 4 of 0, 1, 4), b 1/2 (protein 1 of 1, 2), c 0/1
    assert report["per_class_recall"] == pytest.approx({"a": 2 / 3, "b": 0.5, "c": 0.0})
    assert report["balanced_accuracy"] == pytest.approx((2 / 3 + 0.5) / 3)
    assert report["majority_class"] == "a" and report["majority_accuracy"] == pytest.approx(3 / 5)
    assert report["prediction_histogram"] == {"a": 4, "b": 1}
