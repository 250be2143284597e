"""Scoring by the CAFA-evaluator (evaluation/cafa_evaluation.py): the package's f1_max equals cafaeval's unweighted
Fmax on the same predictions, information accretion is -log2 P(term | its parents) computed by hand on a small
ontology, and predictions and truth are read from the formats users have (annotate TSV, CAFA file, GAF, table)."""

import math

import numpy as np
import pytest

from protst_hf.data.go_obo import read_obo
from protst_hf.evaluation.cafa_evaluation import (
    CafaScorer,
    cafa_scores,
    evaluate_go_predictions,
    information_accretion,
    read_predictions,
    read_truth,
)
from protst_hf.evaluation.metrics import f1_max

pytest.importorskip("cafaeval")
GO = "tests/fixtures/go"
OBO = f"{GO}/go-2014-uniprot-sample.obo"


def _predictions(ontology, proteins=40, seed=0):
    """Truth: random sets of leaves of the molecular-function terms, propagated; scores: every true term and a
    tenth of the others, at the middle of a 0.01 bin (no tie with cafaeval's thresholds), made consistent with the
    ontology (a term scores at least as high as its descendants)."""
    rng = np.random.default_rng(seed)
    terms = sorted(t for t, n in ontology.namespaces.items() if n == "molecular_function" and t != "GO:0003674")
    column = {t: j for j, t in enumerate(terms)}
    truth, y = {}, np.zeros((proteins, len(terms)), dtype=bool)
    for i in range(proteins):
        picked = rng.choice(terms, size=rng.integers(1, 4), replace=False)
        truth[f"P{i}"] = ontology.propagate(picked) & set(terms)
        y[i, [column[t] for t in truth[f"P{i}"]]] = True
    scores = np.where(y | (rng.random(y.shape) < 0.1), (rng.integers(0, 100, y.shape) + 0.5) / 100, 0.0)
    for j, term in enumerate(terms):
        for above in ontology.ancestors(term) & set(column):
            scores[:, column[above]] = np.maximum(scores[:, column[above]], scores[:, j])
    rows = [(f"P{i}", terms[j], scores[i, j]) for i, j in zip(*np.nonzero(scores))]
    return truth, rows, y, scores, terms


def test_f1_max_equals_cafaevals_unweighted_fmax():
    ontology = read_obo(OBO)
    truth, rows, y, scores, _ = _predictions(ontology)
    result = cafa_scores(rows, truth, OBO)["molecular_function"]
    assert result["proteins"] == 40 and result["coverage"] == 1.0
    assert result["fmax"] == pytest.approx(f1_max(y, scores), abs=1e-12)
    assert "weighted_fmax" not in result  # no information accretion given


def test_information_accretion_by_hand():
    ontology = read_obo(f"{GO}/go-mini.obo")
    # binding (GO:0005488) -> nucleotide binding (GO:0000166) -> ATP binding (GO:0005524); catalytic activity
    sets = [{"GO:0005524"}, {"GO:0000166"}, {"GO:0005488"}, {"GO:0003824"}]
    ia = information_accretion(sets, ontology)
    assert ia["GO:0003674"] == 0.0  # a root gives no information
    assert ia["GO:0005488"] == pytest.approx(-math.log2(3 / 4))  # 3 of the 4 molecular-function proteins
    assert ia["GO:0000166"] == pytest.approx(-math.log2(2 / 3))
    assert ia["GO:0005524"] == pytest.approx(-math.log2(1 / 2))
    assert ia["GO:0003824"] == pytest.approx(2.0)
    # several parents: cytosol is_a intracellular structure and part_of cytoplasm
    ia = information_accretion([{"GO:0005829"}, {"GO:0005737"}, {"GO:0005622"}], ontology)
    assert ia["GO:0005829"] == pytest.approx(1.0)  # 1 of the 2 proteins holding both parents


def test_weighted_scores_outputs_and_the_in_memory_route(tmp_path):
    ontology = read_obo(OBO)
    truth, rows, _, scores, terms = _predictions(ontology, seed=1)
    ia = information_accretion(truth.values(), ontology)
    result = cafa_scores(rows, truth, OBO, ia, output_dir=tmp_path)["molecular_function"]
    assert 0 < result["weighted_fmax"] <= 1 and result["smin"] > 0
    # the benchmarks' route (matrices straight into cafaeval's sweep) gives the file route's figures; extra
    # proteins absent from the truth are ignored, as cafaeval's parser ignores them
    proteins = list(truth) + ["not-in-truth"]
    in_memory = CafaScorer(OBO, truth, ia)(np.vstack([scores, scores[:1]]), proteins, terms, "molecular_function")
    assert in_memory == pytest.approx(result, abs=1e-12)
    assert CafaScorer(OBO, truth, ia)(scores, proteins, terms, "cellular_component") is None
    assert (tmp_path / "precision_recall.png").stat().st_size > 1000
    assert (tmp_path / "evaluation_best_f_w.tsv").is_file()


def test_readers_of_predictions_and_truth(tmp_path):
    tsv = tmp_path / "a.tsv"
    tsv.write_text("id\tlabel_id\tname\tscore\tevidence\nsp|P05067|A4_HUMAN\tGO:0005524\tATP binding\t0.9000\t"
                   "homology=0.9\nq2\tGO:0005488\tbinding\t0.5000\tprior=0.5\n")
    cafa = tmp_path / "a.cafa"
    cafa.write_text("AUTHOR protst-hf\nMODEL 1\nKEYWORDS sequence alignment, machine learning.\n"
                    "sp|P05067|A4_HUMAN\tGO:0005524\t0.90\nq2\tGO:0005488\t0.50\nEND\n")
    expected = [("P05067", "GO:0005524", 0.9), ("q2", "GO:0005488", 0.5)]
    assert read_predictions(tsv) == read_predictions(cafa) == expected
    ontology = read_obo(f"{GO}/go-mini.obo")
    truth, counts = read_truth(f"{GO}/sample.gaf", ontology)
    assert truth == {"P05067": {"GO:0005524", "GO:0006468"}, "Q13362": {"GO:0005524", "GO:0005829"},
                     "P99999": {"GO:0004672"}}  # the truth needs no sequence
    table = tmp_path / "truth.tsv"
    table.write_text("EntryID\tterm\nP1\tGO:0008022\nP1\tGO:0099999\n")
    assert read_truth(table, ontology)[0] == {"P1": {"GO:0005524"}}  # alternative id mapped, unknown dropped
    (tmp_path / "bad.tsv").write_text("P1\tGO:0005524\nP2 nothing\n")
    with pytest.raises(ValueError, match="line 2: expected `protein<TAB>GO:nnnnnnn`"):
        read_truth(tmp_path / "bad.tsv", ontology)
    (tmp_path / "bad.cafa").write_text("P1\tGO:0005524\tvery\n")
    with pytest.raises(ValueError, match="line 1: the score 'very' is not a number"):
        read_predictions(tmp_path / "bad.cafa")
    (tmp_path / "other.cafa").write_text("X1\tGO:0005524\t0.5\n")
    with pytest.raises(ValueError, match="no prediction names a protein and a term of the truth"):
        evaluate_go_predictions(tmp_path / "other.cafa", f"{GO}/sample.gaf", f"{GO}/go-mini.obo")
