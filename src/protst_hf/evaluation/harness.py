"""The evaluation harness: a model on benchmark tasks under one protocol, n seeds, beside baselines.

`run_evaluation` loads each task, runs the protocol once per seed (a fresh model and head each time), scores the
baselines on the same splits, and writes to `output_dir`:
- `results.json`: per task, the data report, every metric's mean / std / per-seed values on test (and on
  validation at the selected epoch), the baselines, and the paper's numbers (the model card reads this file);
- `results.md`: the same as a markdown table;
- `<task>.png`: model vs baselines (bars with the seed std; a dashed line for the paper's number), or predicted
  vs true values for a regression task.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .baselines import few_shot_indices, homology_baseline, knn_baseline, majority_baseline, nonparametric_few_shot
from .tasks import TASKS, TaskData, load_task

logger = logging.getLogger(__name__)
BASELINES = ("majority", "knn", "homology")


def subsample(data: TaskData, limits: dict[str, int] | None, seed: int = 0) -> TaskData:
    """At most `limits[split]` rows per split (seeded random rows, order kept), recorded in the report."""
    if not limits:
        return data
    rng = np.random.default_rng(seed)
    for split, limit in limits.items():
        if split in data.splits and limit and len(data.splits[split]) > limit:
            rows = np.sort(rng.choice(len(data.splits[split]), limit, replace=False))
            data.report.setdefault("subsampled", {})[split] = f"{limit} of {len(data.splits[split])} (seed {seed})"
            data.splits[split] = data.splits[split].subset(rows)
    data.report["rows"] = {split: len(s) for split, s in data.splits.items()}
    return data


def _summary(values: list[dict]) -> dict:
    out = {}
    for name in values[0]:
        column = np.asarray([v[name] for v in values], dtype=np.float64)
        out[name] = {"mean": float(np.mean(column)), "std": float(np.std(column, ddof=1)) if len(column) > 1 else 0.0,
                     "values": [float(v) for v in column]}
    return out


@dataclass
class EvaluationArguments:
    """What `run_evaluation` runs (`protst evaluate` builds one from its flags).

    Args:
        model: folder or Hub id of a ProtST or ESM checkpoint.
        tasks: registry names (`protst_hf.evaluation.tasks.TASKS`).
        protocol: `frozen`, `full` or `lora`.
        seeds: runs per task (seeds 0..n-1), reported as mean and sample std.
        output_dir: where results.json, results.md, the plots (and saved models) go.
        data_root: where local tasks find their files.
        finetune_args: a `FinetuneArguments` whose non-None fields override the original's defaults.
        limits: split -> at most this many rows (quick runs; recorded in the report).
        baselines: which of `majority`, `knn`, `homology` to score (k-NN uses the initial encoder's features;
            homology needs MMseqs2 and is skipped with a note when it is absent).
        files: task -> {split: file} for tasks whose data you hold locally.
        save_models: save the best seed's model per task under `models/<task>` (a LoRA run: its adapter only).
        few_shot: shots per class for the original's few-shot baselines on single-label tasks: the frozen head
            trained on the shots (`fewshot_<k>`) and the non-parametric kernel classifier (`nonparam_<k>`), each
            over `seeds` draws.
    """

    model: str
    tasks: list[str]
    protocol: str = "frozen"
    seeds: int = 3
    output_dir: str | Path = "evaluation"
    data_root: str | Path | None = None
    finetune_args: object = None
    limits: dict[str, int] | None = None
    baselines: tuple[str, ...] = BASELINES
    files: dict[str, dict[str, str]] | None = None
    save_models: bool = False
    few_shot: tuple[int, ...] = field(default_factory=tuple)


def run_evaluation(arguments: EvaluationArguments) -> dict:
    """Evaluate `arguments.model` on `arguments.tasks`; returns (and writes) the results (see the module docstring).
    """
    import torch
    from accelerate import PartialState

    from .protocols import (
        FinetuneArguments,
        cached_features,
        finetune,
        load_task_model,
        save_result,
    )

    a = arguments
    model, tasks, protocol, seeds, data_root, limits = a.model, a.tasks, a.protocol, a.seeds, a.data_root, a.limits
    baselines, files, save_models, few_shot, finetune_args = a.baselines, a.files, a.save_models, a.few_shot, \
        a.finetune_args
    state = PartialState(cpu=not torch.cuda.is_available())
    output_dir = Path(a.output_dir)
    finetune_args = finetune_args or FinetuneArguments()
    finetune_args = replace(finetune_args, protocol=protocol,
                            cache_dir=finetune_args.cache_dir or str(output_dir / "feature_cache"))
    results = {"model": str(model), "protocol": protocol, "seeds": list(range(seeds)),
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tasks": {}}
    for name in tasks:
        if name not in TASKS:
            raise KeyError(f"unknown task {name!r}; registered: {', '.join(TASKS)}")
        data = subsample(load_task(name, data_root, files=(files or {}).get(name)), limits)
        task = data.task
        logger.info("%s: %s", name, data.report)
        entry = {"description": task.description, "label_type": task.label_type, "metrics": list(task.metrics),
                 "data": data.report, "paper": task.paper, "baselines": {}}
        runs, best_run = [], None
        for seed in range(seeds):
            network, tokenizer = load_task_model(model, data)
            network.to(state.device)
            if seed == 0 and ("knn" in baselines or few_shot):
                features = {split: cached_features(network, tokenizer, s, finetune_args)
                            for split, s in data.splits.items()}
                if "knn" in baselines:
                    entry["baselines"]["knn"] = knn_baseline(data, features)
                if few_shot and task.label_type == "single_label":
                    entry["baselines"].update(_few_shot(data, network, tokenizer, features, few_shot, seeds,
                                                        finetune_args))
            result = finetune(network, tokenizer, data, replace(finetune_args, seed=seed))
            runs.append(result)
            first = task.metrics[0]
            if best_run is None or result.validation[first] > best_run.validation[first]:
                best_run = result
            logger.info("%s seed %d: validation %s test %s (%.0f s)", name, seed, result.validation, result.test,
                        result.seconds)
        entry["model"] = {"test": _summary([r.test for r in runs]),
                          "validation": _summary([r.validation for r in runs]),
                          "best_epochs": [r.best_epoch for r in runs], "seconds": [r.seconds for r in runs],
                          "first_train_loss": [float(np.mean(r.train_losses[:5])) for r in runs],
                          "last_train_loss": [float(np.mean(r.train_losses[-5:])) for r in runs],
                          "args": runs[0].args}
        if "majority" in baselines:
            entry["baselines"]["majority"] = majority_baseline(data)
        if "homology" in baselines:
            from ..data.splits import mmseqs_path

            entry["baselines"]["homology"] = (homology_baseline(data) if mmseqs_path() else
                                              {"skipped": "MMseqs2 is not installed (apt-get install mmseqs2)"})
        results["tasks"][name] = entry
        if state.is_main_process:
            output_dir.mkdir(parents=True, exist_ok=True)
            _plot(name, entry, data, runs[0], output_dir / f"{name}.png")
            if save_models:
                save_result(best_run, output_dir / "models" / name, tokenizer)
    if state.is_main_process:
        (output_dir / "results.json").write_text(json.dumps(results, indent=2, default=_json_default))
        (output_dir / "results.md").write_text(markdown_table(results))
    state.wait_for_everyone()
    return results


def _few_shot(data: TaskData, network, tokenizer, features, shots, seeds, finetune_args) -> dict:
    from .protocols import train_frozen

    out = {}
    for shot in shots:
        out[f"nonparam_{shot}"] = nonparametric_few_shot(data, features, shot, seeds)
        values = []
        for seed in range(seeds):
            rows = few_shot_indices(data.splits["train"].labels, shot, seed)
            subset = TaskData(data.task, {**data.splits, "train": data.splits["train"].subset(rows)},
                              data.label_names, data.report)
            head_args = replace(finetune_args, protocol="frozen", seed=seed)
            values.append(train_frozen(network, tokenizer, subset, head_args).test)
        out[f"fewshot_{shot}"] = {"test": {k: float(np.mean([v[k] for v in values])) for k in values[0]},
                                  "shot": shot}
    return out


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


def _extra_columns(results: dict) -> list[str]:
    """Few-shot baseline columns present in any task."""
    keys = {k for entry in results["tasks"].values() for k in entry["baselines"]}
    return sorted(k for k in keys if k.startswith(("fewshot_", "nonparam_")))


def _fmt(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.3f}"


def markdown_table(results: dict) -> str:
    """One row per task and metric: the model (mean ± std over seeds), each baseline, and the paper."""
    lines = [f"Model `{results['model']}`, protocol `{results['protocol']}`, seeds {len(results['seeds'])}.", "",
             "| task | metric | model (mean ± std) | majority / mean | k-NN | nearest homolog (MMseqs2) | paper |"
             + "".join(f" {k} |" for k in _extra_columns(results)),
             "|---|---|---|---|---|---|---|" + "---|" * len(_extra_columns(results))]
    for name, entry in results["tasks"].items():
        base = entry["baselines"]
        for metric in entry["metrics"]:
            model = entry["model"]["test"][metric]
            row = [name, metric, f"{_fmt(model['mean'])} ± {_fmt(model['std'])}"]
            for key in ("majority", "knn", "homology"):
                row.append(_fmt(base[key]["test"][metric]) if key in base and "test" in base[key] else "-")
            row.append(_fmt(entry["paper"].get(metric)) if entry["paper"].get(metric) is not None else "-")
            row += [_fmt(base[k]["test"][metric]) if k in base else "-" for k in _extra_columns(results)]
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for name, entry in results["tasks"].items():
        rows = ", ".join(f"{k} {v}" for k, v in entry["data"]["rows"].items())
        notes = [f"rows: {rows}"]
        if entry["data"].get("skipped"):
            notes.append(f"skipped: {entry['data']['skipped']}")
        if entry["data"].get("subsampled"):
            notes.append(f"subsampled: {entry['data']['subsampled']}")
        homology = entry["baselines"].get("homology", {})
        if "coverage" in homology:
            notes.append(f"homolog found for {homology['coverage']:.1%} of test proteins")
        if "knn" in entry["baselines"]:
            notes.append(f"k-NN k={entry['baselines']['knn']['k']}")
        lines.append(f"- `{name}`: " + "; ".join(notes))
    return "\n".join(lines) + "\n"


def _plot(name: str, entry: dict, data: TaskData, run, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = entry["metrics"][0]
    if entry["label_type"] == "regression":
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        truth = data.splits["test"].labels
        ax.scatter(truth, run.test_scores, s=6, alpha=0.5)
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
        values = ", ".join(f"{k} {_fmt(v['test'][metric])}" for k, v in entry["baselines"].items() if "test" in v)
        ax.set_title(f"{name}: {metric} {_fmt(run.test[metric])}\n(baselines: {values})", fontsize=8)
    else:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        labels, means, errors = ["model"], [entry["model"]["test"][metric]["mean"]], \
            [entry["model"]["test"][metric]["std"]]
        for key, value in entry["baselines"].items():
            if "test" in value:
                labels.append(key)
                means.append(value["test"][metric])
                errors.append(0.0)
        ax.bar(labels, np.nan_to_num(means), yerr=errors, color=["C0"] + ["C7"] * (len(labels) - 1), capsize=4)
        if entry["paper"].get(metric) is not None:
            ax.axhline(entry["paper"][metric], ls="--", color="C3", label="paper")
            ax.legend(fontsize=8)
        ax.set_ylabel(metric)
        ax.set_title(f"{name} (test)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


__all__ = ["BASELINES", "EvaluationArguments", "markdown_table", "run_evaluation", "subsample"]
