"""Atomic, step-named checkpoints of a training run.

A checkpoint is written with `accelerator.save_state` into `checkpoints/.tmp-step-N`, completed with
`trainer_state.json`, and only then renamed to `checkpoints/step-N`: a run killed while writing leaves a `.tmp-`
folder that is never taken for a checkpoint, and the previous one stays `latest`.

Checkpoints are named by global step, never by accelerate's automatic counter: accelerate's `load_state()` with
automatic naming does not advance the counter, so after a resume newer states could be written under older
names. Step names make that impossible.
"""

import json
import os
import shutil
from pathlib import Path

from ..models.protst.folder_protst import atomic_open

STATE_FILE = "trainer_state.json"
PREFIX = "step-"


def checkpoints_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    folder = checkpoints_dir(output_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.name.startswith(PREFIX) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    checkpoints = complete_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def resolve_resume(value: str | None, output_dir: str | Path) -> Path | None:
    """The checkpoint to resume from: `"latest"` (None when the run has none yet) or an explicit folder, which
    must be complete."""
    if not value:
        return None
    if value == "latest":
        return latest_checkpoint(output_dir)
    path = Path(value)
    if not (path / STATE_FILE).is_file():
        raise ValueError(f"{path} is not a complete checkpoint (no {STATE_FILE}); complete ones: "
                         f"{[p.name for p in complete_checkpoints(output_dir)]}")
    return path


class CorruptCheckpointError(RuntimeError):
    """A checkpoint chosen for resuming exists but a file of it cannot be read."""


def corrupt_checkpoint(checkpoint: Path, what: str, err: Exception) -> CorruptCheckpointError:
    """The one error for a damaged checkpoint: what cannot be read, and the other complete checkpoints of its run
    to resume from instead."""
    checkpoint = Path(checkpoint)
    others = [p.name for p in complete_checkpoints(checkpoint.parent.parent) if p != checkpoint]
    return CorruptCheckpointError(
        f"checkpoint {checkpoint}: {what} ({type(err).__name__}: {str(err)[:200]}); resume from an older one with "
        f"--resume_from_checkpoint {checkpoint.parent}/<name> (complete: {others or 'none'}), or delete it")


def read_state(checkpoint: Path) -> dict:
    try:
        return json.loads((checkpoint / STATE_FILE).read_text())
    except (OSError, ValueError) as err:
        raise corrupt_checkpoint(checkpoint, f"its {STATE_FILE} cannot be read", err) from err


def load_state(accelerator, checkpoint: Path) -> None:
    """`accelerator.load_state`, with a damaged file reported as [`CorruptCheckpointError`], not a deep stack."""
    try:
        accelerator.load_state(str(checkpoint))
    except Exception as err:
        raise corrupt_checkpoint(checkpoint, "its files cannot be loaded", err) from err


def save_checkpoint(accelerator, output_dir: str | Path, step: int, state: dict, keep: int) -> Path:
    """Write the checkpoint of `step` atomically (all processes call this), then keep the newest `keep`."""
    folder = checkpoints_dir(output_dir)
    final, tmp = folder / f"{PREFIX}{step:08d}", folder / f".tmp-{PREFIX}{step:08d}"
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state_path = tmp / STATE_FILE
        with atomic_open(state_path) as f:
            json.dump(state, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        if final.exists():  # the same step saved again after a resume: replace it
            shutil.rmtree(final)
        os.rename(tmp, final)
        for old in complete_checkpoints(output_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def clean_incomplete(output_dir: str | Path) -> list[str]:
    """Remove `.tmp-` folders left by a run killed while writing; returns their names."""
    folder = checkpoints_dir(output_dir)
    removed = []
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(".tmp-"):
                shutil.rmtree(path)
                removed.append(path.name)
    return removed


__all__ = ["STATE_FILE", "CorruptCheckpointError", "checkpoints_dir", "clean_incomplete", "complete_checkpoints",
           "corrupt_checkpoint", "latest_checkpoint", "load_state", "read_state", "resolve_resume", "save_checkpoint"]
