"""The package's one linear probe and one homology transfer (evaluation/baselines.py), which the benchmarks call."""

import numpy as np
import pytest

from protst_hf.evaluation.baselines import linear_probe, transfer_from_hits


def test_transfer_from_hits_binary_identity_and_fallback():
    labels = np.array([[1, 0, 1], [0, 1, 0]], dtype=bool)
    hits = {"q0": ("t1", 0.4, 50.0), "q2": ("t0", 0.9, 300.0)}
    cafa = transfer_from_hits(hits, labels, 3, score="identity")
    np.testing.assert_array_equal(cafa, [[0, 0.4, 0], [0, 0, 0], [0.9, 0, 0.9]])
    fallback = np.full((3, 3), 0.5)
    binary = transfer_from_hits(hits, labels, 3, fallback=fallback)
    np.testing.assert_array_equal(binary, [[0, 1, 0], [0.5, 0.5, 0.5], [1, 0, 1]])
    with pytest.raises(ValueError, match="binary"):
        transfer_from_hits(hits, labels, 3, score="bits")


def test_linear_probe_learns_separable_labels_and_picks_its_penalty_on_held_out_rows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 6)).astype(np.float32)
    single = np.eye(3)[np.argmax(x[:, :3], axis=1)]
    test = rng.normal(size=(200, 6)).astype(np.float32)
    scores = linear_probe(x, single, test, epochs=60, batch_size=64)
    assert scores.shape == (200, 3) and np.allclose(scores.sum(1), 1, atol=1e-5)
    assert np.mean(scores.argmax(1) == np.argmax(test[:, :3], axis=1)) > 0.9
    multi = np.stack([x[:, 0] > 0, x[:, 1] > 0.5], axis=1)
    probabilities = linear_probe(x, multi, test, multi_label=True, epochs=60, batch_size=64)
    truth = np.stack([test[:, 0] > 0, test[:, 1] > 0.5], axis=1)
    assert np.mean((probabilities > 0.5) == truth) > 0.9
    held_out = np.arange(600) % 5 == 0
    chosen = linear_probe(x, single, test, l2_grid=(1e-4, 10.0), held_out=held_out, epochs=60, batch_size=64)
    np.testing.assert_array_equal(chosen, linear_probe(x, single, test, l2_grid=(1e-4,), epochs=60, batch_size=64))
    with pytest.raises(ValueError, match="held-out rows"):
        linear_probe(x, single, test, l2_grid=(0.0, 1.0))
