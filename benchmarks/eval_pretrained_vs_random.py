"""Does ProtST pretraining transfer? A pretrained model against the same architecture with random weights.

    python benchmarks/eval_pretrained_vs_random.py --model outputs/pretrain/best [--tasks betalac_esm,peer_binloc]
        [--protocol frozen] [--seeds 3] [--limit-train 2000] [--limit-eval 1000] [--output outputs/eval]

Both models run through `protst evaluate` on the same splits with the same baselines (majority, k-NN over each
model's own features, MMseqs2 nearest homolog); the script prints each table and a ratio line per task:
pretrained / random on the task's first metric. Local tasks read `../shared/data` in place (no redistribution
licence) and the script exits cleanly when it is absent.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


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
    from hardware import describe

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
    results = {}
    for name, model in models.items():
        command = [sys.executable, "-m", "protst_hf.cli", "evaluate", "--model", model, "--tasks", args.tasks,
                   "--data-root", str(DATA),
                   "--protocol", args.protocol, "--seeds", str(args.seeds), "--limit-train", str(args.limit_train),
                   "--limit-eval", str(args.limit_eval), "--output", str(output / f"{args.protocol}_{name}"),
                   "--cache-dir", str(output / "cache" / name)]
        print("$ " + " ".join(command), flush=True)
        subprocess.run(command, check=True)
        results[name] = json.loads((output / f"{args.protocol}_{name}" / "results.json").read_text())
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
