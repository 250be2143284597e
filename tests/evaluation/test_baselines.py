"""Baselines: majority, k-NN, MMseqs2 nearest homolog, few-shot."""

import numpy as np
import pytest

from protst_hf.evaluation.baselines import (
    few_shot_indices,
    homology_baseline,
    knn_scores,
    majority_baseline,
    nonparametric_few_shot,
)
from protst_hf.evaluation.tasks import Task, TaskData, TaskSplit


def _mutate(sequence, rng, rate=0.1):
    letters = np.array(list(sequence))
    positions = rng.random(len(letters)) < rate
    letters[positions] = rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), positions.sum())
    return "".join(letters)


@pytest.mark.needs_mmseqs
def test_homology_baseline_transfers_the_nearest_homologs_label(rows):
    rng = np.random.default_rng(0)
    families = [r["sequence"] for r in rows if 150 <= len(r["sequence"]) <= 400][:6]
    train = TaskSplit([_mutate(f, rng) for f in families], np.asarray([0, 1, 2, 0, 1, 2]))
    queries = [_mutate(families[i], rng) for i in (2, 0, 4, 5)] + ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"),
                                                                                          200))]
    test = TaskSplit(queries, np.asarray([2, 0, 1, 2, 0]))
    task = Task("hom", "single_label", ("accuracy",), "hand-built families", label_names=("a", "b", "c"))
    data = TaskData(task, {"train": train, "validation": test, "test": test}, ["a", "b", "c"], {})
    result = homology_baseline(data)
    assert result["hits"] == 4 and result["coverage"] == pytest.approx(0.8)  # the random protein has no homolog
    # the four family members get their family's label; the random one falls back to the majority (a tie: 'a')
    assert result["test"]["accuracy"] == pytest.approx(1.0)
    assert result["median_identity"] > 0.7


def test_few_shot_sampling_and_the_nonparametric_classifier():
    labels = np.asarray([0, 0, 0, 1, 1, 2])
    rows = few_shot_indices(labels, 2, seed=0)
    assert sorted(labels[rows].tolist()) == [0, 0, 1, 1, 2, 2]  # class 2 has one protein: drawn with replacement
    task = Task("f", "single_label", ("accuracy",), "", label_names=("a", "b", "c"))
    centres = np.asarray([[0.0, 0], [10, 0], [0, 10]])
    train = TaskSplit(["A"] * 6, labels)
    test = TaskSplit(["A"] * 3, np.asarray([2, 0, 1]))
    data = TaskData(task, {"train": train, "validation": test, "test": test}, ["a", "b", "c"], {})
    # 1280-d-like distances: exp(-d^2) underflows to 0 in float64, the log-space scores still rank correctly
    features = {"train": centres[labels] * 30, "test": centres[[2, 0, 1]] * 30 + 1.0}
    assert nonparametric_few_shot(data, features, shot=2, seeds=2)["test"]["accuracy"] == 1.0


def test_majority_and_knn_baselines():
    task = Task("k", "single_label", ("accuracy",), "", label_names=("a", "b"))
    train = TaskSplit(["A"] * 6, np.asarray([0, 0, 0, 0, 1, 1]))
    test = TaskSplit(["A"] * 2, np.asarray([1, 0]))
    data = TaskData(task, {"train": train, "validation": test, "test": test}, ["a", "b"], {})
    assert majority_baseline(data)["test"]["accuracy"] == 0.5
    features = np.eye(6)[[0, 1, 2, 3, 4, 5]] + 0.01
    query = np.stack([features[4] + features[5], features[0]])  # near the two 'b' proteins / one 'a' protein
    assert knn_scores(data, features, query, k=2).argmax(1).tolist() == [1, 0]
