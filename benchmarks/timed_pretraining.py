"""The learning benchmarks' pretraining step (`deeploc_learning.py`, `go_learning.py`): the package's own loop on
the flags given, timed, with the flags recorded in the summary."""

from __future__ import annotations

import time


def timed_pretraining(argv: list[str]) -> dict:
    """`run_pretraining` on `parse_args(argv)`; its summary plus `train_seconds` and `arguments` (the flags)."""
    from protst_hf.training import parse_args, run_pretraining

    started = time.perf_counter()
    summary = run_pretraining(*parse_args(argv))
    summary["train_seconds"] = time.perf_counter() - started
    summary["arguments"] = argv
    return summary
