"""Pretraining collator: tokenizes ProtDescribe rows and applies ProtST's masking to both modalities."""

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..models.protst.processing_protst import CROP_POLICIES, ProtSTProcessor
from ..models.protst.texts_protst import key_units
from .texts import row_text


def mask_protein_tokens(
    input_ids: torch.Tensor,
    residue_mask: torch.Tensor,
    mask_token_id: int,
    mask_rate: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The original's protein masking: per protein, max(1, floor(rate * L)) residue positions drawn uniformly WITH
    replacement (so a position can be drawn twice and fewer distinct positions get masked), each set to
    `<mask>`; no 80/10/10.

    Args:
        input_ids (`torch.LongTensor` of shape `(batch, len)`): tokenized proteins, residues contiguous.
        residue_mask (`torch.BoolTensor` of shape `(batch, len)`): true at residues (not BOS/EOS/padding).
        mask_token_id (`int`): id of `<mask>`.
        mask_rate (`float`): 0.15 in ProtST.
        generator (`torch.Generator`, *optional*): source of the positions.

    Returns:
        masked input ids and labels (original ids at masked positions, -100 elsewhere), both `(batch, len)`.
    """
    lengths = residue_mask.sum(1)  # (B,)
    if bool((lengths == 0).any()):
        raise ValueError("a protein without residues cannot be masked")
    starts = residue_mask.long().argmax(1)  # (B,) first residue position
    counts = torch.floor(lengths.double() * mask_rate).long().clamp(min=1)  # (B,)
    rows = torch.repeat_interleave(torch.arange(input_ids.shape[0]), counts)  # (num_draws,)
    offsets = (torch.rand(rows.shape[0], generator=generator, dtype=torch.float64) * lengths[rows]).long()
    columns = starts[rows] + offsets
    labels = torch.full_like(input_ids, -100)
    labels[rows, columns] = input_ids[rows, columns]
    masked = input_ids.clone()
    masked[rows, columns] = mask_token_id
    return masked, labels


def mask_text_tokens(
    input_ids: torch.Tensor,
    special_ids: Sequence[int],
    mask_token_id: int,
    mask_rate: float = 0.15,
    attention_mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The original's text masking: every token that is not special ([CLS], [SEP], padding) is replaced by
    `[MASK]` with probability `mask_rate`, independently; no 80/10/10.

    Returns:
        masked input ids and labels (original ids at masked positions, -100 elsewhere), both `(batch, len)`.
    """
    candidates = ~torch.isin(input_ids, torch.tensor(list(special_ids), dtype=input_ids.dtype))
    if attention_mask is not None:
        candidates &= attention_mask.bool()
    chosen = (torch.rand(input_ids.shape, generator=generator, dtype=torch.float64) < mask_rate) & candidates
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    masked = torch.where(chosen, torch.full_like(input_ids, mask_token_id), input_ids)
    return masked, labels


class ProtSTDataCollatorForPretraining:
    """Collate ProtDescribe rows into a masked pretraining batch for [`ProtSTForPreTraining`].

    Each row holds a protein under `sequence` and its text either under `text` (a string) or as the fields
    `prot_name`, `function`, `subloc`, `similarity`. Proteins are cropped to `crop_length` (a random 450-residue
    window in the paper), then both modalities are masked as the original (see [`mask_protein_tokens`],
    [`mask_text_tokens`]).

    Reproducible: the batch with key k of a collator built with seed s is the same in every run, whatever happened
    before; without keys, batch k is the k-th call, and `state_dict()` / `load_state_dict()` carry the counter.

    Args:
        processor ([`ProtSTProcessor`]).
        protein_mask_rate (`float`, *optional*, defaults to 0.15): the paper's; max(1, floor(rate * length))
            residues drawn uniformly with replacement, no 80/10/10 (see [`mask_protein_tokens`]).
        text_mask_rate (`float`, *optional*, defaults to 0.15): the paper's; each non-special token masked with
            this probability, no 80/10/10 (see [`mask_text_tokens`]).
        crop_length (`int`, *optional*, defaults to 450): `None` keeps whole proteins (truncated at 1022).
        crop_policy (`str`, *optional*, defaults to `"random"`): how longer proteins are cropped: `random` (the
            original), `n_terminal` or `termini` (see `processing_protst.crop`).
        seed (`int`, *optional*, defaults to 0).
        pad_to_multiple_of (`int`, *optional*).
        mask_protein, mask_text (`bool`, *optional*, default to `True`): mask that modality. A modality that no
            objective predicts (e.g. contrastive-only training) is better left intact: `from_config` does so.
        text_unit (`str`, *optional*, defaults to `"text"`): `"text"` pairs each protein with its whole text (the
            original); `"statement"` with one of its text's single statements (`texts_protst.key_units`:
            one GO term, one location), drawn per batch key, so that a protein annotated with many terms is seen
            with each of them over the epochs and short texts keep the text tower cheap. Texts made of
            ProtDescribe fields are used whole either way.

    Example:

    ```python
    >>> collator = ProtSTDataCollatorForPretraining(processor, seed=0)
    >>> batch = collator([{"sequence": "MKTAYIAKQR", "function": "FUNCTION: Binds DNA."}])
    >>> model(**batch).loss
    ```
    """

    def __init__(
        self,
        processor: ProtSTProcessor,
        protein_mask_rate: float = 0.15,
        text_mask_rate: float = 0.15,
        crop_length: int | None = 450,
        seed: int = 0,
        pad_to_multiple_of: int | None = None,
        crop_policy: str = "random",
        mask_protein: bool = True,
        mask_text: bool = True,
        text_unit: str = "text",
    ):
        if not 0 < protein_mask_rate < 1 or not 0 < text_mask_rate < 1:
            raise ValueError("mask rates must be in (0, 1)")
        check_choices(crop_policy, text_unit)
        self.text_unit = text_unit
        self.processor = processor
        self.protein_mask_rate = protein_mask_rate
        self.text_mask_rate = text_mask_rate
        self.crop_length = crop_length
        self.crop_policy = crop_policy
        self.seed = seed
        self.pad_to_multiple_of = pad_to_multiple_of
        self.mask_protein, self.mask_text = mask_protein, mask_text
        self.batches_collated = 0

    @classmethod
    def from_config(cls, processor: ProtSTProcessor, config, **kwargs) -> "ProtSTDataCollatorForPretraining":
        """A collator for a [`ProtSTConfig`]: each modality masked only when an objective predicts its masked
        tokens (with every loss weight above 0, as in the original, both are masked); the other arguments as
        `__init__`'s."""
        kwargs.setdefault("mask_protein", config.mlm_weight > 0 or config.mmp_protein_weight > 0)
        kwargs.setdefault("mask_text", config.mmp_text_weight > 0)
        return cls(processor, **kwargs)

    def state_dict(self) -> dict:
        return {"seed": self.seed, "batches_collated": self.batches_collated}

    def load_state_dict(self, state: Mapping) -> None:
        self.seed = int(state["seed"])
        self.batches_collated = int(state["batches_collated"])

    def __call__(self, features: Sequence[Mapping], batch_key: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
        """Collate `features`; `batch_key` (e.g. `(epoch, batch_index)`) names the batch so that its crops and
        masks depend on the key only, not on what was collated before (any worker count, any resume point).
        Without a key, the collator's own batch counter is the key."""
        # one random stream per batch, keyed by (seed, batch key): reproducible and resumable
        if batch_key is None:
            batch_key = (self.batches_collated,)
            self.batches_collated += 1
        rng = np.random.default_rng([self.seed, *batch_key])
        generator = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))

        proteins, texts = [], []
        for index, row in enumerate(features):
            if "sequence" not in row:
                raise ValueError(f"row {index} has no `sequence`")
            proteins.append(row["sequence"])
            texts.append(row_text(row))
        if self.text_unit == "statement":
            # a stream of its own: the crops and masks of a batch are those of text_unit="text"
            choose = np.random.default_rng([self.seed, *batch_key, 1])
            texts = [_one_statement(text, choose) for text in texts]
        batch = self.processor(
            proteins=proteins,
            text=texts,
            crop_length=self.crop_length,
            crop_policy=self.crop_policy,
            rng=rng,
            return_tensors="pt",
            pad_to_multiple_of=self.pad_to_multiple_of,
        )
        protein_tokenizer, tokenizer = self.processor.protein_tokenizer, self.processor.tokenizer
        protein_ids = batch["protein_input_ids"]
        residue_mask = batch["protein_attention_mask"].bool() & ~torch.isin(
            protein_ids, torch.tensor([protein_tokenizer.cls_token_id, protein_tokenizer.eos_token_id])
        )
        # both draws happen whatever is masked: switching one modality off leaves the other's masks unchanged
        masked_protein, protein_labels = mask_protein_tokens(
            protein_ids, residue_mask, protein_tokenizer.mask_token_id, self.protein_mask_rate, generator
        )
        masked_text, text_labels = mask_text_tokens(
            batch["text_input_ids"],
            [tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id],
            tokenizer.mask_token_id,
            self.text_mask_rate,
            batch["text_attention_mask"],
            generator,
        )
        if self.mask_protein:
            protein_ids = masked_protein
        else:
            protein_labels = torch.full_like(protein_labels, -100)
        text_ids = masked_text
        if not self.mask_text:
            text_ids, text_labels = batch["text_input_ids"], torch.full_like(text_labels, -100)
        return {
            "protein_input_ids": protein_ids,
            "protein_attention_mask": batch["protein_attention_mask"],
            "protein_labels": protein_labels,
            "text_input_ids": text_ids,
            "text_attention_mask": batch["text_attention_mask"],
            "text_labels": text_labels,
        }


TEXT_UNITS = ("text", "statement")


def check_choices(crop_policy: str, text_unit: str) -> None:
    """A clear `ValueError` for an unknown crop policy or text unit: checked by the collator, and by the
    pretraining arguments when they are read (long before the collator is built)."""
    if crop_policy not in CROP_POLICIES:
        raise ValueError(f"unknown crop policy {crop_policy!r}: crop_policy must be one of {', '.join(CROP_POLICIES)}")
    if text_unit not in TEXT_UNITS:
        raise ValueError(f"text_unit must be one of {', '.join(TEXT_UNITS)}, got {text_unit!r}")


def _one_statement(text, rng: np.random.Generator):
    if not isinstance(text, str):
        return text  # a mapping of fields is one unit (`key_units`)
    parts = key_units(text)
    return parts[int(rng.integers(len(parts)))] if len(parts) > 1 else text


__all__ = ["TEXT_UNITS", "ProtSTDataCollatorForPretraining", "check_choices", "mask_protein_tokens",
           "mask_text_tokens"]
