"""The pretraining command: `protst pretrain ARGS` and `examples/pretrain/run_pretrain.py ARGS` (the entry point of
`accelerate launch`) both run `main(ARGS)`: parse the arguments (presets, config files, flags), train, and print the
summary with every validation figure beside its baseline."""

import json
import sys

from .arguments import parse_args
from .pretrain import CorruptCheckpointError, NonFiniteLossError, run_pretraining


def main(argv: list[str] | None = None) -> int:
    model_args, data_args, train_args = parse_args(argv)
    try:
        summary = run_pretraining(model_args, data_args, train_args)
    except (CorruptCheckpointError, NonFiniteLossError, ValueError) as err:
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    if summary is None:  # not the main process
        return 0
    print(json.dumps({k: summary[k] for k in ("steps", "best_step", "best_metric", "final_model", "best_model")}))
    metrics = summary.get("final_metrics") or {}
    if metrics:
        print(f"validation at step {summary['steps']} ({int(metrics['num_proteins'])} proteins, "
              f"{int(metrics['num_texts'])} distinct texts):")
        for k in (1, 5, 10):
            print(f"  protein->text R@{k} {metrics[f'protein_to_text_recall@{k}']:.3f} (ranking texts by training "
                  f"frequency alone: {metrics.get(f'protein_to_text_recall@{k}_frequency', float('nan')):.3f}; "
                  f"chance {metrics[f'protein_to_text_recall@{k}_chance']:.3f})   macro R@{k} "
                  f"{metrics[f'protein_to_text_macro_recall@{k}']:.3f} (chance "
                  f"{metrics[f'protein_to_text_macro_recall@{k}_chance']:.3f})   text->protein R@{k} "
                  f"{metrics[f'text_to_protein_recall@{k}']:.3f} "
                  f"(chance {metrics[f'text_to_protein_recall@{k}_chance']:.3f})")
        accuracies = [f"{k.replace('_accuracy', '')} {metrics[k]:.3f} (unigram {metrics[k + '_unigram_baseline']:.3f})"
                      for k in ("mlm_accuracy", "mmp_protein_accuracy", "mmp_text_accuracy")
                      if k in metrics and k + "_unigram_baseline" in metrics]
        if accuracies:
            print("  masked prediction accuracy: " + ", ".join(accuracies))
        print(f"  mean cosine between validation proteins' pooled features: "
              f"{metrics['protein_feature_mean_cosine']:.3f} (near 1: every protein looks alike)")
        if metrics["num_proteins"] < 1000 or summary["samples_seen"] < 50_000:
            print(f"\nWhat this run can show: {summary['samples_seen']:,} training samples exercise the mechanics "
                  "(data build, loop, checkpoints, validation, export), but are far too few for towers trained from "
                  "scratch to learn their texts; read each recall beside its baselines above. A model that learns: "
                  "`python benchmarks/deeploc_learning.py` (the cpu preset on ~17.5k real protein-text pairs, "
                  "an hour on 2 cores; its table is in the README).")
    return 0


__all__ = ["main"]
