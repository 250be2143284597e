"""Which homology score should the annotation fusion take? GO terms from MMseqs2 hits alone, per bin of the best
hit's identity: DiamondScore (every hit weighted by its bit score, DeepGOPlus; the fusion's `homology` evidence),
CAFA's BLAST baseline (the best hit's terms scored by its identity; the GO benchmark's homology row), the label
frequencies, and their fusion fitted per bin (`fit_fusion` given these three evidences only). No model is involved.

    python -m benchmarks.studies.go_homology_evidence [--output outputs/go_homology_evidence] [--limit N]

The mix is fitted as `protst reference build` fits the fusion, by the same function: on 5 x 1,000 train proteins
drawn from 5 folds of the train split's MMseqs2 30% clusters, each searched against the other folds only (grid of
step 0.2 refined by steps of 0.1, Fmax per bin).
The test split (clusters apart from train) is then scored once. Writes OUTPUT/results.json and OUTPUT/table.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from protst_hf.evaluation.go import term_matrix, term_sets

from .. import go_learning
from ..hardware import describe

SCORES = {"homology": "diamond", "best_hit": "best hit x identity", "prior": "prior"}  # evidence -> column
FOLDS, PER_FOLD = 5, 1000


def search(sequences: list[str], queries: list[str], targets: np.ndarray, workdir: Path) -> dict:
    from protst_hf.data.splits import mmseqs_hits, write_fasta

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        write_fasta(Path(tmp) / "queries.fasta", ((str(i), s) for i, s in enumerate(queries)))
        write_fasta(Path(tmp) / "targets.fasta", ((str(r), sequences[r]) for r in targets))
        found = mmseqs_hits(Path(tmp) / "queries.fasta", Path(tmp) / "targets.fasta", max_hits=10, sensitivity=7.5,
                            workdir=tmp)
    return {int(q): [(int(t), identity, bits) for t, identity, bits in h] for q, h in found.items()}


def lookups(train: list[dict], test: list[dict], output: Path) -> tuple[np.ndarray, dict, dict]:
    """The cross-fit proteins' rows and hits (the draw `protst reference build` makes), and the test proteins' hits
    against the whole train split."""
    from protst_hf.annotation.reference import cross_fit_folds

    sequences = [r["sequence"] for r in train]
    rows, fit_hits = [], {}
    for queries, targets in cross_fit_folds([r["cluster"] for r in train], FOLDS * PER_FOLD, FOLDS, seed=0):
        found = search(sequences, [sequences[r] for r in queries], targets, output)
        fit_hits.update({len(rows) + q: h for q, h in found.items()})
        rows.extend(queries.tolist())
    test_hits = search(sequences, [r["sequence"] for r in test], np.arange(len(train)), output)
    return np.asarray(rows), fit_hits, test_hits


def evidences(hits: dict, count: int, table, prior: np.ndarray) -> tuple[dict, np.ndarray]:
    from protst_hf.annotation.evidence import hit_evidence
    from protst_hf.annotation.fusion import identity_bins

    scores, best_identity = hit_evidence(hits, table, count)
    return {**scores, "prior": prior[None, :]}, identity_bins(best_identity)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="outputs/go_homology_evidence")
    parser.add_argument("--limit", type=int, help="the first N proteins of the GO corpus only (a smoke run)")
    args = parser.parse_args()
    if not go_learning.available():
        print("skipped: ../shared/data/swissprot_go_2014 is not here")
        return 0
    from protst_hf.annotation.evidence import LabelTable
    from protst_hf.annotation.fusion import BINS, COMPONENTS, fit_fusion
    from protst_hf.evaluation.metrics import f1_max

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    print(describe(), flush=True)
    started = time.perf_counter()
    pairs, _ = go_learning.build(output, args.limit)
    train, test = go_learning.load_split(pairs, "train", ("cluster",)), go_learning.load_split(pairs, "test")
    rows, fit_hits, test_hits = lookups(train, test, output)
    go = go_learning.ontology()
    results = {"train_proteins": len(train), "test_proteins": len(test), "fit_proteins": len(rows), "namespaces": {}}
    lines = [f"GO terms from MMseqs2 hits alone (test split: {len(test):,} proteins, 30% clusters apart from "
             f"{len(train):,} train proteins); mix fitted per bin on {len(rows):,} cross-fit train proteins", ""]
    for field, short in go_learning.FIELDS.items():
        train_sets, test_sets = term_sets(train, go, field), term_sets(test, go, field)
        terms = sorted({t for s in train_sets + test_sets for t in s})  # test-only terms: false negatives
        columns = {t: i for i, t in enumerate(terms)}
        table = LabelTable.from_sets([[columns[t] for t in s] for s in train_sets], len(terms))
        prior = table.frequencies().astype(np.float32)
        y_fit = term_matrix([train_sets[r] for r in rows], columns)
        y_test = term_matrix(test_sets, columns)
        fit, fit_bins = evidences(fit_hits, len(rows), table, prior)
        test_scores, test_bins = evidences(test_hits, len(test), table, prior)
        fusion = fit_fusion(fit, fit_bins, y_fit)
        mixed = fusion.fuse(test_scores, test_bins)
        per_bin = []
        for b, name in enumerate(BINS):
            test_rows = np.flatnonzero((test_bins == b) & y_test.any(1))
            report = fusion.report[name]
            if not report["proteins"] or not len(test_rows):
                continue
            weights = {SCORES[c]: round(float(w), 2) for c, w in zip(COMPONENTS, fusion.weights[b]) if c in SCORES}
            row = {"bin": name, "fit_proteins": report["proteins"], "test_proteins": len(test_rows),
                   "weights": weights, "weights_from": report["weights_from"],
                   "fit_fmax": {"diamond": report["homology"], "mix": report.get("fused", float("nan"))},
                   "test_fmax": {**{column: f1_max(y_test[test_rows], np.broadcast_to(
                       test_scores[c], y_test.shape)[test_rows]) for c, column in SCORES.items()},
                                 "mix": f1_max(y_test[test_rows], mixed[test_rows])}}
            per_bin.append(row)
            print(short, json.dumps(row), flush=True)
        results["namespaces"][field] = per_bin
        lines += [f"**{short}**", "", "| bin | test proteins | diamond | best hit x identity | prior | mix (fitted) | "
                  "mix weights | fit: diamond -> mix |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['bin']} | {r['test_proteins']:,} | " +
                  " | ".join(f"{r['test_fmax'][s]:.3f}" for s in SCORES.values())
                  + f" | {r['test_fmax']['mix']:.3f} | " + ", ".join(f"{s} {w:g}" for s, w in r["weights"].items())
                  + f" | {r['fit_fmax']['diamond']:.3f} -> {r['fit_fmax']['mix']:.3f} |" for r in per_bin]
        lines.append("")
    results["seconds"] = time.perf_counter() - started
    results["machine"] = describe()
    (output / "results.json").write_text(json.dumps(results, indent=1))
    (output / "table.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
