"""The `protst` command: one module per command, each with `register(subparsers)` (its flags) and `run(args)` (a
call into the library). A new command is one new module and its name in `COMMANDS`. Every flag is listed in
docs/cli.md, generated from this parser (`python -m protst_hf.cli.markdown docs/cli.md`)."""

from __future__ import annotations

import argparse
import importlib
import sys

# one module of this package per command, in the order `protst --help` lists them: a new command is a new module
# (with `register(subparsers)` and `run(args)`) and its name here
COMMANDS = ("build_protdescribe", "embed", "pretrain", "classify", "index", "search", "reference", "annotate",
            "evaluate_annotations", "evaluate", "convert", "push")


def command_modules() -> list:
    """The command modules, imported (each imports nothing heavy: `protst --help` stays fast)."""
    return [importlib.import_module(f".{name}", __name__) for name in COMMANDS]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="protst", description="ProtST on the Hugging Face stack")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in command_modules():
        command.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["pretrain"] and not {"-h", "--help"} & set(argv[1:2]):
        # every flag belongs to the pretraining parser (HfArgumentParser): passed through untouched
        from .pretrain import run

        return run(argparse.Namespace(arguments=argv[1:]))
    args = build_parser().parse_args(argv)
    return args.handler(args)


__all__ = ["COMMANDS", "build_parser", "command_modules", "main"]
