"""Does a model pretrained by protst-hf learn its texts? The `cpu` preset on real protein-text pairs, judged on
held-out proteins beside baselines measured in the same run.

    python benchmarks/deeploc_learning.py [--output outputs/deeploc_learning] [--minutes 60] [-- pretraining args]

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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deeploc_data  # noqa: E402


def pretrain(pairs: Path, run_dir: Path, minutes: float, extra: list[str]) -> dict:
    from protst_hf.training import parse_args, run_pretraining

    argv = ["--preset", "cpu", "--dataset", str(pairs), "--output_dir", str(run_dir), "--zero_shot_file",
            str(pairs / "zero_shot.csv"), "--zero_shot_label_set", "subcellular_location", "--max_minutes",
            str(minutes), "--report_to", "none", *extra]
    model_args, data_args, train_args = parse_args(argv)
    started = time.perf_counter()
    summary = run_pretraining(model_args, data_args, train_args)
    summary["train_seconds"] = time.perf_counter() - started
    summary["arguments"] = argv
    return summary


def zero_shot(model_dir: Path, rows: list[dict], label_set: str) -> dict:
    """The public pipeline on every row; the report of `protst_hf.evaluation.metrics.zero_shot_report`."""
    import protst_hf
    from protst_hf.evaluation.metrics import zero_shot_report

    classify = protst_hf.pipeline("zero-shot-protein-classification", model=str(model_dir), precision="float32")
    started = time.perf_counter()
    results = classify([(r["accession"], r["sequence"]) for r in rows], label_set=label_set, batch_size=32)
    seconds = time.perf_counter() - started
    names = classify.labels(label_set=label_set)[0]
    predictions = [names.index(r["labels"][0]) for r in results]
    report = zero_shot_report(predictions, [r["labels"] for r in rows], list(deeploc_data.CLASSES))
    report["proteins_per_second"] = len(rows) / seconds
    return report


def features(model, processor, rows: list[dict]) -> np.ndarray:
    from protst_hf.models.protst.inference_protst import embed_proteins

    return embed_proteins(model, processor, [r["sequence"] for r in rows], batch_size=64, project=False,
                          normalize=False).numpy()


def retrieval(model, processor, train: list[dict], test: list[dict]) -> dict:
    from protst_hf.evaluation.retrieval_metrics import retrieval_metrics
    from protst_hf.models.protst.inference_protst import embed_proteins, embed_texts

    proteins = embed_proteins(model, processor, [r["sequence"] for r in test])
    texts = embed_texts(model, processor, [r["text"] for r in test])
    return retrieval_metrics(proteins, texts, texts=[r["text"] for r in test],
                             train_text_counts=Counter(r["text"] for r in train))


def accuracy_of(predictions, rows) -> dict:
    from protst_hf.evaluation.metrics import zero_shot_report

    report = zero_shot_report(predictions, [r["labels"] for r in rows], list(deeploc_data.CLASSES))
    return {k: report[k] for k in ("accuracy", "balanced_accuracy", "per_class_recall")}


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


def table(results: dict) -> str:
    z, zp = results["zero_shot"], results["zero_shot_protst_prompts"]
    rows = [
        ("zero-shot, pipeline + built-in `subcellular_location`", z["accuracy"], z["balanced_accuracy"]),
        ("zero-shot, the original's prompts (`subcellular_location_protst`)", zp["accuracy"],
         zp["balanced_accuracy"]),
        (f"majority class ({results['majority_class']})", results["majority"]["accuracy"],
         results["majority"]["balanced_accuracy"]),
        ("composition logistic regression (AA + dipeptides)", results["composition"]["accuracy"],
         results["composition"]["balanced_accuracy"]),
        ("frozen probe: trained model's features", results["probe_trained"]["accuracy"],
         results["probe_trained"]["balanced_accuracy"]),
        ("frozen probe: same architecture, random weights", results["probe_random"]["accuracy"],
         results["probe_random"]["balanced_accuracy"]),
    ]
    lines = [f"Partition 4 of DeepLoc 2.0 ({results['test_proteins']:,} proteins; trained on partitions 0-3, "
             f"{results['train_proteins']:,} proteins, {results['steps']} steps in "
             f"{results['train_minutes']:.1f} min)",
             "", "| | accuracy | balanced accuracy |", "|---|---|---|"]
    lines += [f"| {name} | {a:.3f} | {b:.3f} |" for name, a, b in rows]
    r = results["retrieval"]
    lines += ["", "| retrieval on partition 4 | R@1 | R@5 | R@10 |", "|---|---|---|---|"]
    for label, key in (("protein -> text", "protein_to_text_recall@{}"),
                       ("  frequency baseline (protein ignored)", "protein_to_text_recall@{}_frequency"),
                       ("  uniform chance", "protein_to_text_recall@{}_chance"),
                       ("protein -> text, macro (per distinct text)", "protein_to_text_macro_recall@{}"),
                       ("  chance (any protein-blind ranking)", "protein_to_text_macro_recall@{}_chance"),
                       ("text -> protein", "text_to_protein_recall@{}"),
                       ("  uniform chance", "text_to_protein_recall@{}_chance")):
        lines.append(f"| {label} | " + " | ".join(f"{r[key.format(k)]:.3f}" for k in (1, 5, 10)) + " |")
    mlm = results.get("mlm")
    lines += ["", "MLM accuracy: " + (f"{mlm['accuracy']:.3f} vs unigram {mlm['unigram']:.3f}" if mlm else
                                      "no MLM head trained (mlm_weight 0 in this recipe)")]
    lines += ["", "Per-class recall, zero-shot: " + ", ".join(f"{k} {v:.2f}" for k, v in
                                                             z["per_class_recall"].items()),
              "Prediction histogram, zero-shot: " + json.dumps(z["prediction_histogram"])]
    return "\n".join(lines)


def main() -> int:
    from hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="outputs/deeploc_learning")
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget")
    args, extra = parser.parse_known_args()
    extra = extra[1:] if extra[:1] == ["--"] else extra
    if not deeploc_data.available():
        print(f"skipped: {deeploc_data.DEEPLOC} or {deeploc_data.KEYWORDS} is not present")
        return 0
    output = Path(args.output)
    splits = deeploc_data.load()
    pairs = deeploc_data.write_dataset(splits, output / "pairs")
    train, test = splits["train"], splits["test"]
    print(f"pairs: {len(train)} train (partitions 0-3), {len(test)} test (partition 4)")

    run_dir = output / "run"
    summary = pretrain(pairs, run_dir, args.minutes, extra)
    model_dir = output / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    shutil.copytree(summary["final_model"], model_dir)

    from transformers import AutoModel, AutoProcessor

    import protst_hf

    protst_hf.register()
    model = AutoModel.from_pretrained(model_dir).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    majority = deeploc_data.majority_class(train)
    results = {"train_proteins": len(train), "test_proteins": len(test), "steps": summary["steps"],
               "train_minutes": summary["train_seconds"] / 60, "majority_class": deeploc_data.CLASSES[majority],
               "machine": describe(), "arguments": summary["arguments"]}
    results["zero_shot"] = zero_shot(model_dir, test, "subcellular_location")
    results["zero_shot_protst_prompts"] = zero_shot(model_dir, test, "subcellular_location_protst")
    results["majority"] = accuracy_of([majority] * len(test), test)
    composition = deeploc_data.probe(deeploc_data.composition_features([r["sequence"] for r in train]), train,
                                     deeploc_data.composition_features([r["sequence"] for r in test]))
    results["composition"] = accuracy_of(composition, test)
    results["probe_trained"] = accuracy_of(deeploc_data.probe(features(model, processor, train), train,
                                                              features(model, processor, test)), test)
    torch.manual_seed(0)
    random_model = type(model)(model.config).eval()
    results["probe_random"] = accuracy_of(deeploc_data.probe(features(random_model, processor, train), train,
                                                             features(random_model, processor, test)), test)
    results["retrieval"] = retrieval(model, processor, train, test)
    final = summary.get("final_metrics") or {}
    if "mlm_accuracy" in final:
        results["mlm"] = {"accuracy": final["mlm_accuracy"], "unigram": final["mlm_accuracy_unigram_baseline"]}
    (output / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    plot(run_dir, {"majority class (validation proteins)": final.get("zero_shot_majority_baseline", float("nan")),
                   "composition LR (partition 4)": results["composition"]["accuracy"]},
         output / "learning_curves.png")
    print(table(results))
    print(f"\nmodel: {model_dir} (AutoModel-ready); curves: {output / 'learning_curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
