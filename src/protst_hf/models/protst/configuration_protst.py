"""ProtST configuration: a composite of a protein (ESM) config and a text (BERT-family) config.

This file is shipped to the Hub with saved models: it imports nothing from `protst_hf`.
"""

import math

from transformers import AutoConfig, EsmConfig, PretrainedConfig
from transformers.utils import logging

logger = logging.get_logger(__name__)

# ESM-2 650M (`facebook/esm2_t33_650M_UR50D`): the protein tower of the paper's ProtST-ESM-2.
ESM2_650M_CONFIG = {
    "model_type": "esm",
    "vocab_size": 33,
    "mask_token_id": 32,
    "pad_token_id": 1,
    "hidden_size": 1280,
    "num_hidden_layers": 33,
    "num_attention_heads": 20,
    "intermediate_size": 5120,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "max_position_embeddings": 1026,
    "position_embedding_type": "rotary",
    "emb_layer_norm_before": False,
    "token_dropout": True,
    "layer_norm_eps": 1e-5,
    "initializer_range": 0.02,
}

# PubMedBERT (`microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract`): BERT-base with its own 30522-token vocab.
PUBMEDBERT_CONFIG = {
    "model_type": "bert",
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "pad_token_id": 0,
}

# log(1 / 0.07) = 2.6593: the initial log temperature of CLIP and ProtST
LOGIT_SCALE_INIT = math.log(1 / 0.07)
# keys of folders saved before the pretraining collator's mask rates left the config (docs/configuration.md)
MOVED_TO_DATA_ARGUMENTS = ("protein_mask_rate", "text_mask_rate")

# The 20 classes of the residue heads (`mlm_head`, `mmp_protein_head`), in the original's (TorchDrug's) order,
# so that converted heads keep their meaning.
RESIDUE_CLASSES = "GASPVTCILNDQKEMHFRYW"
# Token ids of those 20 residues in the ESM alphabet (identical for every ESM-1b / ESM-2 checkpoint).
ESM_RESIDUE_TOKEN_IDS = [6, 5, 8, 14, 7, 11, 23, 12, 4, 17, 13, 16, 15, 9, 20, 21, 18, 10, 19, 22]


def text_special_token_ids(tokenizer) -> dict:
    """`{"text_cls_token_id", "text_sep_token_id"}` of a text tokenizer (a `None` id is left out): the ids the text
    readout excludes, which differ between vocabularies (2 / 3 in PubMedBERT's, 101 / 102 in bert-base-uncased's)."""
    ids = {"text_cls_token_id": tokenizer.cls_token_id, "text_sep_token_id": tokenizer.sep_token_id}
    return {k: v for k, v in ids.items() if v is not None}


def protein_residue_limit(protein_config) -> int | None:
    """The most residues a protein tower can read (BOS and EOS take two positions): a tower with absolute position
    embeddings (ESM-1b) has `max_position_embeddings - pad_token_id - 3`; a rotary one (ESM-2) has no hard limit
    (None), ESM's 1,022 residues being a training convention."""
    if protein_config.position_embedding_type != "absolute":
        return None
    return protein_config.max_position_embeddings - protein_config.pad_token_id - 3


class ProtSTConfig(PretrainedConfig):
    r"""
    Configuration of a ProtST model: a protein language model (ESM) and a biomedical text model (BERT-family)
    aligned by contrastive learning, with a fusion module for multimodal mask prediction.

    The defaults reproduce ProtST-ESM-2 of the paper (Xu et al., ICML 2023): ESM-2 650M, PubMedBERT-abstract,
    512-d projections, one unscaled fusion layer with batch norm over all positions, all loss weights 1.0,
    15% masking, `logit_scale` initialised at log(1/0.07) and not clamped, text tower frozen.

    What it holds (transformers' rule: what building and running the model needs; docs/configuration.md): the
    architecture (towers, projections, fusion, token ids, initialisation), the objective `forward` computes (loss
    weights, `logit_scale`, `contrastive_*`, `text_bank_part_weight`), the state the model applies to its towers
    (`freeze_*`, `frozen_towers_eval`) and how it runs (`protein_packed`, `packed_attention_backend`,
    `zero_shot_temperature`). How much the pretraining collator masks is the data's concern (`--protein_mask_rate`,
    `--text_mask_rate`); folders saved with those two keys load as before, the keys dropped.

    Args:
        protein_config (`EsmConfig` or `dict`, *optional*):
            Configuration of the protein tower. Defaults to ESM-2 650M.
        text_config (`PretrainedConfig` or `dict`, *optional*):
            Configuration of the text tower; any BERT-family config (a dict must carry `model_type`). Defaults to
            PubMedBERT-abstract.
        projection_dim (`int`, *optional*, defaults to 512):
            Output size of the four projection heads (protein, residue, text, word).
        fusion_num_layers (`int`, *optional*, defaults to 1):
            Number of fusion layers. The original has one; more layers is a deviation.
        fusion_num_attention_heads (`int`, *optional*, defaults to 8):
            Attention heads of each fusion layer.
        fusion_hidden_size (`int`, *optional*):
            Width of the fusion module. Defaults to `projection_dim` (the original). A different width adds a
            bias-free input projection per modality (a deviation).
        fusion_scale_attention (`bool`, *optional*, defaults to `False`):
            Scale fusion attention logits by 1/sqrt(head_dim). The original does NOT scale (raw dot products);
            `True` is the standard-attention fix.
        fusion_batch_norm (`bool`, *optional*, defaults to `True`):
            Apply BatchNorm1d after each fusion layer (before the ReLU), as the original.
        fusion_batch_norm_valid_only (`bool`, *optional*, defaults to `False`):
            Compute batch-norm statistics over valid (non-padded) positions only. The original includes the
            zero-filled padded positions, so its statistics depend on how a batch is padded; `True` fixes that.
        contrastive_weight (`float`, *optional*, defaults to 1.0):
            Weight of the symmetric InfoNCE loss (protein->text + text->protein, summed). 0 disables it.
        mlm_weight (`float`, *optional*, defaults to 1.0):
            Weight of the unimodal protein masked-language-modelling loss. 0 disables it.
        mmp_protein_weight (`float`, *optional*, defaults to 1.0):
            Weight of the multimodal mask prediction loss on the protein side. 0 disables it.
        mmp_text_weight (`float`, *optional*, defaults to 1.0):
            Weight of the multimodal mask prediction loss on the text side. 0 disables it.
        logit_scale_init_value (`float`, *optional*, defaults to log(1/0.07) = 2.6593):
            Initial value of the learnable log temperature of the contrastive logits.
        logit_scale_max (`float`, *optional*):
            Clamp `logit_scale` at this value in the forward pass (CLIP uses log(100) = 4.6052). `None`, the
            original, leaves it unclamped.
        contrastive_positives (`str`, *optional*, defaults to `"pair"`):
            Which pairs of a (gathered) batch the contrastive loss counts as matching. `"pair"`, the original: only
            protein i with its own text i, so proteins sharing one text (frequent in Swiss-Prot, e.g.
            "SUBCELLULAR LOCATION: Cytoplasm.") are pushed away from each other's identical text. `"same_text"`:
            every protein whose text is identical is a positive, in both directions (soft targets spread over the
            positives), so identical texts are never negatives.
        contrastive_gather (`bool`, *optional*, defaults to `True`):
            When `torch.distributed` is initialised with several processes, gather embeddings from all of them
            (with gradient) so the contrastive loss sees the global batch, as the original's `global_contrast`.
        contrastive_text_bank (`bool`, *optional*, defaults to `False`):
            Score each protein against a bank of every distinct training text instead of the batch's texts
            (`losses_protst.text_bank_loss`; the pretraining loop builds the bank and passes `text_bank_features`
            and `text_bank_targets`). The original scores in-batch texts only (`False`), which learns a density
            ratio log p(t | x) - log p(t) that forgets how common each text is; the bank learns p(t | x). Needs a
            frozen text tower (the bank's tower features are computed once).
        text_bank_part_weight (`float`, *optional*, defaults to 0.0):
            With the text bank, the share of a multi-statement text's target (e.g. "SUBCELLULAR LOCATION:
            Cytoplasm. Nucleus.") spread evenly over its single statements ("...: Cytoplasm.", "...: Nucleus.",
            see `processing_protst.text_parts`); the rest stays on the text itself. 0 treats every distinct text
            as a class of its own.
        frozen_towers_eval (`bool`, *optional*, defaults to `False`):
            Keep a frozen tower (`freeze_text_model`) in eval mode while training, so that its dropout is off and
            the same text always gets the same embedding. The original calls `train()` on the whole model, which
            leaves dropout active in the frozen text tower (`False`).
        freeze_text_model (`bool`, *optional*, defaults to `True`):
            Freeze the text tower (`requires_grad=False`), as the paper.
        freeze_word_projection (`bool`, *optional*, defaults to `True`):
            Freeze the per-token text projection (`word_mlp`). The original freezes it at its random
            initialisation together with the text tower; `False` trains it. The three freezing fields describe the
            training; the training code applies them (`protst_hf.training.freezing`), as a loop of your own should:
            the model classes load every parameter trainable, as transformers' models do.
        protein_cls_token_id (`int`, *optional*, defaults to 0):
            Id of the protein BOS token (`<cls>` in the ESM alphabet); excluded from the residue readout.
        protein_eos_token_id (`int`, *optional*, defaults to 2):
            Id of the protein EOS token (`<eos>` in the ESM alphabet); excluded from the residue readout.
        residue_token_ids (`list[int]`, *optional*):
            Protein token ids of the 20 classes predicted by the residue heads, in class order. Defaults to the
            ESM alphabet ids of G A S P V T C I L N D Q K E M H F R Y W (the original's order). Masked residues
            whose token is not one of these (X, B, Z, U, O) are not scored.
        text_cls_token_id (`int`, *optional*, defaults to 2):
            Id of the text `[CLS]` token (2 in PubMedBERT's vocabulary, 101 in bert-base-uncased); excluded from
            the text readout together with `[SEP]` and `text_config.pad_token_id`.
        text_sep_token_id (`int`, *optional*, defaults to 3):
            Id of the text `[SEP]` token (3 in PubMedBERT's vocabulary, 102 in bert-base-uncased).
        classifier_dropout (`float`, *optional*, defaults to 0.0):
            Dropout before the task heads of `ProtSTForSequenceClassification` / `ProtSTForTokenClassification`.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the heads and the fusion module.
        zero_shot_temperature (`float`, *optional*):
            Temperature the zero-shot pipeline divides its logits by before the softmax, fitted on a labelled
            validation set (`ZeroShotProteinClassificationPipeline.calibrate`). Unset: 1 (the paper's scores).
            It changes the probabilities, never the predicted label.
        protein_packed (`bool`, *optional*, defaults to `False`):
            Run the protein tower unpadded: the batch's residues concatenated with per-sequence boundaries, attention
            kept inside each sequence (`packing_protst.py`). Outputs equal the padded path's; it only saves the work
            spent on padding. A speed setting, not part of the original; off by default.
        packed_attention_backend (`str`, *optional*, defaults to `"auto"`):
            Attention of the packed path: `auto` (torch varlen / flash-attn / FlexAttention on GPU, per-sequence
            SDPA on CPU), `varlen`, `flash_attn`, `flex`, `segments` or `masked`.

    Example:

    ```python
    >>> from transformers import BertConfig, EsmConfig
    >>> from protst_hf import ProtSTConfig, ProtSTModel

    >>> config = ProtSTConfig()  # ProtST-ESM-2: ESM-2 650M + PubMedBERT
    >>> tiny = ProtSTConfig(
    ...     protein_config=EsmConfig(vocab_size=33, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    ...                              intermediate_size=64, pad_token_id=1, mask_token_id=32,
    ...                              position_embedding_type="rotary", token_dropout=True),
    ...     text_config=BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    ...                            intermediate_size=64),
    ...     projection_dim=16, fusion_num_attention_heads=2,
    ... )
    >>> model = ProtSTModel(tiny)
    ```
    """

    model_type = "protst"
    sub_configs = {"protein_config": EsmConfig, "text_config": AutoConfig}

    def __init__(
        self,
        protein_config=None,
        text_config=None,
        projection_dim=512,
        fusion_num_layers=1,
        fusion_num_attention_heads=8,
        fusion_hidden_size=None,
        fusion_scale_attention=False,
        fusion_batch_norm=True,
        fusion_batch_norm_valid_only=False,
        contrastive_weight=1.0,
        mlm_weight=1.0,
        mmp_protein_weight=1.0,
        mmp_text_weight=1.0,
        logit_scale_init_value=LOGIT_SCALE_INIT,
        logit_scale_max=None,
        contrastive_positives="pair",
        contrastive_gather=True,
        contrastive_text_bank=False,
        text_bank_part_weight=0.0,
        frozen_towers_eval=False,
        freeze_text_model=True,
        freeze_word_projection=True,
        protein_cls_token_id=0,
        protein_eos_token_id=2,
        residue_token_ids=None,
        text_cls_token_id=2,
        text_sep_token_id=3,
        classifier_dropout=0.0,
        initializer_range=0.02,
        zero_shot_temperature=None,
        protein_packed=False,
        packed_attention_backend="auto",
        **kwargs,
    ):
        protein_config, text_config = _tower_configs(protein_config, text_config)
        moved = {name: kwargs.pop(name) for name in MOVED_TO_DATA_ARGUMENTS if name in kwargs}
        if any(value != 0.15 for value in moved.values()):
            logger.warning("%s are no longer configuration (only the pretraining collator reads them): ignored here; "
                           "pass them to the collator or as --protein_mask_rate / --text_mask_rate", moved)
        values = dict(
            protein_packed=bool(protein_packed), packed_attention_backend=packed_attention_backend,
            protein_config=protein_config, text_config=text_config, projection_dim=projection_dim,
            fusion_num_layers=fusion_num_layers, fusion_num_attention_heads=fusion_num_attention_heads,
            fusion_hidden_size=projection_dim if fusion_hidden_size is None else fusion_hidden_size,
            fusion_scale_attention=fusion_scale_attention, fusion_batch_norm=fusion_batch_norm,
            fusion_batch_norm_valid_only=fusion_batch_norm_valid_only, contrastive_weight=contrastive_weight,
            mlm_weight=mlm_weight, mmp_protein_weight=mmp_protein_weight, mmp_text_weight=mmp_text_weight,
            logit_scale_init_value=logit_scale_init_value, logit_scale_max=logit_scale_max,
            contrastive_positives=contrastive_positives, contrastive_gather=contrastive_gather,
            contrastive_text_bank=bool(contrastive_text_bank), text_bank_part_weight=text_bank_part_weight,
            frozen_towers_eval=bool(frozen_towers_eval), freeze_text_model=freeze_text_model,
            freeze_word_projection=freeze_word_projection, protein_cls_token_id=protein_cls_token_id,
            protein_eos_token_id=protein_eos_token_id,
            residue_token_ids=list(ESM_RESIDUE_TOKEN_IDS if residue_token_ids is None else residue_token_ids),
            text_cls_token_id=text_cls_token_id, text_sep_token_id=text_sep_token_id,
            zero_shot_temperature=zero_shot_temperature, classifier_dropout=classifier_dropout,
            initializer_range=initializer_range,
        )
        _check_values(values)
        for name in ("contrastive_weight", "mlm_weight", "mmp_protein_weight", "mmp_text_weight",
                     "text_bank_part_weight"):
            values[name] = float(values[name])
        for name, value in values.items():
            setattr(self, name, value)
        # the base __init__ sets the attention implementation on every sub-config (None when not asked for), which
        # would strip it from towers built beforehand and passed in: keep theirs unless one is asked for here
        towers = {"protein_config": protein_config._attn_implementation,
                  "text_config": text_config._attn_implementation}
        super().__init__(**kwargs)
        if kwargs.get("attn_implementation") is None:
            for key, implementation in towers.items():
                if implementation is not None and getattr(self, key)._attn_implementation is None:
                    getattr(self, key)._attn_implementation = implementation



def _tower_configs(protein_config, text_config) -> tuple[EsmConfig, PretrainedConfig]:
    """The two towers' configs from configs, dicts (a text dict names its `model_type`, BERT by default) or None
    (ESM-2 650M and PubMedBERT)."""
    if protein_config is None:
        protein_config = dict(ESM2_650M_CONFIG)
    if isinstance(protein_config, dict):
        protein_config = {k: v for k, v in protein_config.items() if k != "model_type"}
        protein_config = EsmConfig(**protein_config)
    if not isinstance(protein_config, EsmConfig):
        raise ValueError(f"`protein_config` must be an EsmConfig or a dict, got {type(protein_config).__name__}")
    if text_config is None:
        text_config = dict(PUBMEDBERT_CONFIG)
    if isinstance(text_config, dict):
        text_config = dict(text_config)
        model_type = text_config.pop("model_type", "bert")
        text_config = AutoConfig.for_model(model_type, **text_config)
    if not isinstance(text_config, PretrainedConfig):
        raise ValueError(f"`text_config` must be a config or a dict, got {type(text_config).__name__}")
    return protein_config, text_config


def _check_values(v: dict) -> None:
    """`ValueError` naming the field, for a value [`ProtSTConfig`] cannot take."""
    for name in ("projection_dim", "fusion_hidden_size", "fusion_num_layers", "fusion_num_attention_heads"):
        if not isinstance(v[name], int) or v[name] <= 0:
            raise ValueError(f"`{name}` must be a positive integer, got {v[name]!r}")
    if v["fusion_hidden_size"] % v["fusion_num_attention_heads"] != 0:
        raise ValueError(
            f"`fusion_hidden_size` ({v['fusion_hidden_size']}) must be divisible by `fusion_num_attention_heads` "
            f"({v['fusion_num_attention_heads']})"
        )
    for name in ("contrastive_weight", "mlm_weight", "mmp_protein_weight", "mmp_text_weight"):
        if not isinstance(v[name], (int, float)) or v[name] < 0 or not math.isfinite(v[name]):
            raise ValueError(f"`{name}` must be a finite number >= 0, got {v[name]!r}")
    if v["logit_scale_max"] is not None and v["logit_scale_max"] < v["logit_scale_init_value"]:
        raise ValueError(f"`logit_scale_max` ({v['logit_scale_max']}) is below `logit_scale_init_value` "
                         f"({v['logit_scale_init_value']})")
    residues = v["residue_token_ids"]
    if len(residues) != len(RESIDUE_CLASSES) or len(set(residues)) != len(RESIDUE_CLASSES):
        raise ValueError(f"`residue_token_ids` must hold {len(RESIDUE_CLASSES)} distinct ids, got {residues}")
    if any(not 0 <= i < v["protein_config"].vocab_size for i in residues):
        raise ValueError(f"`residue_token_ids` {residues} fall outside the protein vocabulary")
    if not 0.0 <= v["classifier_dropout"] < 1.0:
        raise ValueError(f"`classifier_dropout` must be in [0, 1), got {v['classifier_dropout']!r}")
    if v["contrastive_positives"] not in ("pair", "same_text"):
        raise ValueError(f"`contrastive_positives` must be 'pair' or 'same_text', got {v['contrastive_positives']!r}")
    if not 0.0 <= v["text_bank_part_weight"] <= 1.0:
        raise ValueError(f"`text_bank_part_weight` must be in [0, 1], got {v['text_bank_part_weight']!r}")
    if v["contrastive_text_bank"] and not v["freeze_text_model"]:
        raise ValueError("`contrastive_text_bank` needs `freeze_text_model=True`: the bank's text features are "
                         "computed once and would go stale under a trained text tower")
    if v["packed_attention_backend"] not in ("auto", "varlen", "flash_attn", "flex", "segments", "masked"):
        raise ValueError(f"unknown `packed_attention_backend` {v['packed_attention_backend']!r}")
    if v["zero_shot_temperature"] is not None and not v["zero_shot_temperature"] > 0:
        raise ValueError(f"zero_shot_temperature must be positive, got {v['zero_shot_temperature']}")


__all__ = ["ProtSTConfig", "protein_residue_limit", "text_special_token_ids"]
