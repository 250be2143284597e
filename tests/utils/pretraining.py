"""Helpers of the pretraining tests: real runs of examples/pretrain/run_pretrain.py in subprocesses (or the same run
with a fault injected by pretrain_with_faults.py), their arguments, and the losses they logged."""

import json
import os
import subprocess
import sys
from pathlib import Path

from utils.builders import ROOT

SCRIPT = ROOT / "examples" / "pretrain" / "run_pretrain.py"
CONFIGS = ROOT / "examples" / "pretrain" / "configs"
FAULTS = ROOT / "tests" / "utils" / "pretrain_with_faults.py"


def common_args(root: Path, steps: int = 6, **overrides) -> list[str]:
    values = dict(dataset=root / "data", model_name_or_path=root / "init", crop_length=64, eval_max_length=64,
                  per_device_batch_size=4, learning_rate=1e-3, encoder_lr_ratio=1.0, max_steps=steps,
                  logging_steps=1, eval_steps=steps, save_steps=3, max_eval_samples=16, report_to="none")
    values.update(overrides)
    return [arg for key, value in values.items() for arg in (f"--{key}", str(value))]


def run(args: list[str], launcher: list[str] | None = None, env: dict | None = None, timeout: int = 300,
        fault: list[str] | None = None):
    """examples/pretrain/run_pretrain.py in a subprocess, or, with `fault` (e.g. `["--kill-at-step", "5"]`), the same
    run with a fault injected by tests/utils/pretrain_with_faults.py."""
    script = [str(SCRIPT)] if fault is None else [str(FAULTS), *fault, "--"]
    command = (launcher or [sys.executable]) + [*script, *args]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT)


def losses(output_dir: Path) -> dict[int, float]:
    result = {}
    for line in (output_dir / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "train/loss" in record:
            result[record["step"]] = record["train/loss"]
    return result

