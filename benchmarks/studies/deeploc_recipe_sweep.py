"""What moves zero-shot accuracy: one pretraining run per recipe change, all on the DeepLoc 2.0 pairs of
`deeploc_data.py`, each judged by zero-shot localization of 1,000 held-out partition-4 proteins beside the collapse
of the pooled embeddings and the retrieval baselines.

    python -m benchmarks.studies.deeploc_recipe_sweep [--steps 800] [--rows all|NAME,NAME] [--output outputs/sweep]

Each row is the `cpu` preset with the listed changes (see `RECIPES`), trained for `--steps` steps through the
package's own loop, in float32 (but for the `bf16` row). Rows can run in separate processes (`--rows`, e.g. two
processes with OMP_NUM_THREADS=1 on 2 cores) and share one results folder; `--table` prints the table of every
finished row. The table in the README was made this way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import deeploc_data

ALL_LOSSES = ["--mlm_weight", "1", "--mmp_protein_weight", "1", "--mmp_text_weight", "1"]
# name -> (what changes, arguments over the `cpu` preset)
RECIPES = {
    "cpu": ("the `cpu` preset: contrastive only, same-text positives, N-terminal crops of 128", []),
    "all_losses": ("+ MLM and both MMP terms at weight 1 (the original's objective)", ALL_LOSSES),
    "all_losses_pair": ("+ all four losses, the original's pair-only positives",
                        ALL_LOSSES + ["--config_overrides", '{"contrastive_positives": "pair"}']),
    "mlm_0.1": ("+ MLM at weight 0.1", ["--mlm_weight", "0.1"]),
    "random_crop": ("random 128-residue windows (the original's crop policy)", ["--crop_policy", "random"]),
    "termini_crop": ("both termini (96 N-terminal + 32 C-terminal residues)", ["--crop_policy", "termini"]),
    "crop_256": ("N-terminal crops of 256 residues", ["--crop_length", "256", "--eval_max_length", "256",
                                                       "--export_protein_max_length", "256"]),
    "fields_layout": ("texts in the four-field pretraining layout instead of the prompt layout", []),
    "batch_12_lr_5e-4": ("batch 12, lr 5e-4 (the previous tiny preset)", ["--per_device_batch_size", "12",
                                                                          "--learning_rate", "5e-4"]),
    "lr_3e-4": ("lr 3e-4", ["--learning_rate", "3e-4"]),
    "lr_2e-3": ("lr 2e-3", ["--learning_rate", "2e-3"]),
    "small_3x192": ("a 3-layer x 192 protein tower (2x faster per step)",
                    ["--protein_config_overrides", '{"num_hidden_layers": 3, "hidden_size": 192, '
                     '"num_attention_heads": 6, "intermediate_size": 768}']),
    "bf16": ("bf16 autocast where the CPU computes it natively (this CPU: AVX-512 BF16)", ["--mixed_precision",
                                                                                         "auto"]),
}
# recipes trained on the pairs with each text as the `subloc` field of the four-field layout
FIELDS_LAYOUT = {"fields_layout"}
REPORTED = ("zero_shot_accuracy", "zero_shot_balanced_accuracy", "protein_feature_mean_cosine",
            "protein_embedding_mean_cosine", "protein_to_text_recall@10", "protein_to_text_recall@10_frequency",
            "protein_to_text_macro_recall@10", "text_to_protein_recall@10", "mlm_accuracy")


def run(name: str, pairs: Path, output: Path, steps: int) -> dict:
    from protst_hf.training import parse_args, run_pretraining

    extra = list(RECIPES[name][1])
    data = pairs.parent / "pairs_fields" if name in FIELDS_LAYOUT else pairs
    argv = ["--preset", "cpu", "--dataset", str(data), "--output_dir", str(output / name), "--max_steps", str(steps),
            "--max_minutes", "1000", "--eval_steps", str(max(steps // 3, 1)), "--save_steps", str(steps),
            "--zero_shot_file", str(pairs / "zero_shot.csv"), "--zero_shot_label_set", "subcellular_location",
            "--report_to", "none", "--export_final", "false", "--mixed_precision", "no", *extra]
    summary = run_pretraining(*parse_args(argv))
    records = [json.loads(line) for line in (output / name / "log.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/zero_shot_accuracy" in r]
    result = {"name": name, "change": RECIPES[name][0], "steps": summary["steps"],
              "curve": [(r["step"], r["eval/zero_shot_accuracy"]) for r in evals],
              **{k: evals[-1].get(f"eval/{k}") for k in REPORTED}}
    (output / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def fields_copy(pairs: Path) -> Path:
    """The same pairs with each text as the `subloc` field of the four-field layout."""
    import pyarrow.parquet as pq

    target = pairs.parent / "pairs_fields"
    (target / "data").mkdir(parents=True, exist_ok=True)
    for file in (pairs / "data").glob("*.parquet"):
        table = pq.read_table(file)
        table = table.rename_columns(["subloc" if c == "text" else c for c in table.column_names])
        pq.write_table(table, target / "data" / file.name)
    (target / "README.md").write_text((pairs / "README.md").read_text())
    return target


def markdown(output: Path) -> str:
    results = [json.loads(p.read_text()) for p in sorted(output.glob("*.json"))]
    order = list(RECIPES)
    results.sort(key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))

    def f(value):
        return "-" if value is None else f"{value:.3f}"

    lines = ["| recipe | change | zero-shot acc. | balanced | pooled-feature cosine | p->t R@10 (frequency) | "
             "p->t macro R@10 | t->p R@10 | MLM acc. |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| `{r['name']}` | {r['change']} | {f(r['zero_shot_accuracy'])} | "
                     f"{f(r['zero_shot_balanced_accuracy'])} | {f(r['protein_feature_mean_cosine'])} | "
                     f"{f(r['protein_to_text_recall@10'])} ({f(r['protein_to_text_recall@10_frequency'])}) | "
                     f"{f(r['protein_to_text_macro_recall@10'])} | {f(r['text_to_protein_recall@10'])} | "
                     f"{f(r['mlm_accuracy'])} |")
    return "\n".join(lines)


def main() -> int:
    from ..hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="outputs/sweep")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--rows", default="all", help="comma-separated recipe names, or all")
    parser.add_argument("--table", action="store_true", help="print the table of the finished rows and exit")
    args = parser.parse_args()
    output = Path(args.output)
    if args.table:
        print(markdown(output))
        return 0
    if not deeploc_data.available():
        print(f"skipped: {deeploc_data.DEEPLOC} or {deeploc_data.KEYWORDS} is not present")
        return 0
    pairs = output / "data" / "pairs"
    if not (pairs / "zero_shot.csv").exists():
        deeploc_data.write_dataset(deeploc_data.load(), pairs)
        fields_copy(pairs)
    names = list(RECIPES) if args.rows == "all" else args.rows.split(",")
    for name in names:
        result = run(name, pairs, output, args.steps)
        print(json.dumps({k: v for k, v in result.items() if k != "curve"}))
    print(markdown(output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
