"""How a class should be scored, and what training makes scores mean probabilities: the tuning split of
`deeploc_learning.py` (train on DeepLoc 2.0 partitions 0-2, judge on partition 3; partition 4 is never read), one
pretraining run per training recipe, each judged with every scoring choice.

    python -m benchmarks.studies.deeploc_scoring_sweep [--steps 1400] [--rows all|NAME,NAME] [--output outputs/scoring]
    python -m benchmarks.studies.deeploc_scoring_sweep --table [--output outputs/scoring]

Each row is the `cpu` preset with the listed changes (`RECIPES`), trained for `--steps` steps (a step budget, not a
time budget, so that rows compare whatever else the machine does) through `deeploc_learning.py --train-only`, then
judged by `deeploc_learning.py --evaluate --quick`: zero-shot with the uniform prior (the original's scores) and
with the training texts' prior, each with mean and log-sum-exp prompt pooling, and protein -> text recall with and
without the prior beside the frequency baseline. The choices of the `cpu` preset and of `prior="auto"` were made
on this table; `deeploc_learning.py` then reports partition 4 once.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

EVAL_BANK = {"contrastive_positives": "same_text", "frozen_towers_eval": True}
# name -> (what changes, config overrides, further arguments) over the `cpu` preset as it was before this sweep
RECIPES = {
    "inbatch": ("in-batch InfoNCE (the original's), frozen text tower in eval mode", EVAL_BANK, []),
    "bank": ("+ a text bank: every distinct training text in each protein's softmax", {
        **EVAL_BANK, "contrastive_text_bank": True}, []),
    "bank_parts": ("+ multi-location texts as soft targets over their single locations", {
        **EVAL_BANK, "contrastive_text_bank": True, "text_bank_part_weight": 1.0}, []),
    "bank_parts_half": ("+ half of a multi-location text's target on itself, half on its locations", {
        **EVAL_BANK, "contrastive_text_bank": True, "text_bank_part_weight": 0.5}, []),
    "bank_parts_batch64": ("bank_parts, batch 64", {
        **EVAL_BANK, "contrastive_text_bank": True, "text_bank_part_weight": 1.0}, ["--per_device_batch_size", "64"]),
    "bank_parts_lr_2e-3": ("bank_parts, lr 2e-3", {
        **EVAL_BANK, "contrastive_text_bank": True, "text_bank_part_weight": 1.0}, ["--learning_rate", "2e-3"]),
    "bank_parts_scale_50": ("bank_parts, logit_scale starting at log 50 (CLIP starts at log 1/0.07 = log 14.3)", {
        **EVAL_BANK, "contrastive_text_bank": True, "text_bank_part_weight": 1.0,
        "logit_scale_init_value": 3.912}, []),
}
VARIANTS = (("builtin/mean/uniform", "uniform, mean"), ("builtin/mean/training", "training prior, mean"),
            ("builtin/logsumexp/uniform", "uniform, log-sum-exp"),
            ("builtin/logsumexp/training", "training prior, log-sum-exp"))


def run(name: str, output: Path, steps: int) -> dict:
    change, overrides, extra = RECIPES[name]
    folder = output / name
    script = ["-m", "benchmarks.deeploc_learning"]  # run from the repository root
    train = [sys.executable, *script, "--output", str(folder), "--held-out-partition", "3", "--train-only", "--",
             "--max_steps", str(steps), "--config_overrides", json.dumps(overrides), *extra]
    subprocess.run(train, check=True)
    evaluate = [sys.executable, *script, "--output", str(folder / "evaluation"), "--held-out-partition", "3",
                "--evaluate", str(folder / "model"), "--quick"]
    subprocess.run(evaluate, check=True)
    return json.loads((folder / "evaluation" / "results.json").read_text())


def markdown(output: Path) -> str:
    lines = ["| recipe | change | " + " | ".join(f"zero-shot: {label}" for _, label in VARIANTS) +
             " | p->t R@1 / R@10 | with the prior | frequency | p->t macro R@10 |",
             "|---|---|" + "---|" * (len(VARIANTS) + 4)]
    for name, (change, _, _) in RECIPES.items():
        path = output / name / "evaluation" / "results.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        v, t = r["zero_shot_variants"], r["retrieval"]
        cells = [f"{v[k]['accuracy']:.3f} / {v[k]['balanced_accuracy']:.3f}" if k in v else "-" for k, _ in VARIANTS]
        lines.append(f"| `{name}` | {change} | " + " | ".join(cells) +
                     f" | {t['protein_to_text_recall@1']:.3f} / {t['protein_to_text_recall@10']:.3f}"
                     f" | {t['protein_to_text_recall@1_with_prior']:.3f} / "
                     f"{t['protein_to_text_recall@10_with_prior']:.3f}"
                     f" | {t['protein_to_text_recall@1_frequency']:.3f} / "
                     f"{t['protein_to_text_recall@10_frequency']:.3f}"
                     f" | {t['protein_to_text_macro_recall@10']:.3f} |")
    return "\n".join(lines) + "\n\nEach zero-shot cell: accuracy / balanced accuracy on partition 3."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="outputs/scoring")
    parser.add_argument("--steps", type=int, default=1400)
    parser.add_argument("--rows", default="all", help="comma-separated recipe names, or all")
    parser.add_argument("--table", action="store_true", help="print the table of the finished rows and exit")
    args = parser.parse_args()
    output = Path(args.output)
    if not args.table:
        from .. import deeploc_data

        if not deeploc_data.available():
            print(f"skipped: {deeploc_data.DEEPLOC} or {deeploc_data.KEYWORDS} is not present")
            return 0
        for name in list(RECIPES) if args.rows == "all" else args.rows.split(","):
            run(name, output, args.steps)
    print(markdown(output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
