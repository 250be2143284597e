"""Does a model pretrained by protst-hf learn its texts? The `cpu` preset on real protein-text pairs, judged on
held-out proteins beside baselines measured in the same run.

    python -m benchmarks.deeploc_learning [--output outputs/deeploc_learning] [--minutes 60] [-- pretraining args]

1. Pairs: DeepLoc 2.0 partitions 0-3 (about 17.5k proteins) with their Swiss-Prot location keywords
   (`deeploc_data.py`); partition 4 (4,273 proteins, homology-separated by DeepLoc's own partitioning) is held out.
2. Pretraining: the `cpu` preset through the package's own loop (`run_pretraining`), at most `--minutes` of
   training; validation on 1,000 partition-4 proteins is logged (monitoring only: the model kept is the last one,
   nothing is selected on partition 4). The model folder (AutoModel-ready, with its processor and Hub code) is
   `OUTPUT/model`.
3. The table, every row measured in this run on partition 4:
   - zero-shot through the public pipeline (`protst_hf.pipeline("zero-shot-protein-classification")`) with the
     built-in `subcellular_location` label set, and with the original's prompts (`subcellular_location_protst`):
     accuracy (a prediction is right when it is one of the protein's classes), balanced accuracy, per-class recall;
   - the majority class of training;
   - a logistic regression on amino-acid + dipeptide composition trained on partitions 0-3;
   - the same logistic regression on the frozen mean-pooled features of the trained model, and of the same
     architecture with random weights;
   - protein -> text and text -> protein Recall@K between partition-4 proteins and their texts, beside the
     frequency baseline (texts ranked by training frequency) and uniform chance;
   - masked-residue accuracy against the unigram baseline, when the recipe trains an MLM head.
4. `OUTPUT/learning_curves.png` (zero-shot accuracy and losses over steps), `OUTPUT/results.json`.

The data carry no redistribution licence: they are read from ../shared/data and the script exits cleanly when they
are absent.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from . import deeploc_data
from .hardware import describe
from .timed_pretraining import timed_pretraining


def pretrain(pairs: Path, run_dir: Path, minutes: float, extra: list[str]) -> dict:
    argv = ["--preset", "cpu", "--dataset", str(pairs), "--output_dir", str(run_dir), "--zero_shot_file",
            str(pairs / "zero_shot.csv"), "--zero_shot_label_set", "subcellular_location", "--max_minutes",
            str(minutes), "--report_to", "none", *extra]
    return timed_pretraining(argv)


def zero_shot(model_dir: Path, rows: list[dict], label_set: str) -> tuple[dict, list[int]]:
    """The public pipeline on every row, with its defaults (the check a user makes); the report of
    `protst_hf.evaluation.metrics.zero_shot_report` and the predicted class of each row."""
    import protst_hf

    classify = protst_hf.pipeline("zero-shot-protein-classification", model=str(model_dir), precision="float32")
    started = time.perf_counter()
    results = classify([(r["accession"], r["sequence"]) for r in rows], batch_size=32, label_set=label_set)
    seconds = time.perf_counter() - started
    names = classify.labels(label_set=label_set)[0]
    predictions = [names.index(r["labels"][0]) for r in results]
    report = accuracy_of(predictions, rows, full=True)
    report["proteins_per_second"] = len(rows) / seconds
    return report, predictions


def scoring_variants(model, processor, model_dir: Path, rows: list[dict]) -> dict:
    """The zero-shot rows of each scoring choice, each the package's `ZeroShotClassifier` (what the pipeline scores
    with) on one embedding of the proteins: the prior (uniform, the training texts'), the prompt pooling, the prompts
    (the built-in set, every training text of a class, the original's), each a report of `accuracy_of`;
    `predictions` holds each variant's predicted classes."""
    from protst_hf.models.protst.inference_protst import embed_proteins, embed_texts
    from protst_hf.models.protst.prompts_protst import label_set_prompts, read_training_texts
    from protst_hf.models.protst.zero_shot_protst import ZeroShotClassifier

    proteins = embed_proteins(model, processor, [r["sequence"] for r in rows])
    record = read_training_texts(model_dir / "training_texts.json")
    by_class = training_text_prompts(model_dir)
    sets = {"builtin": label_set_prompts("subcellular_location"),
            "training_texts": (list(by_class), list(by_class.values())),
            "protst": label_set_prompts("subcellular_location_protst")}
    out, predictions = {}, {}
    for prompts_name, (names, prompts) in sets.items():
        embeds = embed_texts(model, processor, [t for group in prompts for t in group])
        for pooling in ("mean", "logsumexp"):
            for prior in ("uniform", "training"):
                classifier = ZeroShotClassifier.build(model, processor, names, prompts, record, prior=prior,
                                                      pooling=pooling, prompt_embeds=embeds)
                if prior == "training" and classifier.log_prior is None:
                    continue
                key = f"{prompts_name}/{pooling}/{prior}"
                predictions[key] = classifier.logits(proteins).argmax(-1).tolist()
                out[key] = accuracy_of(predictions[key], rows)
    out["predictions"] = predictions
    return out


def training_text_prompts(model_dir: Path) -> dict:
    """Each class of the built-in `subcellular_location` set with every training text (recorded in the model folder)
    one of whose statements is a keyword of the class: the prompts of the log-sum-exp over training texts."""
    from protst_hf.models.protst.prompts_protst import (
        label_set_prompts,
        normalise_statement,
        read_training_texts,
        statements,
    )

    names, prompts = label_set_prompts("subcellular_location")
    record = read_training_texts(model_dir / "training_texts.json")
    out = {}
    for name, group in zip(names, prompts):
        keywords = {normalise_statement(p) for p in group}
        out[name] = [t for t in record["texts"] if keywords & set(statements(t))] or group
    return out


def features(model, processor, rows: list[dict]) -> np.ndarray:
    from protst_hf.models.protst.inference_protst import embed_proteins

    return embed_proteins(model, processor, [r["sequence"] for r in rows], batch_size=64, project=False,
                          normalize=False).numpy()


def retrieval(model, processor, model_dir: Path, train: list[dict], test: list[dict]) -> dict:
    """Protein -> text and text -> protein recall between the test proteins and their texts, and protein -> text
    again ranked by posterior (each text's training log prior added at the model's logit scale)."""
    from protst_hf.evaluation.retrieval_metrics import retrieval_metrics
    from protst_hf.models.protst.inference_protst import embed_proteins, embed_texts
    from protst_hf.models.protst.prior_protst import text_log_prior
    from protst_hf.models.protst.prompts_protst import read_training_texts
    from protst_hf.models.protst.zero_shot_protst import zero_shot_logit_scale

    proteins = embed_proteins(model, processor, [r["sequence"] for r in test])
    texts = embed_texts(model, processor, [r["text"] for r in test])
    names = [r["text"] for r in test]
    counts = Counter(r["text"] for r in train)
    out = retrieval_metrics(proteins, texts, texts=names, train_text_counts=counts)
    distinct = list(dict.fromkeys(names))
    bias = dict(zip(distinct, text_log_prior(distinct, read_training_texts(model_dir / "training_texts.json"))
                    .tolist()))
    with_prior = retrieval_metrics(proteins, texts, texts=names, text_bias=bias,
                                   logit_scale=zero_shot_logit_scale(model))
    out.update({f"{k}_with_prior": v for k, v in with_prior.items() if k.startswith("protein_to_text")})
    return out

def accuracy_of(predictions, rows, full: bool = False) -> dict:
    from protst_hf.evaluation.metrics import zero_shot_report

    report = zero_shot_report(predictions, [r["labels"] for r in rows], list(deeploc_data.CLASSES))
    return report if full else {k: report[k] for k in ("accuracy", "balanced_accuracy", "per_class_recall")}


def plot(run_dir: Path, baselines: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    train = [r for r in records if "train/loss" in r]
    evals = [r for r in records if "eval/zero_shot_accuracy" in r]
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for key in ("train/loss", "train/contrastive_loss", "train/mlm_loss"):
        points = [(r["step"], r[key]) for r in train if key in r]
        if points:
            axes[0].plot(*zip(*points), label=key.split("/")[1])
    axes[0].set(xlabel="step", ylabel="loss", title="training loss (partitions 0-3)")
    axes[0].legend(fontsize=8)
    for key, label in (("eval/zero_shot_accuracy", "zero-shot accuracy"),
                       ("eval/zero_shot_balanced_accuracy", "zero-shot balanced accuracy"),
                       ("eval/protein_feature_mean_cosine", "mean cosine of pooled features")):
        axes[1].plot([r["step"] for r in evals], [r[key] for r in evals], marker="o", label=label)
    for (label, value), style in zip(baselines.items(), ("--", ":", "-.")):
        axes[1].axhline(value, color="grey", linestyle=style, label=label)
    axes[1].set(xlabel="step", ylim=(0, 1), title="1,000 held-out partition-4 proteins during training")
    axes[1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# scoring variant -> its row in the table (prompts / pooling / prior)
VARIANT_ROWS = (
    ("builtin/mean/uniform", "zero-shot, `prior=\"uniform\"` (the original's scores)"),
    ("builtin/mean/training", "zero-shot, `prior=\"training\"` (+ log p(class) of the training texts)"),
    ("builtin/logsumexp/uniform", "zero-shot, uniform prior, `prompt_pooling=\"logsumexp\"`"),
    ("builtin/logsumexp/training", "zero-shot, training prior, `prompt_pooling=\"logsumexp\"`"),
    ("training_texts/logsumexp/uniform", "zero-shot, uniform prior, class = log-sum-exp over its training texts"),
    ("training_texts/logsumexp/training", "zero-shot, training prior, class = log-sum-exp over its training texts"),
    ("protst/mean/uniform", "zero-shot, uniform prior, the original's prompts (`subcellular_location_protst`)"),
    ("protst/mean/training", "zero-shot, training prior, the original's prompts"),
)


def table(results: dict) -> str:
    z, variants = results["zero_shot"], results["zero_shot_variants"]
    rows = [("zero-shot through the pipeline, its defaults (`prior=\"auto\"`, `prompt_pooling=\"auto\"`, built-in "
             "`subcellular_location`)",
             z["accuracy"], z["balanced_accuracy"])]
    rows += [(label, variants[key]["accuracy"], variants[key]["balanced_accuracy"]) for key, label in VARIANT_ROWS
             if key in variants]
    rows.append((f"majority class ({results['majority_class']})", results["majority"]["accuracy"],
                 results["majority"]["balanced_accuracy"]))
    for key, label in (("composition", "composition logistic regression (AA + dipeptides)"),
                       ("probe_trained", "frozen probe: trained model's features"),
                       ("probe_random", "frozen probe: same architecture, random weights")):
        if key in results:
            rows.append((label, results[key]["accuracy"], results[key]["balanced_accuracy"]))
    held = results.get("held_out_partition", 4)
    lines = [f"Partition {held} of DeepLoc 2.0 ({results['test_proteins']:,} proteins; trained on "
             f"{results['train_proteins']:,} proteins of partitions {'0-3' if held == 4 else '0-2'}, "
             f"{results['steps']} steps in {results['train_minutes']:.1f} min)",
             "", "| | accuracy | balanced accuracy |", "|---|---|---|"]
    lines += [f"| {name} | {a:.3f} | {b:.3f} |" for name, a, b in rows]
    r = results["retrieval"]
    lines += ["", f"| retrieval on partition {held} | R@1 | R@5 | R@10 |", "|---|---|---|---|"]
    for label, key in (("protein -> text", "protein_to_text_recall@{}"),
                       ("protein -> text, with the training prior", "protein_to_text_recall@{}_with_prior"),
                       ("  frequency baseline (protein ignored)", "protein_to_text_recall@{}_frequency"),
                       ("  uniform chance", "protein_to_text_recall@{}_chance"),
                       ("protein -> text, macro (per distinct text)", "protein_to_text_macro_recall@{}"),
                       ("protein -> text, macro, with the training prior",
                        "protein_to_text_macro_recall@{}_with_prior"),
                       ("  chance (any protein-blind ranking)", "protein_to_text_macro_recall@{}_chance"),
                       ("text -> protein", "text_to_protein_recall@{}"),
                       ("  uniform chance", "text_to_protein_recall@{}_chance")):
        lines.append(f"| {label} | " + " | ".join(f"{r[key.format(k)]:.3f}" for k in (1, 5, 10)) + " |")
    mlm = results.get("mlm")
    lines += ["", "MLM accuracy: " + (f"{mlm['accuracy']:.3f} vs unigram {mlm['unigram']:.3f}" if mlm else
                                      "no MLM head trained (mlm_weight 0 in this recipe)")]
    lines += ["", "Per-class recall, zero-shot (default): " + ", ".join(f"{k} {v:.2f}" for k, v in
                                                                       z["per_class_recall"].items()),
              "Prediction histogram, zero-shot (default): " + json.dumps(z["prediction_histogram"])]
    return "\n".join(lines)


def evaluate(model_dir: Path, train: list[dict], test: list[dict], quick: bool = False) -> dict:
    """Every row of the table for the model folder `model_dir` (`quick`: zero-shot and retrieval rows only)."""
    from transformers import AutoModel, AutoProcessor

    import protst_hf

    protst_hf.register()
    model = AutoModel.from_pretrained(model_dir).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    majority = deeploc_data.majority_class(train)
    results = {"train_proteins": len(train), "test_proteins": len(test),
               "majority_class": deeploc_data.CLASSES[majority], "machine": describe()}
    from protst_hf.models.protst.prior_protst import resolve_prior
    from protst_hf.models.protst.prompts_protst import read_training_texts
    from protst_hf.models.protst.zero_shot_protst import resolve_pooling

    results["zero_shot"], pipeline_predictions = zero_shot(model_dir, test, "subcellular_location")
    variants = scoring_variants(model, processor, model_dir, test)
    predictions = variants.pop("predictions")
    # the pipeline's default is one of the variants: which, and how many proteins it predicts alike (float32 sums
    # in other batch shapes can flip a near-tie)
    record = read_training_texts(model_dir / "training_texts.json")
    auto = f"builtin/{resolve_pooling('auto', record)}/{resolve_prior('auto', record)}"
    results["zero_shot"]["same_as_variant"] = {"variant": auto, "agreement": float(np.mean(
        np.asarray(predictions[auto]) == np.asarray(pipeline_predictions)))}
    results["zero_shot_variants"] = variants
    results["majority"] = accuracy_of([majority] * len(test), test)
    results["retrieval"] = retrieval(model, processor, model_dir, train, test)
    if quick:
        return results
    composition = deeploc_data.probe(deeploc_data.composition_features([r["sequence"] for r in train]), train,
                                     deeploc_data.composition_features([r["sequence"] for r in test]))
    results["composition"] = accuracy_of(composition, test)
    results["probe_trained"] = accuracy_of(deeploc_data.probe(features(model, processor, train), train,
                                                              features(model, processor, test)), test)
    torch.manual_seed(0)
    random_model = type(model)(model.config).eval()
    results["probe_random"] = accuracy_of(deeploc_data.probe(features(random_model, processor, train), train,
                                                             features(random_model, processor, test)), test)
    return results


def main() -> int:
    print(describe())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="outputs/deeploc_learning")
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget")
    parser.add_argument("--held-out-partition", type=int, default=4, choices=(3, 4),
                        help="4: train on partitions 0-3, report partition 4 (the table); 3: the tuning split (train "
                             "on 0-2, report partition 3; partition 4 is not read)")
    parser.add_argument("--train-only", action="store_true", help="pretrain and save the model folder, no table")
    parser.add_argument("--evaluate", metavar="MODEL_DIR",
                        help="no training: the table of a saved model folder (on --held-out-partition)")
    parser.add_argument("--quick", action="store_true", help="zero-shot and retrieval rows only (no probes)")
    args, extra = parser.parse_known_args()
    extra = extra[1:] if extra[:1] == ["--"] else extra
    if not deeploc_data.available():
        print(f"skipped: {deeploc_data.DEEPLOC} or {deeploc_data.KEYWORDS} is not present")
        return 0
    output = Path(args.output)
    splits = deeploc_data.load(held_out=args.held_out_partition)
    train, test = splits["train"], splits["test"]
    print(f"pairs: {len(train)} train, {len(test)} test (partition {args.held_out_partition})")
    output.mkdir(parents=True, exist_ok=True)
    if args.evaluate:
        results = evaluate(Path(args.evaluate), train, test, quick=args.quick)
        info = json.loads((Path(args.evaluate) / "training_info.json").read_text())
        results.update(held_out_partition=args.held_out_partition, steps=info["step"],
                       train_minutes=info["state"]["train_seconds"] / 60, model=args.evaluate)
        (output / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
        print(table(results))
        return 0

    pairs = deeploc_data.write_dataset(splits, output / "pairs")
    run_dir = output / "run"
    summary = pretrain(pairs, run_dir, args.minutes, extra)
    model_dir = output / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    shutil.copytree(summary["final_model"], model_dir)
    if args.train_only:
        print(f"model: {model_dir}")
        return 0
    results = evaluate(model_dir, train, test, quick=args.quick)
    results.update(held_out_partition=args.held_out_partition, steps=summary["steps"],
                   train_minutes=summary["train_seconds"] / 60, arguments=summary["arguments"])
    final = summary.get("final_metrics") or {}
    if "mlm_accuracy" in final:
        results["mlm"] = {"accuracy": final["mlm_accuracy"], "unigram": final["mlm_accuracy_unigram_baseline"]}
    (output / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    baselines = {"majority class (validation proteins)": final.get("zero_shot_majority_baseline", float("nan"))}
    if "composition" in results:
        baselines[f"composition LR (partition {args.held_out_partition})"] = results["composition"]["accuracy"]
    plot(run_dir, baselines, output / "learning_curves.png")
    print(table(results))
    print(f"\nmodel: {model_dir} (AutoModel-ready); curves: {output / 'learning_curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
