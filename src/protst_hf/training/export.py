"""What a pretraining run leaves for its users: AutoModel-ready model folders (`best/`, `final/`) with the processor,
the code and `training_info.json` (the model card reads it), and `curves.png` (losses and validation over steps)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from ..models.protst.prompts_protst import write_training_texts
from .validation import run_objective

LOSS_CURVES = ("loss", "contrastive_loss", "mlm_loss", "mmp_protein_loss", "mmp_text_loss")
VALIDATION_CURVES = ("zero_shot_accuracy", "zero_shot_balanced_accuracy", "protein_to_text_macro_recall@10",
                     "text_to_protein_recall@10", "mlm_accuracy", "protein_feature_mean_cosine")


def cpu_model() -> str:
    """The CPU's model name (what a speed figure measured on it needs beside it)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def export_model(trainer, folder: Path, metrics: dict | None = None) -> None:
    """`save_pretrained` of the model (full weights, gathered under ZeRO-3), the processor and the code, written
    beside and then swapped in, so an interrupted export never leaves a half-written folder (all processes call
    this)."""
    accelerator = trainer.accelerator
    state_dict = full_state_dict(trainer)
    # a model built by from_pretrained / from_config records weight renamings to revert on save, including
    # transformers' legacy LayerNorm gamma/beta names under DeepSpeed: write the current names
    trainer.unwrapped._weight_conversions = None
    if accelerator.is_main_process:
        tmp = folder.with_name(folder.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        trainer.unwrapped.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
        trainer.processor.save_pretrained(tmp)
        info = {"step": trainer.state["global_step"], "metrics": metrics or trainer.last_metrics,
                "state": trainer.state, "arguments": {**vars(trainer.model_args), **vars(trainer.data_args),
                                                      **vars(trainer.args)},
                "hardware": hardware(accelerator), "dataset_report": dataset_report(trainer.data_args.dataset)}
        (tmp / "training_info.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
        if trainer.text_counts is not None:
            write_training_texts(tmp, trainer.text_counts, run_objective(trainer.unwrapped.config),
                                 text_unit=trainer.data_args.text_unit)
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    accelerator.wait_for_everyone()


def full_state_dict(trainer) -> dict | None:
    """The whole state dict on the main process (a collective). Under ZeRO-3 the parameters are gathered with
    `GatheredParameters`, the mechanism of the forward pass: DeepSpeed's 16-bit consolidation returned wrong
    values for some tensors of this model (DeepSpeed 0.19.7, CPU, measured)."""
    parameters = list(trainer.unwrapped.parameters())
    if not any(hasattr(p, "ds_id") for p in parameters):
        return trainer.accelerator.get_state_dict(trainer.model)
    import deepspeed

    with deepspeed.zero.GatheredParameters(parameters):
        if not trainer.accelerator.is_main_process:
            return None
        return {k: v.detach().clone() for k, v in trainer.unwrapped.state_dict().items()}


def hardware(accelerator) -> dict:
    """Processes, device and precision of the run, as the model card reports them."""
    device = accelerator.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    return {"processes": accelerator.num_processes, "device": device.type, "device_name": name,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "distributed": str(accelerator.distributed_type), "mixed_precision": accelerator.mixed_precision,
            "torch": torch.__version__}


def dataset_report(dataset: str | None) -> dict | None:
    """Counts of the ProtDescribe build the run trained on (its build_report.json), when it is a local folder."""
    report = Path(str(dataset)) / "build_report.json"
    if not report.is_file():
        return None
    data = json.loads(report.read_text())
    return {key: data.get(key) for key in ("rows", "split", "uniprot_release", "leakage", "parse")}


def plot_curves(output_dir: Path) -> None:
    """Loss and validation curves from log.jsonl into curves.png (skipped without matplotlib): the training terms
    on the left; on the right the validation metrics, each dashed baseline in its colour (majority class for
    zero-shot accuracy, chance for balanced accuracy and macro recall, unigram for MLM)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    log = output_dir / "log.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    train = [r for r in records if "train/loss" in r]
    evals = [r for r in records if any(k.startswith("eval/") for k in r)]
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for key in LOSS_CURVES:
        points = [(r["step"], r[f"train/{key}"]) for r in train if f"train/{key}" in r]
        if points:
            axes[0].plot(*zip(*points), label=key)
    axes[0].set(xlabel="step", ylabel="loss", title="training loss")
    axes[0].legend(fontsize=8)
    baselines = {"zero_shot_accuracy": "zero_shot_majority_baseline",
                 "zero_shot_balanced_accuracy": "zero_shot_balanced_chance",
                 "protein_to_text_macro_recall@10": "protein_to_text_macro_recall@10_chance",
                 "text_to_protein_recall@10": "text_to_protein_recall@10_chance",
                 "mlm_accuracy": "mlm_accuracy_unigram_baseline"}
    for index, key in enumerate(VALIDATION_CURVES):
        points = [(r["step"], r[f"eval/{key}"]) for r in evals if f"eval/{key}" in r]
        if not points:
            continue
        color = f"C{index}"
        axes[1].plot(*zip(*points), marker="o", color=color, label=key)
        baseline = [r.get(f"eval/{baselines[key]}") for r in evals] if key in baselines else []
        if baseline and baseline[-1] is not None:
            axes[1].axhline(baseline[-1], color=color, linestyle="--", linewidth=0.8)
    axes[1].set(xlabel="step", ylabel="value", title="validation (dashed: each metric's baseline)", ylim=(0, 1))
    axes[1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(output_dir / "curves.png", dpi=100)
    plt.close(figure)


__all__ = ["cpu_model", "dataset_report", "export_model", "full_state_dict", "hardware", "plot_curves"]
