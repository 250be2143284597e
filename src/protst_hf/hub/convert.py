"""Converters for the released ProtST weights into protst-hf's `ProtSTForPreTraining`.

- `convert_original(checkpoint, output_dir)`: the authors' TorchDrug checkpoints (`protst_esm1b.pth`,
  `protst_esm2.pth`): a dict whose `model` entry is the state dict of the ProtST task, with fair-esm weights under
  `protein_model.model.*`, TorchDrug 2-layer MLPs (`*.layers.0` / `*.layers.1`), PubMedBERT under
  `text_model.model.bert.*`, the fusion block (`fusion_model.layers.N.{query,key,value}{1,2}` and
  `fusion_model.{protein,text}_batch_norm_layers.N`), the MLM / MMP heads and `logit_scale`.
- `convert_hub_port(folder, output_dir)`: the `mila-intel/ProtST-esm1b` layout (a `ProtSTConfig` with
  `protein_config` / `text_config`, HF ESM and BERT weights under `protein_model.` / `text_model.`, heads with
  `dense` + `out_proj`, bf16 `pytorch_model.bin`). Its head names are matched by role (graph/protein, residue,
  text, word), so either naming of a head converts.

Checkpoints are read with `torch.load(weights_only=True)`; a file that needs full unpickling (TorchDrug engine
pickles can hold optimizer or config objects) is refused unless `trust_pickle=True`, with a warning, because
unpickling runs code from the file. Every key is accounted for: mapped, deliberately dropped (fair-esm's LM and
contact heads, TorchDrug's residue `mapping`, BERT's MLM head and pooler), or reported as unmapped; weights the
target needs but the checkpoint lacks are reported as missing; a shape mismatch raises.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

# ESM-2 sizes: hidden size and layer count -> attention heads (fair-esm `pretrained.py`); ESM-1b: 1280 / 33 / 20
_ESM_HEADS = {(320, 6): 20, (480, 12): 20, (640, 30): 20, (1280, 33): 20, (2560, 36): 40, (5120, 48): 40}

_FAIR_ESM_LAYER = {
    "self_attn.q_proj": "attention.self.query", "self_attn.k_proj": "attention.self.key",
    "self_attn.v_proj": "attention.self.value", "self_attn.out_proj": "attention.output.dense",
    "self_attn_layer_norm": "attention.LayerNorm", "fc1": "intermediate.dense", "fc2": "output.dense",
    "final_layer_norm": "LayerNorm",
}
_FAIR_ESM_TOP = {
    "embed_tokens.weight": "embeddings.word_embeddings.weight",
    "embed_positions.weight": "embeddings.position_embeddings.weight",
    "emb_layer_norm_before.weight": "embeddings.layer_norm.weight",
    "emb_layer_norm_before.bias": "embeddings.layer_norm.bias",
    "emb_layer_norm_after.weight": "encoder.emb_layer_norm_after.weight",
    "emb_layer_norm_after.bias": "encoder.emb_layer_norm_after.bias",
}
_MLP = {"0": "dense", "1": "out_proj"}
_ORIGINAL_HEADS = {
    "protein_model.graph_mlp": "protst.protein_projection", "protein_model.residue_mlp": "protst.residue_projection",
    "text_model.text_mlp": "protst.text_projection", "text_model.word_mlp": "protst.word_projection",
    "mlm_head": "mlm_head", "mmp_protein_head": "mmp_protein_head", "mmp_text_head": "mmp_text_head",
}
_FUSION = {"query1": "protein_query", "key1": "protein_key", "value1": "protein_value", "query2": "text_query",
           "key2": "text_key", "value2": "text_value"}
_DROPPED = (re.compile(r"^protein_model\.mapping$"), re.compile(r"^protein_model\.model\.(lm_head|contact_head)\."),
            re.compile(r"^text_model\.model\.(cls|bert\.pooler)\."),
            re.compile(r"\.rot_emb\.inv_freq$"))  # rotary frequencies are recomputed from the config


class UntrustedPickleError(RuntimeError):
    """The checkpoint needs full unpickling, which can run arbitrary code: refused without `trust_pickle`."""


@dataclass
class ConversionReport:
    mapped: int = 0
    dropped: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"mapped": self.mapped, "dropped": len(self.dropped), "unmapped": self.unmapped,
                "missing": self.missing}


def load_checkpoint(path: str | Path, trust_pickle: bool = False) -> dict:
    """The state dict of a checkpoint file (`.pth`/`.bin` dict, possibly under `model` / `state_dict`, or
    safetensors)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises UnpicklingError or others for non-tensor content
        if not trust_pickle:
            raise UntrustedPickleError(
                f"{path} holds objects that need full unpickling, which runs code from the file; if you trust "
                f"its source, pass --trust-pickle ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
            ) from err
        warnings.warn(f"unpickling {path} with weights_only=False (trusted by the caller)", stacklevel=2)
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=False)
        except (ModuleNotFoundError, AttributeError) as missing:
            raise ValueError(f"{path} refers to code that is not installed ({missing}): install it, or re-save the "
                             "checkpoint's state dict alone where it is") from missing
    for key in ("model", "state_dict"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ValueError(f"{path}: no state dict of tensors found")
    return loaded


def _original_key(key: str) -> str | None:
    """protst-hf key of an original (TorchDrug) key, or None when the key has no counterpart."""
    match = re.match(r"^protein_model\.model\.(.*)$", key)
    if match:
        rest = match[1]
        if rest in _FAIR_ESM_TOP:
            return "protst.protein_model." + _FAIR_ESM_TOP[rest]
        layer = re.match(r"^layers\.(\d+)\.(.+)\.(weight|bias)$", rest)
        if layer and layer[2] in _FAIR_ESM_LAYER:
            return f"protst.protein_model.encoder.layer.{layer[1]}.{_FAIR_ESM_LAYER[layer[2]]}.{layer[3]}"
        return None
    match = re.match(r"^text_model\.model\.bert\.(.*)$", key)
    if match:
        return "protst.text_model." + match[1]
    for prefix, target in _ORIGINAL_HEADS.items():
        match = re.match(rf"^{re.escape(prefix)}\.layers\.([01])\.(weight|bias)$", key)
        if match:
            return f"{target}.{_MLP[match[1]]}.{match[2]}"
    match = re.match(r"^fusion_model\.layers\.(\d+)\.(query1|key1|value1|query2|key2|value2)\.weight$", key)
    if match:
        return f"fusion.layers.{match[1]}.{_FUSION[match[2]]}.weight"
    match = re.match(r"^fusion_model\.(protein|text)_batch_norm_layers\.(\d+)\.(.+)$", key)
    if match:
        return f"fusion.layers.{match[2]}.{match[1]}_batch_norm.{match[3]}"
    if key == "logit_scale":
        return "protst.logit_scale"
    return None


def infer_config(state: dict, protein_config=None, text_config=None, protein_attention_heads: int | None = None,
                 **overrides):
    """A `ProtSTConfig` matching an original state dict: sizes read from the weights; attention heads from the
    known ESM sizes (or `protein_attention_heads`, or a whole `protein_config`) and 64 per head for BERT (pass
    `text_config` otherwise)."""
    from transformers import BertConfig, EsmConfig

    from ..models.protst.configuration_protst import ProtSTConfig

    if protein_config is None:
        embed = state["protein_model.model.embed_tokens.weight"]
        layers = 1 + max(int(m[1]) for k in state if (m := re.match(r"protein_model\.model\.layers\.(\d+)\.", k)))
        hidden = embed.shape[1]
        absolute = "protein_model.model.embed_positions.weight" in state
        heads = protein_attention_heads or _ESM_HEADS.get((hidden, layers))
        if heads is None:
            raise ValueError(f"unknown ESM size (hidden {hidden}, {layers} layers): give its number of attention "
                             "heads (--protein-attention-heads) or its config")
        ffn = state["protein_model.model.layers.0.fc1.weight"].shape[0]
        positions = state["protein_model.model.embed_positions.weight"].shape[0] if absolute else 1026
        protein_config = EsmConfig(
            vocab_size=embed.shape[0], hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
            intermediate_size=ffn, max_position_embeddings=positions, pad_token_id=1, mask_token_id=32,
            position_embedding_type="absolute" if absolute else "rotary", token_dropout=True,
            emb_layer_norm_before="protein_model.model.emb_layer_norm_before.weight" in state, layer_norm_eps=1e-5,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        )
    if text_config is None:
        words = state["text_model.model.bert.embeddings.word_embeddings.weight"]
        layers = 1 + max(int(m[1]) for k in state
                         if (m := re.match(r"text_model\.model\.bert\.encoder\.layer\.(\d+)\.", k)))
        text_config = BertConfig(
            vocab_size=words.shape[0], hidden_size=words.shape[1], num_hidden_layers=layers,
            num_attention_heads=words.shape[1] // 64,
            intermediate_size=state["text_model.model.bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
            max_position_embeddings=state["text_model.model.bert.embeddings.position_embeddings.weight"].shape[0],
        )
    projection = state["protein_model.graph_mlp.layers.1.weight"].shape[0]
    fusion_layers = sum(1 for k in state if re.match(r"fusion_model\.layers\.\d+\.query1\.weight$", k))
    values = dict(protein_config=protein_config, text_config=text_config, projection_dim=projection,
                  fusion_num_layers=max(fusion_layers, 1))
    values.update(overrides)
    return ProtSTConfig(**values)


def _apply(model, mapped: dict, report: ConversionReport) -> None:
    target = model.state_dict()
    for key, tensor in mapped.items():
        if target[key].shape != tensor.shape:
            raise ValueError(f"shape mismatch for {key}: checkpoint {tuple(tensor.shape)}, model "
                             f"{tuple(target[key].shape)}")
    # buffers the checkpoint cannot carry (rotary frequencies, position ids) keep the model's own values
    report.missing = sorted(k for k in target if k not in mapped and not re.search(
        r"(inv_freq|position_ids|token_type_ids)$", k))
    model.load_state_dict({**target, **{k: v.to(target[k].dtype) for k, v in mapped.items()}})


def convert_state(state: dict, key_fn, config) -> tuple:
    """`ProtSTForPreTraining` for `config` with the weights of `state` mapped by `key_fn`, and the report."""
    from ..models.protst.modeling_protst import ProtSTForPreTraining

    report = ConversionReport()
    model = ProtSTForPreTraining(config)
    target = model.state_dict()
    mapped = {}
    for key, tensor in state.items():
        new = key_fn(key)
        if new is not None and new in target:
            mapped[new] = tensor
            report.mapped += 1
        elif any(p.search(key) for p in _DROPPED):
            report.dropped.append(key)
        else:
            report.unmapped.append(key)
    _apply(model, mapped, report)
    return model.eval(), report


def convert_original(checkpoint: str | Path, output_dir: str | Path | None = None, trust_pickle: bool = False,
                     protein_config=None, text_config=None, processor=None, protein_attention_heads=None,
                     **config_overrides):
    """Convert an original ProtST checkpoint; save it (safetensors + Hub code, and `processor` when given) to
    `output_dir`. Returns `(model, report)`."""
    state = load_checkpoint(checkpoint, trust_pickle)
    config = infer_config(state, protein_config, text_config, protein_attention_heads, **config_overrides)
    model, report = convert_state(state, _original_key, config)
    _save(model, report, output_dir, processor, source=Path(checkpoint).name)
    return model, report


_HUB_HEADS = (("graph_mlp", "protein_projection"), ("protein_mlp", "protein_projection"),
              ("protein_projection", "protein_projection"), ("residue_mlp", "residue_projection"),
              ("residue_projection", "residue_projection"), ("text_mlp", "text_projection"),
              ("text_projection", "text_projection"), ("word_mlp", "word_projection"),
              ("word_projection", "word_projection"))


def _hub_port_key(key: str) -> str | None:
    if key == "logit_scale":
        return "protst.logit_scale"
    for name, target in _HUB_HEADS:
        match = re.match(rf"^(?:protein_model\.|text_model\.)?{name}\.(dense|out_proj)\.(weight|bias)$", key)
        if match:
            return f"protst.{target}.{match[1]}.{match[2]}"
    match = re.match(r"^protein_model\.(?:esm\.|model\.)?(.*)$", key)
    if match and not match[1].startswith(("contact_head", "lm_head", "pooler")):
        return "protst.protein_model." + match[1]
    match = re.match(r"^text_model\.(?:model\.)?(?:bert\.)?(.*)$", key)
    if match and not match[1].startswith(("cls.", "pooler.")):
        return "protst.text_model." + match[1]
    return None


def convert_hub_port(folder: str | Path, output_dir: str | Path | None = None, trust_pickle: bool = False,
                     processor=None):
    """Convert a `mila-intel/ProtST-esm1b`-layout folder (config.json + pytorch_model.bin or safetensors)."""
    from ..models.protst.configuration_protst import ProtSTConfig

    folder = Path(folder)
    raw = json.loads((folder / "config.json").read_text())
    for key in ("model_type", "architectures", "auto_map", "torch_dtype", "dtype", "transformers_version"):
        raw.pop(key, None)
    config = ProtSTConfig(protein_config=raw.pop("protein_config"), text_config=raw.pop("text_config"),
                          **{k: v for k, v in raw.items() if k in ProtSTConfig().to_dict()})
    files = [p for p in (folder / "model.safetensors", folder / "pytorch_model.bin") if p.exists()]
    if not files:
        raise FileNotFoundError(f"{folder}: no model.safetensors or pytorch_model.bin")
    state = {k: v.float() for k, v in load_checkpoint(files[0], trust_pickle).items()}
    model, report = convert_state(state, _hub_port_key, config)
    _save(model, report, output_dir, processor, source=folder.name)
    return model, report


def _save(model, report: ConversionReport, output_dir, processor, source: str) -> None:
    if output_dir is None:
        return
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    if processor is not None:
        processor.save_pretrained(output_dir)
    (output_dir / "conversion_report.json").write_text(json.dumps({"source": source, **report.summary(),
                                                                   "dropped_keys": report.dropped}, indent=2))



def save_converted_processor(model, output_dir: str | Path, text_tokenizer: str,
                             protein_tokenizer: str | Path | None = None):
    """Save the processor of a converted model beside it: the ESM tokenizer shipped with the package (every ESM-1b
    and ESM-2 checkpoint shares its 33-token vocabulary) and the checkpoint's text tokenizer (a folder or Hub id),
    with the model's special-token ids made the tokenizer's (the config is saved again when they differ). A
    tokenizer larger than the checkpoint's text vocabulary is an error: not the one it was trained with.

    Returns:
        the [`ProtSTProcessor`] saved.
    """
    from transformers import AutoTokenizer

    from ..models.protst import ProtSTProcessor
    from ..models.protst.configuration_protst import text_special_token_ids
    from ..resources import RESOURCES

    protein = AutoTokenizer.from_pretrained(protein_tokenizer or RESOURCES / "esm_tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(text_tokenizer)
    rows = model.config.text_config.vocab_size
    if len(tokenizer) > rows:
        raise ValueError(f"the text tokenizer has {len(tokenizer)} tokens, the checkpoint's text model {rows}: "
                         "not the tokenizer it was trained with")
    processor = ProtSTProcessor(protein_tokenizer=protein, tokenizer=tokenizer,
                                text_max_length=model.config.text_config.max_position_embeddings)
    ids = text_special_token_ids(processor.tokenizer)
    if any(getattr(model.config, k) != v for k, v in ids.items()):
        for key, value in ids.items():
            setattr(model.config, key, value)
        model.config.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    return processor


__all__ = ["ConversionReport", "UntrustedPickleError", "convert_hub_port", "convert_original", "convert_state",
           "infer_config", "load_checkpoint", "save_converted_processor"]
