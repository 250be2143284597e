"""Annotate better than alignment alone? GO terms for the test split of the GO benchmark, fused from MMseqs2
homology (DiamondScore and the best hit's identity), embedding neighbours, the model's zero-shot scores and the label
frequencies, beside each of them alone, the same fusion without the model, and CAFA's baselines, per bin of the best
training hit's identity.

    python -m benchmarks.go_learning --output outputs/go_learning --train-only     # the model and the splits
    python -m benchmarks.go_annotation --source outputs/go_learning [--output outputs/go_annotation]

1. The annotation reference (`protst_hf.annotation.build_reference`, what `protst reference build` runs): the train
   split's proteins embedded with SOURCE/model and indexed, their GO terms per namespace under the true-path rule,
   the label prompts embedded, the fusion cross-fitted on 5,000 train proteins (5 folds of the train split's MMseqs2
   30% clusters, each protein annotated against the reference without its fold). Timed, with the peak memory of
   the process. Beside it, in the same run and on the same cross-fit draw, the fusion of the evidence that needs no
   model (the two homology scores and the label frequencies), as one more row: what the model adds is the
   difference.
2. The test split (8%, clusters apart) annotated against it: every evidence computed once (embedding, one MMseqs2
   search, one FAISS search), scored per namespace; 1,000 proteins through `AnnotationReference.annotate` (what
   `protst annotate` runs) timed separately.
3. The table, per namespace, on the test proteins annotated in it: the fused annotator; each evidence alone
   (homology = DiamondScore over MMseqs2 hits; best hit = its terms scored by its identity, CAFA's BLAST baseline and
   the GO benchmark's homology row; neighbours = k-NN transfer in embedding space; zero-shot; naive); Fmax and
   macro AUPR (terms with >= 10 test proteins), and Fmax per bin of the best hit's identity (no hit, < 30%,
   30-50%, >= 50%). Nothing is chosen on the test split. Beside the package's Fmax, CAFA-evaluator's (cafaeval, run
   as CAFA5 ran it: predictions propagated with max, roots left out): Fmax, information-accretion-weighted Fmax and
   Smin, IA computed from the reference's (train) annotations.
4. `OUTPUT/results.json`, `OUTPUT/table.md`.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from protst_hf.evaluation.go import MIN_TEST_PROTEINS, term_matrix, term_sets

from . import go_learning
from .hardware import describe

FIELDS = go_learning.FIELDS
CHUNK = 2000


def peak_memory_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def cut(matrix: np.ndarray, rows: np.ndarray, proteins: int, width: int, extra: int) -> np.ndarray:
    """The rows' scores over the reference's `width` terms (a one-row matrix is every protein's), then 0 for the
    `extra` test-only terms."""
    full = np.broadcast_to(matrix, (proteins, width))[rows]
    return np.hstack([full, np.zeros((len(full), extra), dtype=np.float32)])


def fmax_per_bin(truth: np.ndarray, scores_of, labelled: np.ndarray, bins: np.ndarray) -> dict[str, float]:
    """Fmax of the labelled proteins of each identity bin (bins without any left out); `scores_of(mask)` gives the
    scores of the proteins in `mask`."""
    from protst_hf.annotation import BINS
    from protst_hf.evaluation.metrics import f1_max

    out = {}
    for b, name in enumerate(BINS):
        in_bin = labelled & (bins == b)
        if in_bin.any():
            out[name] = f1_max(truth[in_bin], scores_of(in_bin))
    return out


def bin_cells(row: dict) -> str:
    """A table row's per-bin cells, in `BINS` order ('-': no protein in the bin)."""
    from protst_hf.annotation import BINS

    return " | ".join(f"{row['bins'][b]:.3f}" if b in row["bins"] else "-" for b in BINS)


def build(source: Path, output: Path, limit: int | None, threads: int | None) -> tuple[dict, object]:
    from transformers import AutoModel, AutoProcessor

    import protst_hf
    from protst_hf.annotation import (
        AnnotationReference,
        build_reference,
        fit_fusion,
        hit_evidence,
        identity_bins,
        reference_inputs,
    )
    from protst_hf.models.protst.inference_protst import resolve_precision
    from protst_hf.models.protst.prompts_protst import field_template, read_training_texts

    protst_hf.register()
    model_dir, pairs = source / "model", source / "pairs"
    model = AutoModel.from_pretrained(model_dir).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    dtype = "bfloat16" if resolve_precision("auto", "cpu") == "bfloat16" else None
    record = read_training_texts(model_dir / "training_texts.json")
    go = go_learning.ontology()
    train = go_learning.load_split(pairs, "train", extra=("cluster",))[:limit]
    inputs = reference_inputs(train, ontology=go, namespaces=list(FIELDS),
                              templates={f: field_template(record, f) for f in FIELDS})
    proteins, fields, clusters = inputs.proteins, inputs.fields, inputs.clusters
    reference = output / "reference"
    started = time.perf_counter()
    summary = build_reference(reference, model, processor, proteins, fields, clusters=clusters,
                              model_name=str(model_dir), dtype=dtype, threads=threads, progress=False,
                              report={"invalid_sequences": inputs.skipped})
    summary["wall_seconds"] = time.perf_counter() - started
    summary["reference_proteins"] = len(proteins)
    summary["peak_memory_gib"] = peak_memory_gib()
    # in the same run, on the same cross-fit draw: the fusion of the evidence that needs no model
    started = time.perf_counter()
    loaded = AnnotationReference.load(reference)
    fitted = summary["fitted_on"]
    rows, lookup = loaded.cross_fit_lookup(clusters, fitted["proteins"], fitted["folds"],
                                           seed=fitted["seed"], threads=threads, workdir=output)
    summary["homology_only_fit"] = {}
    for field in fields:
        evidence, best_identity = hit_evidence(lookup.hits, field.table, len(rows))
        evidence["prior"] = field.table.frequencies().astype(np.float32)[None, :]
        fusion = fit_fusion(evidence, identity_bins(best_identity), field.table.dense(rows))
        summary["homology_only_fit"][field.name] = fusion.to_dict()
    summary["homology_only_fit_seconds"] = time.perf_counter() - started
    return summary, (model, processor, dtype, go)


def evaluate(source: Path, output: Path, loaded, threads: int | None, homology_fits: dict,
             limit: int | None = None) -> dict:
    from protst_hf.annotation import BINS, AnnotationReference, Fusion
    from protst_hf.evaluation.metrics import auprc_macro, f1_max

    model, processor, dtype, go = loaded
    reference = AnnotationReference.load(output / "reference")
    test = go_learning.load_split(source / "pairs", "test")[:limit]
    sequences = [r["sequence"] for r in test]
    results = {"test_proteins": len(test), "namespaces": {}}
    accessions = [r["accession"] for r in test]
    cafa = go_learning.cafa_scorer(source / "pairs", output, test, go, limit)

    # 1,000 proteins as `protst annotate` runs them (one field; the search and embedding included)
    sample = [(r["accession"], r["sequence"]) for r in test[:1000]]
    started = time.perf_counter()
    for _ in reference.annotate(model, processor, sample, "molecular_function", dtype=dtype, threads=threads):
        pass
    results["annotate_1000_seconds"] = time.perf_counter() - started
    results["annotate_1000_proteins"] = len(sample)

    started = time.perf_counter()
    lookups = [reference.lookup(model, processor, sequences[i:i + CHUNK], dtype=dtype, threads=threads,
                                workdir=output) for i in range(0, len(sequences), CHUNK)]
    results["lookup_seconds"] = time.perf_counter() - started
    hit_count = sum(len(lookup.hits) for lookup in lookups)
    results["with_hit"] = hit_count / max(len(test), 1)
    for field, short in FIELDS.items():
        labels, fusion, info = reference.field(field)
        homology_fusion = Fusion.from_dict(homology_fits[field])
        parts = {name: [] for name in ("fused", "fused_homology", "homology", "best_hit", "neighbours", "text")}
        bins = []
        for lookup in lookups:
            evidence, chunk_bins = reference.evidence(model, lookup, field)
            parts["fused"].append(fusion.fuse(evidence, chunk_bins))
            parts["fused_homology"].append(homology_fusion.fuse(evidence, chunk_bins))
            for name in ("homology", "best_hit", "neighbours", "text"):
                parts[name].append(evidence[name])
            bins.append(chunk_bins)
        bins = np.concatenate(bins)
        scores = {name: np.concatenate(chunks) for name, chunks in parts.items()}
        prior = np.asarray(info["prior"], dtype=np.float32)
        # the truth over the reference's terms and the test's terms the reference never saw (scored 0 by all)
        truth_sets = term_sets(test, go, field)
        extra = sorted({t for s in truth_sets for t in s} - set(labels.ids))
        columns = {t: i for i, t in enumerate(list(labels.ids) + extra)}
        truth = term_matrix(truth_sets, columns)
        labelled = truth.any(1)
        shape = (len(test), len(labels.ids), len(extra))

        methods = {"fused (protst annotate)": scores["fused"],
                   "fused without the model (homology scores and frequencies)": scores["fused_homology"],
                   "homology (DiamondScore over MMseqs2 hits)": scores["homology"],
                   "MMseqs2 best hit x identity (CAFA BLAST; best_hit)": scores["best_hit"],
                   "embedding neighbours (k-NN)": scores["neighbours"], "zero-shot (text)": scores["text"],
                   "naive (label frequencies)": prior[None, :]}
        rows = {}
        for method, matrix in methods.items():
            subset = cut(matrix, labelled, *shape)
            macro, _ = auprc_macro(truth[labelled], subset, MIN_TEST_PROTEINS)
            scores_of = functools.partial(cut, matrix, proteins=shape[0], width=shape[1], extra=shape[2])
            rows[method] = {"fmax": f1_max(truth[labelled], subset), "macro_auprc": macro,
                            "bins": fmax_per_bin(truth, scores_of, labelled, bins),
                            "cafaeval": cafa(matrix, accessions, labels.ids, field)}
        results["namespaces"][field] = {
            "test_proteins": int(labelled.sum()), "reference_terms": len(labels.ids), "test_only_terms": len(extra),
            "bin_proteins": {name: int((labelled & (bins == b)).sum()) for b, name in enumerate(BINS)},
            "weights": info["fusion"]["weights"], "fit_report": info["fusion"]["report"],
            "fitted_on": info["fitted_on"], "homology_only_weights": homology_fits[field]["weights"],
            "rows": rows}
        print(f"{short}: " + ", ".join(f"{k} {v['fmax']:.3f} (cafaeval {v['cafaeval']['fmax']:.3f}, weighted "
                                       f"{v['cafaeval']['weighted_fmax']:.3f}, Smin {v['cafaeval']['smin']:.2f})"
                                       for k, v in rows.items()), flush=True)
        del scores, parts
    results["peak_memory_gib"] = peak_memory_gib()
    return results


def table(results: dict) -> str:
    from protst_hf.annotation import BINS, COMPONENTS

    def weights_text(weights) -> str:
        return "; ".join(f"{b}: " + ", ".join(f"{c} {w:.1f}" for c, w in zip(COMPONENTS, weights[i]) if w > 0)
                         for i, b in enumerate(BINS))

    build = results["build"]
    lines = [f"GO annotation of the test split ({results['test_proteins']:,} proteins, MMseqs2 30% clusters apart "
             f"from the {build['reference_proteins']:,} reference proteins; {results['with_hit']:.0%} have a hit); "
             f"model: {results['model_steps']}", ""]
    for field, entry in results["namespaces"].items():
        counts = entry["bin_proteins"]
        lines += [f"**{FIELDS[field]}** ({entry['test_proteins']:,} proteins; {entry['reference_terms']:,} reference "
                  f"terms, {entry['test_only_terms']:,} test-only terms scored 0 by every method)", "",
                  "| method | Fmax | cafaeval Fmax | weighted Fmax | Smin | macro AUPR | "
                  + " | ".join(f"Fmax {b} ({counts[b]:,})" for b in BINS) + " |",
                  "|---|---|---|---|---|---|" + "---|" * len(BINS)]
        for method, row in entry["rows"].items():
            cafa = row.get("cafaeval") or {}
            lines.append(f"| {method} | {row['fmax']:.3f} | {cafa.get('fmax', float('nan')):.3f} | "
                         f"{cafa.get('weighted_fmax', float('nan')):.3f} | {cafa.get('smin', float('nan')):.2f} | "
                         f"{row['macro_auprc']:.3f} | {bin_cells(row)} |")
        fitted = entry["fitted_on"]
        lines += ["", f"Fusion weights (cross-fitted on {fitted['proteins']:,} train proteins, {fitted['folds']} "
                  f"folds of {fitted['clusters']:,} clusters): {weights_text(entry['weights'])}", "",
                  f"Without the model, same draw: {weights_text(entry['homology_only_weights'])}", ""]
    lines += [f"Cost on this machine: reference of {build['reference_proteins']:,} proteins built in "
              f"{build['wall_seconds'] / 60:.1f} min (embedding {build['embedding']['seconds'] / 60:.1f} min, "
              f"cross-fitting {build['fit_seconds'] / 60:.1f} min); {results['annotate_1000_proteins']:,} proteins "
              f"annotated (one namespace, search included) in {results['annotate_1000_seconds']:.0f} s; peak memory "
              f"{max(build['peak_memory_gib'], results['peak_memory_gib']):.1f} GiB."]
    return "\n".join(lines) + "\n"


def main() -> int:
    print(describe(), flush=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("outputs/go_learning"),
                        help="a go_learning.py output folder (its model/ and pairs/)")
    parser.add_argument("--output", type=Path, default=Path("outputs/go_annotation"))
    parser.add_argument("--limit", type=int, help="the first N reference and test proteins only (a smoke run)")
    parser.add_argument("--threads", type=int, help="MMseqs2 threads")
    args = parser.parse_args()
    if not go_learning.available():
        print(f"skipped: {go_learning.DATA} is absent")
        return 0
    if not (args.source / "model" / "config.json").is_file():
        print(f"error: {args.source}/model is not a model folder: run go_learning.py --train-only first",
              file=sys.stderr)
        return 2
    if (args.output / "reference").exists() and (args.output / "reference" / "reference.json").exists():
        shutil.rmtree(args.output / "reference")
    args.output.mkdir(parents=True, exist_ok=True)
    summary, loaded = build(args.source, args.output, args.limit, args.threads)
    print(f"reference built in {summary['wall_seconds'] / 60:.1f} min", flush=True)
    results = evaluate(args.source, args.output, loaded, args.threads, summary.pop("homology_only_fit"), args.limit)
    results["build"] = summary
    results["machine"] = describe()
    info_file = args.source / "model" / "training_info.json"
    step = json.loads(info_file.read_text()).get("step") if info_file.is_file() else None
    results["model_steps"] = f"{args.source / 'model'}, {step} pretraining steps" if step else str(args.source)
    (args.output / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    (args.output / "table.md").write_text(table(results))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
