"""`protst pretrain`: the pretraining entry point of `examples/pretrain/run_pretrain.py`, its flags
(HfArgumentParser's) passed through untouched."""

from __future__ import annotations

import argparse

NAME = "pretrain"


def register(commands) -> None:
    pretrain = commands.add_parser(
        NAME, help="pretrain ProtST (the flags of examples/pretrain/run_pretrain.py; --preset tiny|cpu|...)",
        description="Pretraining with accelerate: one process here, or `accelerate launch -m protst_hf.cli pretrain "
                    "...` for DDP / DeepSpeed. Flags: --preset, --config, --dataset, --output_dir and every field of "
                    "ModelArguments / DataArguments / TrainArguments (protst_hf.training.arguments); `protst "
                    "pretrain --preset cpu --help` lists them all.")
    pretrain.add_argument("arguments", nargs=argparse.REMAINDER, help="pretraining flags")
    pretrain.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..training.command import main

    return main(args.arguments)
