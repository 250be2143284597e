"""Fmax on GO-sized score matrices: `protst_hf.evaluation.metrics.f1_max` against the same count with every score
placed by a binary search (the previous implementation, kept here as the baseline), one run.

    python benchmarks/bench_fmax.py [--proteins 2000] [--terms 13405] [--repeats 5]

The matrices are what the annotation fit scores (one Fmax per grid point, several hundred per field): fused GO scores
over the biological-process terms of the GO benchmark's reference, most of them tiny (the label frequencies'
share), a few percent transferred from hits or neighbours, and a dense zero-shot share in the third matrix. Both
must agree exactly; the ratio is the baseline's best time over f1_max's best.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hardware import describe  # noqa: E402


def _at_or_above(places: np.ndarray, rows: int, levels: int) -> np.ndarray:
    counts = np.bincount(places, minlength=rows * levels).reshape(rows, levels)
    return counts[:, ::-1].cumsum(1)[:, ::-1]


def f1_max_every_score_placed(y_true: np.ndarray, y_score: np.ndarray, chunk: int | None = None) -> float:
    """The baseline: each score's highest threshold by `np.searchsorted`, counts by `np.bincount`, per chunk."""
    thresholds = np.linspace(0.0, 1.0, 101)
    levels = len(thresholds)
    chunk = chunk or max(1, 4_000_000 // y_true.shape[1])
    precision_sum, covered_count, recall_sum, labelled_count = np.zeros(levels), np.zeros(levels), np.zeros(levels), 0
    for start in range(0, len(y_true), chunk):
        truth = np.asarray(y_true[start:start + chunk], dtype=bool)
        score = np.asarray(y_score[start:start + chunk], dtype=np.float64)
        rows = len(truth)
        level = np.searchsorted(thresholds, score, side="right") - 1
        reached = (level >= 0) & ~np.isnan(score)
        place = np.arange(rows)[:, None] * levels + level
        n_predicted = _at_or_above(place[reached], rows, levels)
        correct = _at_or_above(place[reached & truth], rows, levels)
        n_true = truth.sum(1)
        labelled = n_true > 0
        labelled_count += int(labelled.sum())
        covered = n_predicted > 0
        precision_sum += np.where(covered, correct / np.maximum(n_predicted, 1), 0.0).sum(0)
        covered_count += covered.sum(0)
        recall_sum += (correct[labelled] / n_true[labelled, None]).sum(0)
    best = 0.0
    for i in range(levels):
        if covered_count[i]:
            precision, recall = precision_sum[i] / covered_count[i], recall_sum[i] / max(labelled_count, 1)
            if precision + recall > 0:
                best = max(best, 2 * precision * recall / (precision + recall))
    return float(best)


def matrices(proteins: int, terms: int, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    frequency = np.minimum(rng.pareto(1.2, terms) * 0.002, 0.5).astype(np.float32)
    truth = rng.random((proteins, terms)) < frequency
    transferred = np.where(rng.random((proteins, terms)) < 0.02, rng.random((proteins, terms)), 0.0)
    transferred = np.maximum(transferred, truth * rng.random((proteins, terms)) * 0.8).astype(np.float32)
    zero_shot = rng.beta(0.3, 8.0, (proteins, terms)).astype(np.float32)
    return {"homology + prior (0.9 / 0.1)": (truth, 0.9 * transferred + 0.1 * frequency),
            "homology only": (truth, transferred),
            "homology + zero-shot (0.6 / 0.4)": (truth, 0.6 * transferred + 0.4 * zero_shot)}


def main() -> int:
    print(describe(), flush=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proteins", type=int, default=2000)
    parser.add_argument("--terms", type=int, default=13405)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from protst_hf.evaluation.metrics import f1_max

    print(f"| scores ({args.proteins:,} proteins x {args.terms:,} terms) | share >= 0.01 | every score placed, s | "
          "f1_max, s | ratio |")
    print("|---|---|---|---|---|")
    for name, (truth, scores) in matrices(args.proteins, args.terms).items():
        times = {"baseline": [], "f1_max": []}
        for _ in range(args.repeats):  # interleaved, best of each
            for label, function in (("baseline", f1_max_every_score_placed), ("f1_max", f1_max)):
                started = time.perf_counter()
                value = function(truth, scores)
                times[label].append(time.perf_counter() - started)
                if label == "baseline":
                    expected = value
                elif value != expected:
                    raise SystemExit(f"{name}: f1_max {value!r} differs from the baseline's {expected!r}")
        base, ours = min(times["baseline"]), min(times["f1_max"])
        print(f"| {name} | {(scores >= 0.01).mean():.3f} | {base:.3f} | {ours:.3f} | {base / ours:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
