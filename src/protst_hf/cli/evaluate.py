"""`protst evaluate`: fine-tuning and probing on benchmark tasks, beside baselines measured in the same run."""

from __future__ import annotations

import argparse

from ._common import model_parent, reports_errors

NAME = "evaluate"


def register(commands) -> None:
    evaluate = commands.add_parser(NAME, help="fine-tune / probe on benchmark tasks beside baselines",
                                   parents=[model_parent(help="a ProtST or ESM model folder or Hub id")])
    evaluate.add_argument("--tasks", required=True, help="comma-separated task names (see protst_hf.evaluation."
                          "tasks.TASKS: binloc, subloc, betalac, ...; a task's data of your own: --files)")
    evaluate.add_argument("--protocol", choices=("frozen", "full", "lora"), default="frozen")
    evaluate.add_argument("--seeds", type=int, default=3)
    evaluate.add_argument("--output", default="evaluation", help="results.json, results.md, one PNG per task")
    evaluate.add_argument("--data-root", help="folder of the local tasks' data (default: $PROTST_DATA_ROOT)")
    evaluate.add_argument("--files", nargs="*", metavar="TASK:SPLIT=PATH", help="local files for a task's splits")
    evaluate.add_argument("--epochs", type=int, help="default: the original's (100; 50 multi-label)")
    evaluate.add_argument("--max-steps", type=int, help="stop each run after this many optimizer steps")
    evaluate.add_argument("--batch-size", type=int)
    evaluate.add_argument("--lr", type=float, help="head learning rate (default: the original's for the protocol)")
    evaluate.add_argument("--encoder-lr-ratio", type=float, help="encoder lr / head lr for full tuning")
    evaluate.add_argument("--crop", type=int, help="training crop of full / LoRA tuning (default: the task's, 550)")
    evaluate.add_argument("--lora-r", type=int, default=8)
    evaluate.add_argument("--limit-train", type=int, help="at most this many training proteins (quick runs)")
    evaluate.add_argument("--limit-eval", type=int, help="at most this many validation and test proteins")
    evaluate.add_argument("--baselines", default="majority,knn,homology", help="comma-separated, or ''")
    evaluate.add_argument("--few-shot", type=int, nargs="*", metavar="K",
                          help="the original's few-shot baselines with K proteins per class (single-label tasks)")
    evaluate.add_argument("--cache-dir", help="frozen-feature cache (default OUTPUT/feature_cache)")
    evaluate.add_argument("--save-models", action="store_true",
                          help="save the best seed's model per task (LoRA: the adapter alone)")
    evaluate.set_defaults(handler=run)


def task_files(items: list[str] | None) -> dict[str, dict[str, str]]:
    """`--files TASK:SPLIT=PATH ...` as {task: {split: path}}."""
    files: dict[str, dict[str, str]] = {}
    for item in items or []:
        task, _, rest = item.partition(":")
        split, _, path = rest.partition("=")
        if not (task and split and path):
            raise ValueError(f"--files takes TASK:SPLIT=PATH, got {item!r}")
        files.setdefault(task, {})[split] = path
    return files


@reports_errors
def run(args: argparse.Namespace) -> int:
    import logging

    from ..evaluation.harness import EvaluationArguments, markdown_table, run_evaluation
    from ..evaluation.protocols import FinetuneArguments

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    limits = {"train": args.limit_train, "validation": args.limit_eval, "test": args.limit_eval}
    overrides = FinetuneArguments(epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
                                  head_lr=args.lr, encoder_lr_ratio=args.encoder_lr_ratio, crop=args.crop,
                                  lora_r=args.lora_r, cache_dir=args.cache_dir)
    results = run_evaluation(EvaluationArguments(
        model=args.model, tasks=[t for t in args.tasks.split(",") if t], protocol=args.protocol, seeds=args.seeds,
        output_dir=args.output, data_root=args.data_root, finetune_args=overrides, limits=limits,
        baselines=tuple(b for b in args.baselines.split(",") if b), files=task_files(args.files),
        save_models=args.save_models, few_shot=tuple(args.few_shot or ())))
    print(markdown_table(results))
    return 0
