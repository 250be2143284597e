"""Alternatives to the annotation reference's choices, measured where nothing is tested: GO terms of cross-fitted
reference proteins (families the reference lacks), per bin of the best hit's identity.

    python -m benchmarks.go_learning --output outputs/go_learning --train-only     # the model and the splits
    python -m benchmarks.go_annotation --source outputs/go_learning                # the reference
    python -m benchmarks.studies.go_fusion_alternatives --source outputs/go_learning \\
        --reference outputs/go_annotation/reference [--output outputs/go_fusion_alternatives]

The reference's cross-fitting draw (its build's proteins, folds and seed) is looked up again: each drawn protein
searched (MMseqs2) and embedded-space searched against the reference without its fold. The proteins of the first
fold are the evaluation set; everything fitted is fitted on the proteins of the other folds, so no fitted choice
sees an evaluation protein's cluster. Per namespace, Fmax overall and per bin of the one-search best-hit identity:

1. each evidence alone, and the reference's fusion (`fit_fusion`: a convex blend per identity bin, chosen by Fmax on
   a grid of the simplex);
2. the alternative the issue offered for the fit, a small logistic model: per bin, an L2-regularised logistic
   regression on every (protein, term) pair (negatives subsampled and reweighted), each evidence and its log as
   features;
3. MMseqs2 as an iterative profile search (`--num-iterations 3`, PSI-BLAST-like) instead of one search: the two
   homology evidences, and the fusion refitted on them;
4. a supervised learned score in place of zero-shot text: a linear head on the model's embeddings (sigmoid per term,
   binary cross-entropy, Adam, 5 epochs) trained on the reference proteins outside the evaluation fold, initialised
   from the zero-shot classifier's label embeddings (text-initialised: what text could add to a supervised head) or
   from zero.

Writes OUTPUT/results.json and OUTPUT/table.md. Reads the GO splits the GO benchmark built; no test protein is read.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from .. import go_annotation, go_learning
from ..hardware import describe

EVIDENCES = ("homology", "best_hit", "neighbours", "text")
MAX_PAIRS = 4_000_000  # logistic model: (protein, term) pairs per bin, negatives subsampled beyond


def stacker_features(evidence: dict, rows: np.ndarray, width: int) -> torch.Tensor:
    """(rows, labels, 10): each of the five evidences and its log (floored at 1e-4)."""
    columns = []
    for name in ("homology", "best_hit", "neighbours", "text", "prior"):
        value = evidence[name]
        x = np.broadcast_to(value, (len(rows), width)) if value.shape[0] == 1 else value[rows]
        x = torch.from_numpy(np.ascontiguousarray(x))
        columns += [x, torch.log(x.clamp_min(1e-4))]
    return torch.stack(columns, -1)


def fit_stacker(evidence: dict, bins: np.ndarray, truth: np.ndarray, seed: int = 0) -> dict:
    """Per bin, `(weights, bias, mean, std)` of an L2-regularised logistic regression on every (protein, label) pair
    of the bin's labelled proteins; negatives beyond `MAX_PAIRS` subsampled and reweighted."""
    rng = np.random.default_rng(seed)
    models, width = {}, truth.shape[1]
    for b in range(4):
        rows = np.flatnonzero((bins == b) & truth.any(1))
        if not len(rows):
            continue
        x = stacker_features(evidence, rows, width).reshape(-1, 10)
        y = torch.from_numpy(truth[rows].reshape(-1))
        negatives = int((~y).sum())
        rate = min(1.0, MAX_PAIRS / max(negatives, 1))
        keep = y.numpy() | (rng.random(len(y)) < rate)
        x, y = x[torch.from_numpy(keep)], y[torch.from_numpy(keep)].float()
        weight = torch.where(y > 0, 1.0, 1.0 / rate)
        mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
        w, c = logistic_regression((x - mean) / std, y, weight)
        models[b] = (w, c, mean, std)
    return models


def logistic_regression(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor,
                        l2: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and bias of a weighted, L2-regularised logistic regression (L-BFGS, at most 200 iterations)."""
    w, c = torch.zeros(x.shape[1], requires_grad=True), torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, c], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + c, y, weight=weight) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return w.detach(), c.detach()


def apply_stacker(models: dict, evidence: dict, bins: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((len(bins), width), dtype=np.float32)
    for b, (w, c, mean, std) in models.items():
        rows = np.flatnonzero(bins == b)
        if len(rows):
            x = (stacker_features(evidence, rows, width) - mean) / std
            out[rows] = torch.sigmoid(x @ w + c).numpy()
    return out


def train_head(embeddings: np.ndarray, rows: np.ndarray, table, init: torch.Tensor, epochs: int = 5,
               seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A linear head (labels, D) + bias trained with binary cross-entropy on the reference proteins `rows`, started
    from `init` (the bias starts so that each label's mean score is its frequency)."""
    x_all = torch.from_numpy(embeddings)
    frequency = torch.from_numpy(table.frequencies()).float().clamp(1e-6, 1 - 1e-6)
    weight = init.clone()
    with torch.no_grad():
        bias = torch.logit(frequency) - (x_all[rows[:5000]] @ weight.T).mean(0)
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    optimizer = torch.optim.Adam([weight, bias], lr=1e-2)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = rows[torch.randperm(len(rows), generator=generator).numpy()]
        for start in range(0, len(order), 2048):
            batch = order[start:start + 2048]
            target = torch.from_numpy(table.dense(batch)).float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(x_all[batch] @ weight.T + bias, target,
                                                                        reduction="sum") / len(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return weight.detach(), bias.detach()


def main() -> int:
    print(describe(), flush=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("outputs/go_learning"))
    parser.add_argument("--reference", type=Path, default=Path("outputs/go_annotation/reference"))
    parser.add_argument("--output", type=Path, default=Path("outputs/go_fusion_alternatives"))
    parser.add_argument("--iterations", type=int, default=3, help="the profile search's --num-iterations")
    parser.add_argument("--skip-heads", action="store_true", help="no supervised heads (the slowest part)")
    parser.add_argument("--proteins", type=int, default=None, help="proteins drawn (default: the build's draw)")
    parser.add_argument("--namespaces", nargs="+", choices=sorted(go_learning.FIELDS.values()),
                        default=list(go_learning.FIELDS.values()), help="GO namespaces (BP is the slowest)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    from transformers import AutoModel

    import protst_hf
    from protst_hf.annotation import (
        BINS,
        AnnotationReference,
        fit_fusion,
        hit_evidence,
        identity_bins,
        ontology_consistent,
    )
    from protst_hf.annotation.reference import cross_fit_folds
    from protst_hf.embedding.shards import iter_embedding_shards
    from protst_hf.evaluation.metrics import f1_max

    protst_hf.register()
    torch.manual_seed(0)
    reference = AnnotationReference.load(args.reference)
    model = AutoModel.from_pretrained(args.source / "model").eval()
    reference.check_model(model)
    fitted = dict(reference.manifest["build"]["fitted_on"])
    fitted["proteins"] = args.proteins or fitted["proteins"]
    train = go_learning.load_split(args.source / "pairs", "train", extra=("cluster",))
    clusters = [r["cluster"] for r in train]
    draws = cross_fit_folds(clusters, fitted["proteins"], fitted["folds"], fitted["seed"])
    embeddings = np.concatenate([v for _, v in iter_embedding_shards(reference.folder / "embeddings")])
    results = {"reference": str(args.reference), "fitted_on": fitted, "iterations": args.iterations,
               "seconds": {}, "namespaces": {}}
    lookups = {}
    for name, iterations in (("one search", 1), (f"profile search ({args.iterations} iterations)", args.iterations)):
        started = time.perf_counter()
        reference.manifest["settings"]["search_iterations"] = iterations
        rows, lookups[name] = reference.cross_fit_lookup(clusters, fitted["proteins"], fitted["folds"],
                                                         seed=fitted["seed"], threads=args.threads,
                                                         workdir=args.output.parent)
        results["seconds"][f"cross-fit lookup, {name}"] = time.perf_counter() - started
        print(f"{name}: {len(lookups[name].hits):,} of {len(rows):,} drawn proteins with a hit, "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    reference.manifest["settings"]["search_iterations"] = 1
    evaluation = np.isin(rows, draws[0][0])
    fit = ~evaluation
    profile = f"profile search ({args.iterations} iterations)"
    for field, short in go_learning.FIELDS.items():
        if short not in args.namespaces:
            continue
        labels, _fusion, _info = reference.field(field)
        evidence, bins = reference.evidence(model, lookups["one search"], field)
        # the profile search changes only what comes from hits: the other evidences are the same lookups'
        from_hits, deep_identity = hit_evidence(lookups[profile].hits, labels.table, len(rows))
        deep, deep_bins = {**evidence, **from_hits}, identity_bins(deep_identity)
        truth = labels.table.dense(rows)
        width = truth.shape[1]

        def part(values: dict, mask: np.ndarray) -> dict:
            return {k: v if v.shape[0] == 1 else v[mask] for k, v in values.items()}

        scores = {f"{name} alone": evidence[name][evaluation] for name in EVIDENCES}
        scores["naive alone"] = np.broadcast_to(evidence["prior"], (int(evaluation.sum()), width))
        started = time.perf_counter()
        fusion = fit_fusion(part(evidence, fit), bins[fit], truth[fit])
        results["seconds"][f"{short} convex fit"] = time.perf_counter() - started
        scores["convex blend per bin (fit_fusion, as the reference)"] = fusion.fuse(part(evidence, evaluation),
                                                                             bins[evaluation])
        started = time.perf_counter()
        stacker = fit_stacker(part(evidence, fit), bins[fit], truth[fit])
        results["seconds"][f"{short} logistic fit"] = time.perf_counter() - started
        stacked = apply_stacker(stacker, part(evidence, evaluation), bins[evaluation], width)
        scores["logistic model per bin"] = ontology_consistent(stacked, labels.parents)
        scores[f"{profile}: homology alone"] = deep["homology"][evaluation]
        scores[f"{profile}: best_hit alone"] = deep["best_hit"][evaluation]
        deep_fusion = fit_fusion(part(deep, fit), deep_bins[fit], truth[fit])
        scores[f"{profile}: convex blend per bin"] = deep_fusion.fuse(part(deep, evaluation), deep_bins[evaluation])
        if not args.skip_heads:
            classifier = reference._zero_shot(model, labels)
            text_weights = classifier.cosines(torch.eye(embeddings.shape[1])).T.contiguous() * classifier.scale
            outside = draws[0][1]  # every reference protein outside the evaluation fold
            for init_name, init in (("text-initialised", text_weights), ("zero-initialised",
                                                                          torch.zeros_like(text_weights))):
                started = time.perf_counter()
                weight, bias = train_head(embeddings, outside, labels.table, init)
                results["seconds"][f"{short} {init_name} head"] = time.perf_counter() - started
                with torch.no_grad():
                    head = torch.sigmoid(torch.from_numpy(embeddings[rows[evaluation]]) @ weight.T + bias).numpy()
                scores[f"linear head on the embeddings, {init_name}"] = ontology_consistent(head, labels.parents)
        target, eval_bins = truth[evaluation], bins[evaluation]
        labelled = target.any(1)
        table_rows = {}
        for method, matrix in scores.items():
            table_rows[method] = {"fmax": f1_max(target[labelled], matrix[labelled]),
                                  "bins": go_annotation.fmax_per_bin(target, matrix.__getitem__, labelled, eval_bins)}
        results["namespaces"][field] = {
            "evaluation_proteins": int(labelled.sum()), "fit_proteins": int(truth[fit].any(1).sum()),
            "bin_proteins": {n: int((labelled & (eval_bins == b)).sum()) for b, n in enumerate(BINS)},
            "profile_bin_proteins": {n: int((labelled & (deep_bins[evaluation] == b)).sum())
                                     for b, n in enumerate(BINS)},
            "rows": table_rows}
        print(f"{short}: " + ", ".join(f"{k} {v['fmax']:.3f}" for k, v in table_rows.items()), flush=True)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.output / "table.md").write_text(table(results))
    print(table(results))
    return 0


def table(results: dict) -> str:
    from protst_hf.annotation import BINS

    fitted = results["fitted_on"]
    lines = [f"Fusion alternatives on cross-fitted reference proteins ({results['reference']}: its draw of "
             f"{fitted['proteins']:,} proteins over {fitted['folds']} folds; evaluated on the first fold, fitted on "
             "the others; bins of the one-search best-hit identity)", ""]
    for field, entry in results["namespaces"].items():
        counts = entry["bin_proteins"]
        lines += [f"**{go_learning.FIELDS[field]}** ({entry['evaluation_proteins']:,} evaluation proteins, "
                  f"{entry['fit_proteins']:,} fitting proteins)", "",
                  "| method | Fmax | " + " | ".join(f"{b} ({counts[b]:,})" for b in BINS) + " |",
                  "|---|---|" + "---|" * len(BINS)]
        for method, row in entry["rows"].items():
            lines.append(f"| {method} | {row['fmax']:.3f} | {go_annotation.bin_cells(row)} |")
        lines.append("")
    lines.append("Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in results["seconds"].items()))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
