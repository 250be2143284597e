"""ProtST models: protein (ESM) and text (BERT-family) towers, projection heads, fusion module, task heads.

This file is shipped to the Hub with saved models: it imports its siblings only (`from .x import Y`).
Shapes in comments: B batch, L residues, T text tokens, H tower width, P projection_dim, F fusion width.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import MODEL_MAPPING, AutoModel, EsmModel, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_protst import ProtSTConfig, protein_residue_limit, text_special_token_ids
from .export_protst import auto_map, custom_pipelines, write_hub_files
from .losses_protst import (
    contrastive_loss,
    masked_accuracy,
    masked_cross_entropy,
    task_loss,
    text_bank_loss,
    text_group_ids,
)
from .packing_protst import pack, packed_esm_forward, unpack


@dataclass
class ProtSTOutput(ModelOutput):
    """Output of [`ProtSTModel`].

    Args:
        loss (`torch.FloatTensor`, *optional*): the symmetric contrastive loss, when `return_loss=True`.
        logits_per_protein (`torch.FloatTensor` of shape `(batch, batch)`): exp(logit_scale) * cosine, proteins
            against texts.
        logits_per_text (`torch.FloatTensor` of shape `(batch, batch)`): the transpose, texts against proteins.
        protein_embeds (`torch.FloatTensor` of shape `(batch, projection_dim)`): normalised protein embeddings.
        text_embeds (`torch.FloatTensor` of shape `(batch, projection_dim)`): normalised text embeddings.
        residue_embeds (`torch.FloatTensor` of shape `(batch, protein_len - 2, projection_dim)`, *optional*):
            per-residue projected features (BOS/EOS dropped), when `return_token_embeds=True`.
        token_embeds (`torch.FloatTensor` of shape `(batch, text_len, projection_dim)`, *optional*): per-token
            projected text features, when `return_token_embeds=True`.
        protein_last_hidden_state (`torch.FloatTensor` of shape `(batch, protein_len, hidden)`): protein tower.
        text_last_hidden_state (`torch.FloatTensor` of shape `(batch, text_len, hidden)`): text tower.
    """

    loss: torch.FloatTensor | None = None
    logits_per_protein: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    protein_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    residue_embeds: torch.FloatTensor | None = None
    token_embeds: torch.FloatTensor | None = None
    protein_last_hidden_state: torch.FloatTensor | None = None
    text_last_hidden_state: torch.FloatTensor | None = None


@dataclass
class ProtSTForPreTrainingOutput(ModelOutput):
    """Output of [`ProtSTForPreTraining`]: the weighted total, each term (unweighted) and each head's accuracy.

    A term whose weight is 0 is not computed: it and its accuracy are `None`.

    Args:
        loss (`torch.FloatTensor`): contrastive_weight * contrastive_loss + mlm_weight * mlm_loss
            + mmp_protein_weight * mmp_protein_loss + mmp_text_weight * mmp_text_loss.
        contrastive_loss (`torch.FloatTensor`, *optional*): CE(protein->text) + CE(text->protein).
        mlm_loss (`torch.FloatTensor`, *optional*): unimodal protein masked prediction.
        mmp_protein_loss (`torch.FloatTensor`, *optional*): multimodal masked prediction, protein side.
        mmp_text_loss (`torch.FloatTensor`, *optional*): multimodal masked prediction, text side.
        protein_to_text_accuracy, text_to_protein_accuracy, mlm_accuracy, mmp_protein_accuracy,
        mmp_text_accuracy (`torch.FloatTensor`, *optional*): arg-max accuracy of each head on this batch.
        logits_per_protein (`torch.FloatTensor` of shape `(batch, global_batch)`, *optional*): local proteins
            against every text of the (gathered) batch.
        logits_per_text (`torch.FloatTensor` of shape `(batch, global_batch)`, *optional*): local texts against
            every protein.
        protein_embeds, text_embeds (`torch.FloatTensor` of shape `(batch, projection_dim)`, *optional*).
    """

    loss: torch.FloatTensor | None = None
    contrastive_loss: torch.FloatTensor | None = None
    mlm_loss: torch.FloatTensor | None = None
    mmp_protein_loss: torch.FloatTensor | None = None
    mmp_text_loss: torch.FloatTensor | None = None
    protein_to_text_accuracy: torch.FloatTensor | None = None
    text_to_protein_accuracy: torch.FloatTensor | None = None
    mlm_accuracy: torch.FloatTensor | None = None
    mmp_protein_accuracy: torch.FloatTensor | None = None
    mmp_text_accuracy: torch.FloatTensor | None = None
    logits_per_protein: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    protein_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None


@dataclass
class ProtSTSequenceClassifierOutput(ModelOutput):
    """Output of [`ProtSTForSequenceClassification`].

    Args:
        loss (`torch.FloatTensor`, *optional*): when `labels` are given.
        logits (`torch.FloatTensor` of shape `(batch, num_labels)`).
        pooled_output (`torch.FloatTensor` of shape `(batch, hidden)`): float32 mean over residues, the head's input.
        last_hidden_state (`torch.FloatTensor` of shape `(batch, protein_len, hidden)`): of the protein tower.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    pooled_output: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None


@dataclass
class ProtSTTokenClassifierOutput(ModelOutput):
    """Output of [`ProtSTForTokenClassification`].

    Args:
        loss (`torch.FloatTensor`, *optional*): when `labels` are given.
        logits (`torch.FloatTensor` of shape `(batch, protein_len, num_labels)`): per position, BOS/EOS included.
        last_hidden_state (`torch.FloatTensor` of shape `(batch, protein_len, hidden)`): of the protein tower.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Float32 mean of `hidden` (B, N, D) over the positions where `mask` (B, N) is true; zero rows give zeros.
    The readout of both towers: averaged in float32 whatever the tower's precision (bf16 weights, autocast)."""
    hidden = hidden.float()
    mask = mask.to(hidden.dtype).unsqueeze(-1)  # (B, N, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def apply_head(head: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """`head(features)` with the features cast to the head's dtype: the heads may stay float32 while a tower runs in
    bf16 (`prepare_for_inference(precision="bfloat16")`), or the reverse."""
    return head(features.to(head.dense.weight.dtype))


def load_protein_tower(name_or_path: str, **kwargs) -> EsmModel:
    """A pretrained ESM checkpoint (Hub id or folder) as a ProtST protein tower: no pooler, no contact head."""
    return drop_unused_protein_modules(EsmModel.from_pretrained(name_or_path, add_pooling_layer=False, **kwargs))


def load_text_tower(name_or_path: str, **kwargs) -> PreTrainedModel:
    """A pretrained BERT-family checkpoint (Hub id or folder) as a ProtST text tower: no pooler."""
    return drop_unused_text_modules(AutoModel.from_pretrained(name_or_path, **kwargs))


def build_protein_tower(protein_config) -> EsmModel:
    """An `EsmModel` without pooler and contact head: ProtST reads the last layer's residue states only."""
    model = EsmModel(protein_config, add_pooling_layer=False)
    return drop_unused_protein_modules(model)


def drop_unused_protein_modules(model: EsmModel) -> EsmModel:
    # the contact head never runs in `forward`; dropping it also spares DDP its unused parameters
    model.contact_head = None
    model.pooler = None
    return model


def build_text_tower(text_config) -> PreTrainedModel:
    """Any BERT-family encoder from its config, without the pooler (ProtST mean-pools token states).

    The class is looked up and called directly, like `EsmModel` above: `AutoModel.from_config` would open a second
    DeepSpeed ZeRO-3 `zero.Init` inside the one that wraps the whole ProtST model, and break its partitioning.
    """
    return drop_unused_text_modules(MODEL_MAPPING[type(text_config)](text_config))


def drop_unused_text_modules(model: PreTrainedModel) -> PreTrainedModel:
    if getattr(model, "pooler", None) is not None:
        model.pooler = None
    return model


class ProtSTProjectionHead(nn.Module):
    """Linear -> ReLU -> Linear, no norm, no dropout: every head of the original (`layers.MLP` with 2 layers)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.dense = nn.Linear(input_size, hidden_size)
        self.out_proj = nn.Linear(hidden_size, output_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.out_proj(F.relu(self.dense(hidden_states)))


class ProtSTFusionLayer(nn.Module):
    """One layer of the original `CrossAttention` fusion.

    Bias-free Q/K/V per modality; four attention maps (protein->protein, protein->text, text->protein,
    text->text) each with its own softmax; protein_out = (A_pp V_p + A_pt V_t) / 2 and
    text_out = (A_tp V_p + A_tt V_t) / 2; padded query rows zeroed; then BatchNorm1d per modality and ReLU.
    No residual, no feed-forward, no LayerNorm. Logits are raw dot products unless `fusion_scale_attention`.
    """

    def __init__(self, config: ProtSTConfig):
        super().__init__()
        width = config.fusion_hidden_size
        self.num_heads = config.fusion_num_attention_heads
        self.head_size = width // self.num_heads
        self.scale = self.head_size**-0.5 if config.fusion_scale_attention else 1.0
        self.batch_norm_valid_only = config.fusion_batch_norm_valid_only
        self.protein_query = nn.Linear(width, width, bias=False)
        self.protein_key = nn.Linear(width, width, bias=False)
        self.protein_value = nn.Linear(width, width, bias=False)
        self.text_query = nn.Linear(width, width, bias=False)
        self.text_key = nn.Linear(width, width, bias=False)
        self.text_value = nn.Linear(width, width, bias=False)
        if config.fusion_batch_norm:
            self.protein_batch_norm = nn.BatchNorm1d(width)
            self.text_batch_norm = nn.BatchNorm1d(width)
        else:
            self.protein_batch_norm = self.text_batch_norm = None

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        # (B, N, F) -> (B, heads, N, head_size)
        return x.view(*x.shape[:2], self.num_heads, self.head_size).transpose(1, 2)

    def _attend(self, query, key, value, key_mask) -> torch.Tensor:
        # key_mask (B, Nk) bool -> (B, 1, 1, Nk); masked keys get no weight
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=key_mask[:, None, None, :], scale=self.scale)
        return out.transpose(1, 2).flatten(2)  # (B, Nq, F)

    def _normalize(self, x: torch.Tensor, mask: torch.Tensor, batch_norm: nn.BatchNorm1d | None) -> torch.Tensor:
        if batch_norm is not None:
            if self.batch_norm_valid_only:
                # statistics over valid positions only; padded positions stay zero
                x = torch.zeros_like(x).masked_scatter(mask.unsqueeze(-1), batch_norm(x[mask]))
            else:
                # the original: statistics over every position of the padded (B, N, F) tensor
                x = batch_norm(x.transpose(1, 2)).transpose(1, 2)
        return F.relu(x)

    def forward(self, protein_states, protein_mask, text_states, text_mask):
        # protein_states (B, L, F), protein_mask (B, L) bool; text_states (B, T, F), text_mask (B, T) bool
        protein_projections = (self.protein_query, self.protein_key, self.protein_value)
        qp, kp, vp = (self._heads(f(protein_states)) for f in protein_projections)
        qt, kt, vt = (self._heads(f(text_states)) for f in (self.text_query, self.text_key, self.text_value))
        protein_out = (self._attend(qp, kp, vp, protein_mask) + self._attend(qp, kt, vt, text_mask)) / 2
        text_out = (self._attend(qt, kp, vp, protein_mask) + self._attend(qt, kt, vt, text_mask)) / 2
        # padded query rows carry no attention output, as in the original
        protein_out = protein_out * protein_mask.unsqueeze(-1).to(protein_out.dtype)
        text_out = text_out * text_mask.unsqueeze(-1).to(text_out.dtype)
        protein_out = self._normalize(protein_out, protein_mask, self.protein_batch_norm)
        text_out = self._normalize(text_out, text_mask, self.text_batch_norm)
        return protein_out, text_out


class ProtSTFusion(nn.Module):
    """The fusion module: `fusion_num_layers` [`ProtSTFusionLayer`]s over residue and word projections."""

    def __init__(self, config: ProtSTConfig):
        super().__init__()
        if config.fusion_hidden_size != config.projection_dim:
            self.protein_input = nn.Linear(config.projection_dim, config.fusion_hidden_size, bias=False)
            self.text_input = nn.Linear(config.projection_dim, config.fusion_hidden_size, bias=False)
        else:
            self.protein_input = self.text_input = None
        self.layers = nn.ModuleList(ProtSTFusionLayer(config) for _ in range(config.fusion_num_layers))
        self.gradient_checkpointing = False

    def forward(self, protein_states, protein_mask, text_states, text_mask):
        """(B, L, P) protein states with their (B, L) mask, (B, T, P) text states with their (B, T) mask
        -> fused (B, L, F) protein and (B, T, F) text states."""
        protein_mask, text_mask = protein_mask.bool(), text_mask.bool()
        if self.protein_input is not None:
            protein_states, text_states = self.protein_input(protein_states), self.text_input(text_states)
        for layer in self.layers:
            if self.gradient_checkpointing and self.training:
                protein_states, text_states = self._gradient_checkpointing_func(
                    layer.__call__, protein_states, protein_mask, text_states, text_mask
                )
            else:
                protein_states, text_states = layer(protein_states, protein_mask, text_states, text_mask)
        return protein_states, text_states


class ProtSTPreTrainedModel(PreTrainedModel):
    """Weight initialisation, loading and saving shared by the ProtST models."""

    config_class = ProtSTConfig
    base_model_prefix = "protst"
    main_input_name = "protein_input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["EsmLayer", "BertLayer", "ProtSTFusionLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    # ESM / BERT checkpoints carry a contact head and a pooler that ProtST drops
    _keys_to_ignore_on_load_unexpected = [r"contact_head\.", r"pooler\."]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, ProtSTModel):
            nn.init.constant_(module.logit_scale, self.config.logit_scale_init_value)

    def _check_lengths(self, protein_input_ids=None, text_input_ids=None):
        """Fail clearly, instead of with an index error deep in a tower, on inputs over a tower's position limit."""
        protein_config, text_config = self.config.protein_config, self.config.text_config
        residues = protein_residue_limit(protein_config)
        if protein_input_ids is not None and residues is not None and protein_input_ids.shape[-1] > residues + 2:
            raise ValueError(
                f"protein input has {protein_input_ids.shape[-1]} tokens, over the protein tower's limit of "
                f"{residues + 2}: truncate or crop proteins to {residues} residues (the processor does this)"
            )
        limit = getattr(text_config, "max_position_embeddings", None)
        if text_input_ids is not None and limit is not None and text_input_ids.shape[-1] > limit:
            raise ValueError(
                f"text input has {text_input_ids.shape[-1]} tokens, over the text tower's limit of {limit}"
            )

    @property
    def runs_packed(self) -> bool:
        """Whether the protein tower runs unpadded: the choice made at load or call time
        (`prepare_for_inference(model, packed=...)`, `--protein_packed`), which is never written into the config,
        else the config's `protein_packed`."""
        choice = getattr(self, "packed_at_runtime", None)
        return bool(getattr(self.config, "protein_packed", False) if choice is None else choice)

    def _reject_unsupported(self, kwargs: dict) -> None:
        """Fail on forward arguments this model does not implement instead of ignoring them."""
        given = sorted(k for k, v in kwargs.items() if v is not None and v is not False)
        if given:
            raise TypeError(f"{type(self).__name__}.forward() does not support {given}: it returns each tower's last "
                            "hidden state; for attentions or every layer's hidden states call the tower itself "
                            "(`protein_model` / `text_model`) with those arguments")

    def encode_protein(self, protein_input_ids, protein_attention_mask=None, **kwargs):
        """Protein tower (`self.protein_model`): last hidden state (B, L+2, H) and the residue mask (B, L+2)."""
        self._check_lengths(protein_input_ids=protein_input_ids)
        if protein_attention_mask is None:
            protein_attention_mask = (protein_input_ids != self.config.protein_config.pad_token_id).long()
        if self.runs_packed and not kwargs:
            # unpadded execution (see packing_protst.py): equal outputs at the real positions, zeros at padding
            packed, cu_seqlens, max_seqlen, keep = pack(protein_input_ids, protein_attention_mask,
                                                        self.config.protein_config.pad_token_id)
            hidden = unpack(packed_esm_forward(self.protein_model, packed, cu_seqlens, max_seqlen,
                                               self.config.packed_attention_backend), keep)
        else:
            hidden = self.protein_model(
                input_ids=protein_input_ids, attention_mask=protein_attention_mask, **kwargs
            ).last_hidden_state
        return hidden, self._residue_mask(protein_input_ids, protein_attention_mask)

    def get_protein_features(
        self,
        protein_input_ids: torch.Tensor,
        protein_attention_mask: torch.Tensor | None = None,
        normalize: bool = True,
        project: bool = True,
    ) -> torch.Tensor:
        """Protein embeddings: (B, projection_dim), L2-normalised by default; `project=False` gives the raw
        mean-pooled tower features (B, hidden), the input of the downstream heads (task models have only these)."""
        hidden, residue_mask = self.encode_protein(protein_input_ids, protein_attention_mask)
        return self.pool_protein(hidden, residue_mask, normalize=normalize, project=project)

    def pool_protein(self, hidden, residue_mask, normalize: bool = True, project: bool = True) -> torch.Tensor:
        """The protein readout: float32 mean over residues, then (optionally) `protein_projection` and L2 norm."""
        features = masked_mean(hidden, residue_mask)  # (B, H) float32
        if project:
            projection = getattr(self, "protein_projection", None)
            if projection is None:
                raise ValueError(f"{type(self).__name__} has no protein projection: use project=False")
            features = apply_head(projection, features)
        return F.normalize(features, dim=-1) if normalize else features

    def _residue_mask(self, protein_input_ids, protein_attention_mask):
        # (B, L+2) bool: residues only (BOS, EOS and padding excluded), the original's readout positions
        mask = (protein_input_ids != self.config.protein_cls_token_id) & (
            protein_input_ids != self.config.protein_eos_token_id
        )
        mask &= protein_input_ids != self.config.protein_config.pad_token_id
        if protein_attention_mask is not None:
            mask &= protein_attention_mask.bool()
        return mask

    def _text_attention_mask(self, text_input_ids):
        # (B, T): every token that is not padding
        pad = getattr(self.config.text_config, "pad_token_id", None)
        return torch.ones_like(text_input_ids) if pad is None else (text_input_ids != pad).long()

    def _text_content_mask(self, text_input_ids, text_attention_mask):
        # (B, T) bool: tokens that are not [CLS], [SEP] or padding, the original's text readout positions
        mask = (text_input_ids != self.config.text_cls_token_id) & (text_input_ids != self.config.text_sep_token_id)
        pad = getattr(self.config.text_config, "pad_token_id", None)
        if pad is not None:
            mask &= text_input_ids != pad
        if text_attention_mask is not None:
            mask &= text_attention_mask.bool()
        return mask

    def _residue_targets(self, protein_labels: torch.Tensor) -> torch.Tensor:
        """Protein token ids (-100 = ignore) -> class indices of the 20-way residue heads (-100 elsewhere)."""
        vocab_size = self.config.protein_config.vocab_size
        table = torch.full((vocab_size,), -100, dtype=torch.long, device=protein_labels.device)
        table[torch.tensor(self.config.residue_token_ids, device=protein_labels.device)] = torch.arange(
            len(self.config.residue_token_ids), device=protein_labels.device
        )
        scored = (protein_labels >= 0) & (protein_labels < vocab_size)
        return torch.where(scored, table[protein_labels.clamp(0, vocab_size - 1)], -100)

    def parameter_summary(self) -> dict[str, int]:
        """Parameter counts per top-level component, with `total` and `trainable` (full sizes, also when
        DeepSpeed ZeRO-3 has partitioned the parameters)."""

        def size(p):
            return getattr(p, "ds_numel", None) or p.numel()

        summary = {name: sum(size(p) for p in module.parameters()) for name, module in self.named_children()}
        summary.update({name: size(p) for name, p in self.named_parameters(recurse=False)})
        summary["total"] = sum(size(p) for p in self.parameters())
        summary["trainable"] = sum(size(p) for p in self.parameters() if p.requires_grad)
        return summary

    @classmethod
    def from_protein_text_pretrained(
        cls,
        protein_model_name_or_path: str,
        text_model_name_or_path: str,
        protein_model_kwargs: dict | None = None,
        text_model_kwargs: dict | None = None,
        **config_overrides,
    ):
        """Start a ProtST model from pretrained protein (ESM) and text (BERT-family) checkpoints.

        The towers get the checkpoints' weights; the heads (and fusion) are initialised. Special token ids of the
        text vocabulary are read from the text checkpoint's tokenizer when it has one.

        Args:
            protein_model_name_or_path (`str`): e.g. `facebook/esm2_t33_650M_UR50D` or a local folder.
            text_model_name_or_path (`str`): e.g. `microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract`.
            protein_model_kwargs, text_model_kwargs (`dict`, *optional*): passed to each `from_pretrained`
                (`revision`, `dtype`, `attn_implementation`, ...).
            config_overrides: [`ProtSTConfig`] fields (`projection_dim`, loss weights, ...).

        Example:

        ```python
        >>> model = ProtSTForPreTraining.from_protein_text_pretrained(
        ...     "facebook/esm2_t33_650M_UR50D", "microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract")
        ```
        """
        protein_model = load_protein_tower(protein_model_name_or_path, **(protein_model_kwargs or {}))
        text_model = load_text_tower(text_model_name_or_path, **(text_model_kwargs or {}))
        special_ids = _text_special_token_ids(text_model_name_or_path, text_model_kwargs)
        for key, value in special_ids.items():
            config_overrides.setdefault(key, value)
        config = ProtSTConfig(protein_config=protein_model.config, text_config=text_model.config, **config_overrides)
        return cls(config, protein_model=protein_model, text_model=text_model)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`; when the class is registered for the Auto classes (protst_hf registers
        its classes when they are imported, and loading with `trust_remote_code` does too), the folder also gets what
        `export_protst.py` lists for `trust_remote_code` users: every ProtST class in `auto_map`, the three
        pipelines in `custom_pipelines`, and the code and label-set files they need."""
        registered = self._auto_class is not None
        if registered:
            self.config.auto_map = auto_map(getattr(self.config, "auto_map", None))
            self.config.custom_pipelines = custom_pipelines()
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if registered and kwargs.get("is_main_process", True):
            write_hub_files(save_directory)
        return result


def _text_special_token_ids(text_model_name_or_path, text_model_kwargs) -> dict:
    """`text_cls_token_id` / `text_sep_token_id` from the text checkpoint's tokenizer, when it has one."""
    from transformers import AutoTokenizer

    kwargs = {k: v for k, v in (text_model_kwargs or {}).items() if k in ("revision", "token", "cache_dir",
                                                                           "local_files_only")}
    try:
        tokenizer = AutoTokenizer.from_pretrained(text_model_name_or_path, **kwargs)
    except (OSError, ValueError, TypeError):
        return {}
    return text_special_token_ids(tokenizer)


class ProtSTModel(ProtSTPreTrainedModel):
    """ProtST's two towers with their projection heads and the learnable temperature.

    Proteins are read as the mean of the protein tower's last layer over residues (BOS, EOS and padding
    excluded), projected by `protein_projection` (`graph_mlp` in the original); texts as the mean over tokens
    that are not [CLS], [SEP] or padding, projected by `text_projection` (`text_mlp`). Per-residue and per-token
    features go through `residue_projection` (`residue_mlp`) and `word_projection` (`word_mlp`).

    Args:
        config ([`ProtSTConfig`]).
        protein_model (`EsmModel`, *optional*): an existing protein tower (its config replaces
            `config.protein_config`).
        text_model (`PreTrainedModel`, *optional*): an existing text tower (its config replaces
            `config.text_config`).

    Example:

    ```python
    >>> batch = processor(proteins=["MKTAYIAKQR"], text=["SUBCELLULAR LOCATION: Nucleus."], return_tensors="pt")
    >>> probs = model(**batch).logits_per_protein.softmax(-1)
    ```
    """

    _keys_to_ignore_on_load_unexpected = ProtSTPreTrainedModel._keys_to_ignore_on_load_unexpected + [
        r"fusion\.", r"mlm_head\.", r"mmp_protein_head\.", r"mmp_text_head\."
    ]

    def __init__(self, config: ProtSTConfig, protein_model=None, text_model=None):
        super().__init__(config)
        if protein_model is None:
            protein_model = build_protein_tower(config.protein_config)
        if text_model is None:
            text_model = build_text_tower(config.text_config)
        self.protein_model = protein_model
        self.text_model = text_model
        self.config.protein_config = protein_model.config
        self.config.text_config = text_model.config

        protein_size, text_size = config.protein_config.hidden_size, config.text_config.hidden_size
        dim = config.projection_dim
        self.protein_projection = ProtSTProjectionHead(protein_size, protein_size, dim)
        self.residue_projection = ProtSTProjectionHead(protein_size, protein_size, dim)
        self.text_projection = ProtSTProjectionHead(text_size, text_size, dim)
        self.word_projection = ProtSTProjectionHead(text_size, text_size, dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init_value)))
        self.post_init()

    def get_input_embeddings(self):
        return self.protein_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.protein_model.set_input_embeddings(value)

    def clamped_logit_scale(self) -> torch.Tensor:
        """`logit_scale`, clamped at `config.logit_scale_max` when set."""
        if self.config.logit_scale_max is None:
            return self.logit_scale
        return self.logit_scale.clamp(max=self.config.logit_scale_max)

    def encode_text(self, text_input_ids, text_attention_mask=None, **kwargs):
        """Text tower: last hidden state (B, T, H) and the content mask (B, T)."""
        self._check_lengths(text_input_ids=text_input_ids)
        if text_attention_mask is None:
            text_attention_mask = self._text_attention_mask(text_input_ids)
        hidden = self.text_model(input_ids=text_input_ids, attention_mask=text_attention_mask, **kwargs)
        hidden = hidden.last_hidden_state
        return hidden, self._text_content_mask(text_input_ids, text_attention_mask)

    def get_text_features(
        self,
        text_input_ids: torch.Tensor,
        text_attention_mask: torch.Tensor | None = None,
        normalize: bool = True,
        project: bool = True,
    ) -> torch.Tensor:
        """Text embeddings: (B, projection_dim), L2-normalised by default; `project=False` gives the raw
        mean-pooled tower features (B, hidden)."""
        hidden, content_mask = self.encode_text(text_input_ids, text_attention_mask)
        return self.pool_text(hidden, content_mask, normalize=normalize, project=project)

    def pool_text(self, hidden, content_mask, normalize: bool = True, project: bool = True) -> torch.Tensor:
        """The text readout: float32 mean over content tokens, then (optionally) `text_projection` and L2 norm."""
        features = masked_mean(hidden, content_mask)  # (B, H) float32
        return self.project_text(features, normalize=normalize) if project else (
            F.normalize(features, dim=-1) if normalize else features)

    def project_text(self, features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Pooled text tower features (N, H) -> text embeddings (N, projection_dim): `text_projection`, then the L2
        norm. What `pool_text` applies after pooling; the text bank applies it to cached pooled features."""
        features = apply_head(self.text_projection, features)
        return F.normalize(features, dim=-1) if normalize else features

    def forward(
        self,
        protein_input_ids: torch.Tensor,
        text_input_ids: torch.Tensor,
        protein_attention_mask: torch.Tensor | None = None,
        text_attention_mask: torch.Tensor | None = None,
        return_loss: bool = False,
        return_token_embeds: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ProtSTOutput | tuple:
        """Score every protein of the batch against every text.

        Args:
            protein_input_ids (`torch.LongTensor` of shape `(batch, protein_len)`): from [`ProtSTProcessor`].
            text_input_ids (`torch.LongTensor` of shape `(batch_text, text_len)`).
            protein_attention_mask, text_attention_mask (`torch.LongTensor`, *optional*): 1 = real token.
            return_loss (`bool`): compute the (local, ungathered) symmetric contrastive loss; needs as many
                texts as proteins, paired by row.
            return_token_embeds (`bool`): also return `residue_embeds` and `token_embeds`.

        Returns:
            [`ProtSTOutput`]
        """
        self._reject_unsupported(kwargs)
        protein_hidden, residue_mask = self.encode_protein(protein_input_ids, protein_attention_mask)
        text_hidden, content_mask = self.encode_text(text_input_ids, text_attention_mask)
        protein_embeds = self.pool_protein(protein_hidden, residue_mask)
        text_embeds = self.pool_text(text_hidden, content_mask)

        logits_per_protein = self.clamped_logit_scale().exp() * protein_embeds @ text_embeds.t()
        loss = None
        if return_loss:
            loss = contrastive_loss(protein_embeds, text_embeds, self.clamped_logit_scale(), gather=False).loss
        residue_embeds = token_embeds = None
        if return_token_embeds:
            residue_embeds = apply_head(self.residue_projection, protein_hidden[:, 1:-1])
            token_embeds = apply_head(self.word_projection, text_hidden)

        output = ProtSTOutput(
            loss=loss,
            logits_per_protein=logits_per_protein,
            logits_per_text=logits_per_protein.t(),
            protein_embeds=protein_embeds,
            text_embeds=text_embeds,
            residue_embeds=residue_embeds,
            token_embeds=token_embeds,
            protein_last_hidden_state=protein_hidden,
            text_last_hidden_state=text_hidden,
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        return output if return_dict else output.to_tuple()


class ProtSTForPreTraining(ProtSTPreTrainedModel):
    """ProtST with its three pretraining objectives computed in one forward over masked inputs.

    1. Unimodal MLM: `mlm_head(residue_projection(h))` at masked protein positions.
    2. Contrastive alignment: symmetric InfoNCE between protein and text embeddings, gathered across processes
       with gradient.
    3. Multimodal mask prediction: fusion of residue and word projections, then `mmp_protein_head` at masked
       protein positions and `mmp_text_head` (full text vocabulary) at masked text positions.

    Inputs come from [`ProtSTDataCollatorForPretraining`]: masked `protein_input_ids` / `text_input_ids` and
    `protein_labels` / `text_labels` holding the original token ids at masked positions and -100 elsewhere.

    Args:
        config ([`ProtSTConfig`]).
        protein_model, text_model (*optional*): existing towers, as in [`ProtSTModel`].
    """

    def __init__(self, config: ProtSTConfig, protein_model=None, text_model=None):
        super().__init__(config)
        self.protst = ProtSTModel(config, protein_model=protein_model, text_model=text_model)
        num_residues, dim, width = len(config.residue_token_ids), config.projection_dim, config.fusion_hidden_size
        self.fusion = ProtSTFusion(config)
        self.mlm_head = ProtSTProjectionHead(dim, dim, num_residues)
        self.mmp_protein_head = ProtSTProjectionHead(width, width, num_residues)
        self.mmp_text_head = ProtSTProjectionHead(width, width, config.text_config.vocab_size)
        self.post_init()

    def get_input_embeddings(self):
        return self.protst.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.protst.set_input_embeddings(value)

    def forward(
        self,
        protein_input_ids: torch.Tensor,
        text_input_ids: torch.Tensor,
        protein_attention_mask: torch.Tensor | None = None,
        text_attention_mask: torch.Tensor | None = None,
        protein_labels: torch.Tensor | None = None,
        text_labels: torch.Tensor | None = None,
        text_bank_features: torch.Tensor | None = None,
        text_bank_targets: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ProtSTForPreTrainingOutput | tuple:
        """Weighted sum of the ProtST objectives; a term with weight 0 is skipped entirely.

        Args:
            protein_input_ids (`torch.LongTensor` of shape `(batch, protein_len)`): masked protein tokens.
            text_input_ids (`torch.LongTensor` of shape `(batch, text_len)`): masked text tokens, row i paired
                with protein i.
            protein_attention_mask, text_attention_mask (`torch.LongTensor`, *optional*).
            protein_labels (`torch.LongTensor` of shape `(batch, protein_len)`): original protein token ids at
                masked positions, -100 elsewhere; needed when `mlm_weight` or `mmp_protein_weight` > 0.
            text_labels (`torch.LongTensor` of shape `(batch, text_len)`): original text token ids at masked
                positions, -100 elsewhere; needed when `mmp_text_weight` > 0.
            text_bank_features (`torch.FloatTensor` of shape `(bank_size, text_hidden)`, *optional*): pooled text
                tower features (`get_text_features(project=False, normalize=False)`) of every distinct training
                text; with `text_bank_targets`, protein -> text is scored against the whole bank
                ([`text_bank_loss`], `config.contrastive_text_bank`).
            text_bank_targets (`torch.FloatTensor` of shape `(batch, bank_size)`, *optional*): each protein's
                target distribution over the bank.

        Returns:
            [`ProtSTForPreTrainingOutput`]
        """
        self._reject_unsupported(kwargs)
        config = self.config
        needs_fusion = config.mmp_protein_weight > 0 or config.mmp_text_weight > 0
        needs_residues = config.mlm_weight > 0 or config.mmp_protein_weight > 0
        if needs_residues and protein_labels is None:
            raise ValueError("`protein_labels` are required when `mlm_weight` or `mmp_protein_weight` > 0")
        if config.mmp_text_weight > 0 and text_labels is None:
            raise ValueError("`text_labels` are required when `mmp_text_weight` > 0")
        if protein_labels is not None and protein_labels.shape != protein_input_ids.shape:
            raise ValueError(f"`protein_labels` {tuple(protein_labels.shape)} must match `protein_input_ids` "
                             f"{tuple(protein_input_ids.shape)}")
        if text_labels is not None and text_labels.shape != text_input_ids.shape:
            raise ValueError(f"`text_labels` {tuple(text_labels.shape)} must match `text_input_ids` "
                             f"{tuple(text_input_ids.shape)}")
        if (text_bank_features is None) != (text_bank_targets is None):
            raise ValueError("give `text_bank_features` and `text_bank_targets` together")
        if text_attention_mask is None:
            text_attention_mask = self._text_attention_mask(text_input_ids)

        protein_hidden, residue_mask = self.protst.encode_protein(protein_input_ids, protein_attention_mask)
        text_hidden, content_mask = self.protst.encode_text(text_input_ids, text_attention_mask)
        out = ProtSTForPreTrainingOutput()
        if config.contrastive_weight > 0:
            self._contrastive(out, protein_hidden, residue_mask, text_hidden, content_mask, text_input_ids,
                              text_attention_mask, text_labels, text_bank_features, text_bank_targets)
        if needs_residues or needs_fusion:
            # residues only, the original's layout: (B, L, P), BOS dropped, EOS and padding masked
            residue_embeds = apply_head(self.protst.residue_projection, protein_hidden[:, 1:-1])
            residue_targets = self._residue_targets(protein_labels[:, 1:-1]) if needs_residues else None
        if config.mlm_weight > 0:
            self._mlm(out, residue_embeds, residue_targets)
        if needs_fusion:
            self._multimodal_mask_prediction(out, residue_embeds, residue_mask[:, 1:-1], residue_targets, text_hidden,
                                             text_attention_mask, text_labels)
        weights = {"contrastive_loss": config.contrastive_weight, "mlm_loss": config.mlm_weight,
                   "mmp_protein_loss": config.mmp_protein_weight, "mmp_text_loss": config.mmp_text_weight}
        loss = protein_hidden.new_zeros(())
        for name, weight in weights.items():
            if getattr(out, name) is not None:
                loss = loss + weight * getattr(out, name)
        out.loss = loss
        return_dict = return_dict if return_dict is not None else config.return_dict
        return out if return_dict else out.to_tuple()

    def _contrastive(self, out, protein_hidden, residue_mask, text_hidden, content_mask, text_input_ids,
                     text_attention_mask, text_labels, text_bank_features, text_bank_targets) -> None:
        """Objective 2: the symmetric InfoNCE of the pooled embeddings (in-batch, gathered across processes), or
        protein -> text against the text bank; fills `out`'s embeddings, logits, loss and accuracies."""
        protst, config = self.protst, self.config
        out.protein_embeds = protst.pool_protein(protein_hidden, residue_mask)
        out.text_embeds = protst.pool_text(text_hidden, content_mask)
        groups = None
        if config.contrastive_positives == "same_text":
            # identity of the unmasked texts: masked positions restored from their labels
            unmasked = text_input_ids if text_labels is None else torch.where(text_labels != -100, text_labels,
                                                                               text_input_ids)
            groups = text_group_ids(unmasked, text_attention_mask)
        if text_bank_features is not None:
            bank_embeds = protst.project_text(text_bank_features.float())  # (bank, P)
            result = text_bank_loss(out.protein_embeds, out.text_embeds, bank_embeds, text_bank_targets,
                                    protst.clamped_logit_scale(), gather=config.contrastive_gather, text_groups=groups)
        else:
            result = contrastive_loss(out.protein_embeds, out.text_embeds, protst.clamped_logit_scale(),
                                      gather=config.contrastive_gather, text_groups=groups)
        out.contrastive_loss = result.loss
        out.logits_per_protein, out.logits_per_text = result.logits_per_protein, result.logits_per_text
        out.protein_to_text_accuracy = _retrieval_accuracy(result.logits_per_protein, result)
        out.text_to_protein_accuracy = _retrieval_accuracy(result.logits_per_text, result)

    def _mlm(self, out, residue_embeds, residue_targets) -> None:
        """Objective 1: unimodal masked residue prediction from the residue projections."""
        masked = residue_targets != -100
        logits = self.mlm_head(residue_embeds[masked])  # (num_masked, 20)
        out.mlm_loss = masked_cross_entropy(logits, residue_targets[masked])
        out.mlm_accuracy = masked_accuracy(logits, residue_targets[masked])

    def _multimodal_mask_prediction(self, out, residue_embeds, residue_valid, residue_targets, text_hidden,
                                    text_attention_mask, text_labels) -> None:
        """Objective 3: the fusion of residue and word projections, then masked residues and masked text tokens
        predicted from the fused states."""
        config = self.config
        word_embeds = apply_head(self.protst.word_projection, text_hidden)  # (B, T, P)
        fused_protein, fused_text = self.fusion(residue_embeds, residue_valid, word_embeds, text_attention_mask)
        if config.mmp_protein_weight > 0:
            masked = residue_targets != -100
            logits = self.mmp_protein_head(fused_protein[masked])  # (num_masked, 20)
            out.mmp_protein_loss = masked_cross_entropy(logits, residue_targets[masked])
            out.mmp_protein_accuracy = masked_accuracy(logits, residue_targets[masked])
        if config.mmp_text_weight > 0:
            masked = text_labels != -100
            logits = self.mmp_text_head(fused_text[masked])  # (num_masked, text_vocab)
            out.mmp_text_loss = masked_cross_entropy(logits, text_labels[masked])
            out.mmp_text_accuracy = masked_accuracy(logits, text_labels[masked])


class ProtSTProteinTaskModel(ProtSTPreTrainedModel):
    """Base of the task heads: the protein tower only, and a 2-layer MLP head (`classifier`) with dropout.

    Loads from a [`ProtSTModel`] or [`ProtSTForPreTraining`] checkpoint: the protein tower is kept, the text
    tower and pretraining heads are dropped.
    """

    _keys_to_ignore_on_load_unexpected = ProtSTPreTrainedModel._keys_to_ignore_on_load_unexpected + [
        r"text_model\.", r"_projection\.", r"logit_scale", r"fusion\.", r"mlm_head\.", r"mmp_"
    ]

    def __init__(self, config: ProtSTConfig, protein_model=None):
        super().__init__(config)
        self.protein_model = protein_model if protein_model is not None else build_protein_tower(config.protein_config)
        self.config.protein_config = self.protein_model.config
        hidden = config.protein_config.hidden_size
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = ProtSTProjectionHead(hidden, hidden, config.num_labels)
        self.post_init()

    def get_input_embeddings(self):
        return self.protein_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.protein_model.set_input_embeddings(value)

    @classmethod
    def from_protein_text_pretrained(
        cls,
        protein_model_name_or_path: str,
        text_model_name_or_path: str | None = None,
        protein_model_kwargs: dict | None = None,
        text_model_kwargs: dict | None = None,
        **config_overrides,
    ):
        """A task head on a pretrained protein (ESM) checkpoint. A task model has no text tower: the text checkpoint,
        when given, only sets the config's `text_config` (its config is read, not its weights).

        Example:

        ```python
        >>> model = ProtSTForSequenceClassification.from_protein_text_pretrained("facebook/esm2_t6_8M_UR50D",
        ...                                                                      num_labels=10)
        ```
        """
        from transformers import AutoConfig

        protein_model = load_protein_tower(protein_model_name_or_path, **(protein_model_kwargs or {}))
        text_config = None
        if text_model_name_or_path is not None:
            kwargs = {k: v for k, v in (text_model_kwargs or {}).items() if k in ("revision", "token", "cache_dir",
                                                                                  "local_files_only")}
            text_config = AutoConfig.from_pretrained(text_model_name_or_path, **kwargs)
        config = ProtSTConfig(protein_config=protein_model.config, text_config=text_config, **config_overrides)
        return cls(config, protein_model=protein_model)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
        """The task loss by `config.problem_type`, inferred and stored on first use as transformers does."""
        if labels is None:
            return None
        config = self.config
        if config.problem_type is None:
            if config.num_labels == 1:
                config.problem_type = "regression"
            elif labels.dtype in (torch.long, torch.int):
                config.problem_type = "single_label_classification"
            else:
                config.problem_type = "multi_label_classification"
        return task_loss(config.problem_type, logits, labels)

    def _output(self, output: ModelOutput, return_dict: bool | None):
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        return output if return_dict else output.to_tuple()

    @staticmethod
    def _protein_inputs(protein_input_ids, protein_attention_mask, input_ids, attention_mask):
        """The protein inputs given either way: `protein_input_ids` / `protein_attention_mask` (ProtST's names) or
        `input_ids` / `attention_mask` (what an ESM tokenizer returns, and what `Trainer` with
        `DataCollatorWithPadding` passes), never both."""
        if input_ids is not None or attention_mask is not None:
            if protein_input_ids is not None or protein_attention_mask is not None:
                raise ValueError("give the protein as `protein_input_ids` / `protein_attention_mask` or as "
                                 "`input_ids` / `attention_mask`, not both")
            protein_input_ids, protein_attention_mask = input_ids, attention_mask
        if protein_input_ids is None:
            raise ValueError("a task head needs the protein's token ids: `protein_input_ids` (ProtSTProcessor: "
                             "processor(proteins=...)) or `input_ids` (the ESM tokenizer's output)")
        return protein_input_ids, protein_attention_mask


class ProtSTForSequenceClassification(ProtSTProteinTaskModel):
    """Protein-level task head, the original's downstream protocol: a 2-layer MLP on the raw mean-pooled residue
    features of the protein tower. `config.problem_type` selects single-label (cross-entropy), multi-label
    (BCE with logits) or regression (MSE); it is inferred from `num_labels` and the label dtype when unset.

    Args:
        config ([`ProtSTConfig`]): `num_labels`, `problem_type`, `classifier_dropout` apply.
        protein_model (`EsmModel`, *optional*): an existing protein tower.
    """

    def forward(
        self,
        protein_input_ids: torch.Tensor | None = None,
        protein_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> ProtSTSequenceClassifierOutput | tuple:
        """
        Args:
            protein_input_ids (`torch.LongTensor` of shape `(batch, protein_len)`).
            protein_attention_mask (`torch.LongTensor`, *optional*).
            input_ids, attention_mask: the same, under the names an ESM tokenizer (and `Trainer` with
                `DataCollatorWithPadding`) uses; instead of the two above.
            labels (`torch.Tensor`, *optional*): `(batch,)` class ids, `(batch, num_labels)` multi-hot floats, or
                `(batch,)` / `(batch, num_labels)` regression targets.

        Returns:
            [`ProtSTSequenceClassifierOutput`]
        """
        self._reject_unsupported(kwargs)
        protein_input_ids, protein_attention_mask = self._protein_inputs(protein_input_ids, protein_attention_mask,
                                                                         input_ids, attention_mask)
        hidden, residue_mask = self.encode_protein(protein_input_ids, protein_attention_mask)
        pooled = self.pool_protein(hidden, residue_mask, normalize=False, project=False)  # (B, H) float32
        logits = apply_head(self.classifier, self.dropout(pooled))
        loss = self._loss(logits, labels)
        return self._output(
            ProtSTSequenceClassifierOutput(loss=loss, logits=logits, pooled_output=pooled, last_hidden_state=hidden),
            return_dict,
        )


class ProtSTForTokenClassification(ProtSTProteinTaskModel):
    """Residue-level task head on the protein tower: a 2-layer MLP on each position's last hidden state.

    Logits and labels use the tokenized layout `(batch, protein_len, ...)`, BOS/EOS included, as
    `EsmForTokenClassification`: put -100 at BOS, EOS and padding (and anything else not to score).

    Args:
        config ([`ProtSTConfig`]): `num_labels`, `problem_type`, `classifier_dropout` apply.
        protein_model (`EsmModel`, *optional*): an existing protein tower.
    """

    def forward(
        self,
        protein_input_ids: torch.Tensor | None = None,
        protein_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> ProtSTTokenClassifierOutput | tuple:
        """
        Args:
            protein_input_ids (`torch.LongTensor` of shape `(batch, protein_len)`).
            protein_attention_mask (`torch.LongTensor`, *optional*).
            input_ids, attention_mask: the same, under the names an ESM tokenizer (and `Trainer` with
                `DataCollatorWithPadding`) uses; instead of the two above.
            labels (`torch.Tensor`, *optional*): `(batch, protein_len)` class ids with -100 where not scored,
                `(batch, protein_len, num_labels)` multi-hot floats, or regression targets.

        Returns:
            [`ProtSTTokenClassifierOutput`]
        """
        self._reject_unsupported(kwargs)
        protein_input_ids, protein_attention_mask = self._protein_inputs(protein_input_ids, protein_attention_mask,
                                                                         input_ids, attention_mask)
        hidden, _ = self.encode_protein(protein_input_ids, protein_attention_mask)
        logits = apply_head(self.classifier, self.dropout(hidden))  # (B, L+2, num_labels)
        loss = self._loss(logits, labels)
        return self._output(ProtSTTokenClassifierOutput(loss=loss, logits=logits, last_hidden_state=hidden),
                            return_dict)


def _retrieval_accuracy(logits: torch.Tensor, result) -> torch.Tensor:
    """Share of rows whose arg-max column is a positive: the own pair, or any pair with an identical text (or, against
    a text bank, any text with target weight)."""
    best = logits.argmax(-1)
    if result.bank_targets is not None and logits is result.logits_per_protein:
        return (result.bank_targets.gather(1, best[:, None])[:, 0] > 0).float().mean()
    if result.text_groups is None:
        return (best == result.labels).float().mean()
    return (result.text_groups[best] == result.text_groups[result.labels]).float().mean()


__all__ = [
    "ProtSTForPreTraining",
    "ProtSTForPreTrainingOutput",
    "ProtSTForSequenceClassification",
    "ProtSTForTokenClassification",
    "ProtSTFusion",
    "ProtSTFusionLayer",
    "ProtSTModel",
    "ProtSTOutput",
    "ProtSTPreTrainedModel",
    "ProtSTProjectionHead",
    "ProtSTProteinTaskModel",
    "ProtSTSequenceClassifierOutput",
    "ProtSTTokenClassifierOutput",
    "apply_head",
    "load_protein_tower",
    "load_text_tower",
    "masked_mean",
]
