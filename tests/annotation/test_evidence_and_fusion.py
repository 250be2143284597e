"""The evidences and their fusion, against float64 references written from the definitions."""

import numpy as np
import pytest

from protst_hf.annotation import (
    BINS,
    COMPONENTS,
    Fusion,
    LabelTable,
    best_hit_evidence,
    fit_fusion,
    homology_evidence,
    identity_bins,
    neighbour_evidence,
    ontology_consistent,
)
from protst_hf.annotation.fusion import prior_corrected, simplex_grid, single_class_truth, topological_order
from protst_hf.evaluation.metrics import f1_max, macro_f1

# five reference proteins over four labels
SETS = [[0, 1], [1], [2, 3], [], [0, 3]]


def test_votes_of_a_label_table_are_the_weighted_label_sums():
    table = LabelTable.from_sets(SETS, 4)
    rows = np.array([[0, 2, -1], [4, 4, 1]])
    weights = np.array([[2.0, 3.0, 9.0], [1.0, 0.5, 4.0]])
    expected = np.zeros((2, 4))
    for q in range(2):
        for row, weight in zip(rows[q], weights[q]):
            if row >= 0:
                expected[q, SETS[row]] += weight
    np.testing.assert_array_equal(table.votes(rows, weights), expected)
    # single-label: a protein with several classes spreads its vote evenly
    single = LabelTable.from_sets(SETS, 4, single_label=True)
    np.testing.assert_allclose(single.votes(rows[:1], weights[:1]), [[1.0, 1.0, 1.5, 1.5]])
    np.testing.assert_allclose(table.frequencies(), [2 / 5, 2 / 5, 1 / 5, 2 / 5])
    np.testing.assert_allclose(single.frequencies(), [1 / 10 + 1 / 10, 1 / 10 + 1 / 5, 1 / 10, 1 / 10 + 1 / 10])
    assert table.dense([2]).tolist() == [[False, False, True, True]]
    with pytest.raises(ValueError, match="label indices"):
        LabelTable.from_sets([[4]], 4)


def test_homology_evidence_is_diamond_score():
    """S(q, l) = sum of the bit scores of the hits holding l / sum of all the hits' bit scores (DeepGOPlus)."""
    table = LabelTable.from_sets(SETS, 4)
    hits = {0: [(0, 0.9, 300.0), (2, 0.4, 100.0)], 2: [(3, 0.25, 50.0)]}  # query 1: no hit
    scores, best = homology_evidence(hits, table, 3)
    np.testing.assert_allclose(scores[0], [300 / 400, 300 / 400, 100 / 400, 100 / 400], rtol=1e-6)
    assert scores.dtype == np.float32 and not scores[1].any() and not scores[2].any()  # a hit without labels
    np.testing.assert_array_equal(best, [0.9, np.nan, 0.25])
    assert identity_bins(best).tolist() == [3, 0, 1]
    assert identity_bins(np.array([0.0, 0.2999, 0.3, 0.4999, 0.5, 1.0])).tolist() == [1, 1, 2, 2, 3, 3]


def test_best_hit_evidence_scores_the_best_hits_labels_by_its_identity():
    """CAFA's BLAST baseline: S(q, l) = identity of q's best hit if that hit holds l, else 0; later hits count
    nothing, and a single-label hit's classes share its identity."""
    hits = {0: [(0, 0.9, 300.0), (2, 0.4, 100.0)], 2: [(3, 0.25, 50.0)], 3: [(4, 0.3, 80.0)]}  # query 1: no hit
    scores = best_hit_evidence(hits, LabelTable.from_sets(SETS, 4), 4)
    expected = np.zeros((4, 4))
    expected[0, SETS[0]], expected[3, SETS[4]] = 0.9, 0.3  # query 2's best hit holds no label
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert scores.dtype == np.float32
    single = best_hit_evidence(hits, LabelTable.from_sets(SETS, 4, single_label=True), 4)
    np.testing.assert_allclose(single[0], [0.45, 0.45, 0.0, 0.0], rtol=1e-6)


def test_neighbour_evidence_weighs_neighbours_by_cosine():
    table = LabelTable.from_sets(SETS, 4)
    similarities = np.array([[0.8, 0.2, -0.5], [0.0, 0.0, 0.0]])
    rows = np.array([[0, 1, 2], [3, -1, -1]])
    scores = neighbour_evidence(similarities, rows, table)
    np.testing.assert_allclose(scores[0], [0.8, 1.0, 0.0, 0.0], rtol=1e-6)  # a negative cosine counts nothing
    assert not scores[1].any()


def test_ontology_consistency_lifts_every_ancestor_to_its_descendants():
    rng = np.random.default_rng(0)
    parents = [[] for _ in range(30)]
    for child in range(1, 30):  # a DAG: parents have lower indices, some labels have two
        parents[child] = sorted(set(rng.integers(0, child, size=rng.integers(1, 3)).tolist()))
    scores = rng.random((7, 30)).astype(np.float32)
    original = scores.copy()
    ontology_consistent(scores, parents)

    def descendants(label):
        found = {label}
        for child in range(30):
            if label in parents[child]:
                found |= descendants(child)
        return found

    for label in range(30):
        np.testing.assert_array_equal(scores[:, label], original[:, sorted(descendants(label))].max(1))
    order = topological_order(parents)
    assert all(order.index(c) < order.index(p) for c in range(30) for p in parents[c])
    with pytest.raises(ValueError, match="cycle"):
        topological_order([[1], [0]])


def random_problem(seed: int, proteins: int, labels: int, rate: float):
    """Random multi-label truth (every protein with a label), identity bins and uniform noise scores."""
    rng = np.random.default_rng(seed)
    truth = rng.random((proteins, labels)) < rate
    truth[truth.sum(1) == 0, 0] = True
    return truth, rng.integers(0, 4, proteins), rng.random((proteins, labels)).astype(np.float32)


def test_the_fit_takes_the_evidence_that_is_right_in_each_bin():
    """Homology is right where there is a close hit, text where there is none: the fitted weights follow, the
    fused validation Fmax is at least every single evidence's in each bin (and is the one the fit reported), and the
    weights survive a round trip."""
    truth, bins, noise = random_problem(seed=1, proteins=400, labels=20, rate=0.15)
    right = np.where(truth, 0.6 + 0.4 * noise, 0.4 * noise).astype(np.float32)
    homology = np.where(bins[:, None] >= 2, right, noise * (bins[:, None] > 0)).astype(np.float32)
    text = np.where(bins[:, None] == 0, right, noise).astype(np.float32)
    best_hit = np.where(bins[:, None] > 0, noise[:, ::-1], 0).astype(np.float32)
    evidence = {"homology": homology, "best_hit": best_hit, "neighbours": noise[::-1].copy(), "text": text,
                "prior": truth.mean(0, keepdims=True).astype(np.float32)}
    fusion = fit_fusion(evidence, bins, truth)
    weights = dict(zip(BINS, fusion.weights))
    assert weights["no hit"][COMPONENTS.index("homology")] == weights["no hit"][COMPONENTS.index("best_hit")] == 0
    assert weights["no hit"][COMPONENTS.index("text")] > 0 and weights["30-50%"][COMPONENTS.index("homology")] > 0
    np.testing.assert_allclose(fusion.weights.sum(1), 1.0)
    fused = fusion.fuse(evidence, bins)
    for b, name in enumerate(BINS):
        rows = bins == b
        best_single = max(f1_max(truth[rows], np.broadcast_to(evidence[c], truth.shape)[rows]) for c in COMPONENTS)
        assert f1_max(truth[rows], fused[rows]) >= best_single - 1e-12, name
        if name in ("no hit", ">= 50%"):  # the right evidence separates the labels: so does the fusion
            assert f1_max(truth[rows], fused[rows]) == 1.0
        assert fusion.report[name]["proteins"] == int(rows.sum())
        # the fit judged exactly the scores the fusion gives
        assert fusion.report[name]["fused"] == f1_max(truth[rows], fused[rows]), name
    again = Fusion.from_dict(fusion.to_dict())
    np.testing.assert_allclose(again.fuse(evidence, bins), fused, rtol=1e-6)
    with pytest.raises(ValueError, match="weights"):
        Fusion.from_dict({**fusion.to_dict(), "bins": ["all"]})
    with pytest.raises(ValueError, match="weights"):
        Fusion.from_dict({**fusion.to_dict(), "components": ["homology", "blast"], "weights": [[0.5, 0.5]] * 4})


def test_a_fit_over_some_of_the_evidences_weighs_the_others_zero():
    """Homology scores alone (no model): the fit searches the given evidences only, and is at least each of them
    in every bin; an evidence the fusion does not know is an error, and so is fusing without a weighted one."""
    truth, bins, noise = random_problem(seed=4, proteins=300, labels=12, rate=0.2)
    hit = bins[:, None] > 0
    evidence = {"homology": np.where(hit, 0.5 * truth + noise, 0).astype(np.float32) / 1.5,
                "best_hit": np.where(hit, 0.3 * truth + noise, 0).astype(np.float32) / 1.3,
                "prior": truth.mean(0, keepdims=True).astype(np.float32)}
    fusion = fit_fusion(evidence, bins, truth)
    for name in ("neighbours", "text"):
        assert not fusion.weights[:, COMPONENTS.index(name)].any()
    assert fusion.weights[0].tolist() == [0, 0, 0, 0, 1]  # no hit: the prior only
    fused = fusion.fuse(evidence, bins)
    for b, name in enumerate(BINS):
        rows = bins == b
        best_single = max(f1_max(truth[rows], np.broadcast_to(evidence[c], truth.shape)[rows]) for c in evidence)
        assert f1_max(truth[rows], fused[rows]) >= best_single - 1e-12, name
    with pytest.raises(ValueError, match="blast"):
        fit_fusion({**evidence, "blast": evidence["best_hit"]}, bins, truth)
    with pytest.raises(ValueError, match="'homology' evidence"):
        fusion.fuse({"prior": evidence["prior"], "best_hit": evidence["best_hit"]}, bins)


def test_weights_fitted_before_the_best_hit_evidence_load_with_weight_zero_on_it():
    """A reference written when the fusion had four evidences fuses exactly as it did: the stored weights on their
    evidences, 0 on `best_hit`."""
    rng = np.random.default_rng(2)
    old_components = ["homology", "neighbours", "text", "prior"]
    stored = rng.dirichlet(np.ones(4), size=len(BINS))
    fusion = Fusion.from_dict({"components": old_components, "bins": list(BINS), "weights": stored.tolist()})
    assert fusion.weights.shape == (len(BINS), len(COMPONENTS))
    assert not fusion.weights[:, COMPONENTS.index("best_hit")].any()
    evidence = {name: rng.random((6, 5)).astype(np.float32) for name in COMPONENTS}
    bins = np.array([0, 1, 2, 3, 1, 2])
    expected = sum(stored[bins, i][:, None] * evidence[name].astype(np.float64)
                   for i, name in enumerate(old_components))
    np.testing.assert_allclose(fusion.fuse(evidence, bins), np.clip(expected, 0, 1), rtol=1e-6)
    assert set(fusion.contributions(evidence, bins, 0, np.arange(5))) <= set(old_components)


def test_a_single_label_fit_corrects_for_the_reference_class_balance():
    """Every evidence is a posterior under the reference's skewed class balance (80/15/5%) while the proteins to
    annotate are far less skewed: the fit chooses a prior correction, which raises macro F1 over the blend, keeps
    distributions, survives a round trip, and leaves the printed shares summing to the score."""
    rng = np.random.default_rng(3)
    n, prior = 900, np.array([0.8, 0.15, 0.05])
    classes = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    truth = np.eye(3, dtype=bool)[classes]
    bins = rng.integers(0, 4, n)

    def posterior(strength):
        likelihood = np.exp(strength * truth + rng.normal(size=(n, 3)))
        joint = likelihood * prior
        return (joint / joint.sum(1, keepdims=True)).astype(np.float32)

    evidence = {"homology": np.where(bins[:, None] > 0, posterior(2.0), 0).astype(np.float32),
                "best_hit": np.where(bins[:, None] > 0, 0.5 * posterior(0.5), 0).astype(np.float32),
                "neighbours": posterior(1.0), "text": posterior(1.0), "prior": prior[None, :].astype(np.float32)}
    fusion = fit_fusion(evidence, bins, truth, single_label=True)
    tried = fusion.report["prior_correction"]["tried"]
    assert fusion.prior_exponent > 0 and fusion.report["prior_correction"]["chosen"] == fusion.prior_exponent
    blended, fused = fusion.blend(evidence, bins), fusion.fuse(evidence, bins)
    assert tried[str(fusion.prior_exponent)]["macro_f1"] > tried["0.0"]["macro_f1"]
    assert macro_f1(single_class_truth(truth, fused.argmax(1)), fused) == pytest.approx(
        tried[str(fusion.prior_exponent)]["macro_f1"])
    np.testing.assert_allclose(fused.sum(1), 1.0, rtol=1e-5)
    # the definition, in float64: p(c) / prior(c)^tau, renormalised
    expected = blended.astype(np.float64) / prior ** fusion.prior_exponent
    np.testing.assert_allclose(fused, expected / expected.sum(1, keepdims=True), rtol=1e-5)
    assert (fused.argmax(1) != 0).sum() > (blended.argmax(1) != 0).sum()  # rarer classes predicted more often
    again = Fusion.from_dict(fusion.to_dict())
    assert again.prior_exponent == fusion.prior_exponent
    np.testing.assert_allclose(again.fuse(evidence, bins), fused, rtol=1e-6)
    for query in (0, 1, 2):
        labels = np.arange(3)
        shares = fusion.contributions(evidence, bins, query, labels)
        np.testing.assert_allclose(sum(shares.values()), fused[query], rtol=1e-5, atol=1e-7)
    plain = fit_fusion(evidence, bins, truth, single_label=True, prior_correction=False)
    assert plain.prior_exponent == 0 and "prior_correction" not in plain.report
    plain_blend = plain.blend(evidence, bins).astype(np.float64)  # no correction: the blend, renormalised
    np.testing.assert_allclose(plain.fuse(evidence, bins), plain_blend / plain_blend.sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(plain.fuse(evidence, bins).argmax(1), plain_blend.argmax(1))
    # a class no reference protein holds takes the rarest held class's correction, not an infinite one
    corrected = prior_corrected(np.array([[0.5, 0.3, 0.2]], np.float32), np.array([0.9, 0.1, 0.0]), 1.0)
    np.testing.assert_allclose(corrected, [[0.5 / 0.9, 3.0, 2.0] / np.sum([0.5 / 0.9, 3.0, 2.0])], rtol=1e-6)


def test_simplex_grid():
    grid = simplex_grid(4, 0.2)
    assert len(grid) == 56 and np.allclose(grid.sum(1), 1.0) and grid.min() >= 0
