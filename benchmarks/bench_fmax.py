"""Fmax on GO-sized score matrices: `protst_hf.evaluation.metrics.f1_max` against the same count with every score
placed by a binary search (the previous counting, kept here as the baseline; the averaging is shared), one run.

    python -m benchmarks.bench_fmax [--proteins 2000] [--terms 13405] [--repeats 5]

The matrices are what the annotation fit scores (one Fmax per grid point, several hundred per field): fused GO scores
over the biological-process terms of the GO benchmark's reference, most of them tiny (the label frequencies'
share), a few percent transferred from hits or neighbours, and a dense zero-shot share in the third matrix. Both
must agree exactly; the ratio is the baseline's best time over f1_max's best.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from .hardware import describe


def every_score_placed(truth: np.ndarray, score: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The baseline's counting: each score's highest threshold by `np.searchsorted`, counts by `np.bincount` (the
    averaging over proteins and thresholds is f1_max's own)."""
    rows, levels = len(truth), len(thresholds)
    level = np.searchsorted(thresholds, score, side="right") - 1
    reached = (level >= 0) & ~np.isnan(score)
    place = np.arange(rows)[:, None] * levels + level
    return tuple(np.bincount(place[mask], minlength=rows * levels).reshape(rows, levels)[:, ::-1].cumsum(1)[:, ::-1]
                 for mask in (reached, reached & truth))


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
    from protst_hf.evaluation.metrics import _f1_max_counted, f1_max

    def baseline(truth, scores):
        return _f1_max_counted(truth, scores, None, None, every_score_placed)

    print(f"| scores ({args.proteins:,} proteins x {args.terms:,} terms) | share >= 0.01 | every score placed, s | "
          "f1_max, s | ratio |")
    print("|---|---|---|---|---|")
    for name, (truth, scores) in matrices(args.proteins, args.terms).items():
        times = {"baseline": [], "f1_max": []}
        for _ in range(args.repeats):  # interleaved, best of each
            for label, function in (("baseline", baseline), ("f1_max", f1_max)):
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
