"""Does ProtST pretraining transfer? A pretrained model against the same architecture with random weights.

    python -m benchmarks.eval_pretrained_vs_random --model outputs/pretrain/best [--tasks betalac_esm,peer_binloc]
        [--protocol frozen] [--seeds 3] [--limit-train 2000] [--limit-eval 1000] [--output outputs/eval]

Both models run through the evaluation harness (`run_evaluation`, what `protst evaluate` runs) on the same splits
with the same baselines (majority, k-NN over each model's own features, MMseqs2 nearest homolog); the script prints
a ratio line per task: pretrained / random on the task's first metric. The tasks read `../shared/data` in place (no
redistribution licence; `shared_tasks.py`) and the script exits cleanly when it is absent.
"""

import argparse
import sys
from pathlib import Path

from .shared_tasks import DATA, register


def random_copy(model: str, output: Path) -> Path:
    """The model's architecture and processor with freshly initialised weights (seed 0)."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoProcessor

    import protst_hf

    protst_hf.register()
    if not (output / "config.json").exists():
        torch.manual_seed(0)
        AutoModel.from_config(AutoConfig.from_pretrained(model)).save_pretrained(output)
        AutoProcessor.from_pretrained(model).save_pretrained(output)
    return output


def main() -> int:
    from protst_hf.evaluation.harness import EvaluationArguments, run_evaluation
    from protst_hf.evaluation.protocols import FinetuneArguments

    from .hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="outputs/pretrain/best")
    parser.add_argument("--tasks", default="betalac_esm,peer_binloc,deeploc2_subloc")
    parser.add_argument("--protocol", default="frozen")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--limit-train", type=int, default=2000)
    parser.add_argument("--limit-eval", type=int, default=1000)
    parser.add_argument("--output", default="outputs/eval")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} is absent (the benchmark tasks are read from it in place)")
        return 0
    output = Path(args.output)
    models = {"pretrained": args.model, "random": str(random_copy(args.model, output / "random_init"))}
    register()  # the machine-local tasks, by name
    results = {}
    for name, model in models.items():
        # in process: the machine-local tasks are registered by importing shared_tasks (not by the package)
        arguments = EvaluationArguments(
            model=model, tasks=[t for t in args.tasks.split(",") if t], protocol=args.protocol, seeds=args.seeds,
            output_dir=output / f"{args.protocol}_{name}", data_root=DATA,
            finetune_args=FinetuneArguments(cache_dir=str(output / "cache" / name)),
            limits={"train": args.limit_train, "validation": args.limit_eval, "test": args.limit_eval})
        print(f"$ evaluate {name}: {arguments}", flush=True)
        results[name] = run_evaluation(arguments)
    print(f"\npretrained vs random weights, protocol {args.protocol}, {args.seeds} seeds (test split):")
    for task, entry in results["pretrained"]["tasks"].items():
        metric = entry["metrics"][0]
        ours = entry["model"]["test"][metric]
        base = results["random"]["tasks"][task]["model"]["test"][metric]
        ratio = ours["mean"] / base["mean"] if base["mean"] else float("nan")
        print(f"  {task} {metric}: pretrained {ours['mean']:.3f} ± {ours['std']:.3f}, random {base['mean']:.3f} ± "
              f"{base['std']:.3f}, ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
