"""The text bank of `ProtSTConfig.contrastive_text_bank`: every distinct training text (and, with
`text_bank_part_weight`, every single statement of a multi-statement text), its pooled text-tower features computed
once with the frozen tower in eval mode, and each training row's target distribution over the bank."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models.protst.inference_protst import embed_texts
from ..models.protst.texts_protst import key_text, key_units
from .freezing import train_mode


@dataclass
class TextBank:
    """`texts`: the bank's text keys; `features`: (bank, text_hidden) float32 pooled tower features;
    `key_targets`: per distinct training text, its target as (bank rows, weights); `row_keys`: the text key of each
    usable training row (by position in the row index)."""

    texts: list[str]
    features: torch.Tensor
    key_targets: dict[str, tuple[list[int], list[float]]]
    row_keys: list[str]

    def targets(self, positions: list[int], device=None) -> torch.Tensor:
        """(len(positions), bank) target distributions of the training rows at `positions`."""
        out = torch.zeros(len(positions), len(self.texts), device=device)
        for row, position in enumerate(positions):
            columns, weights = self.key_targets[self.row_keys[position]]
            out[row, columns] = torch.tensor(weights, device=device)
        return out


def bank_targets(keys: list[str], part_weight: float) -> tuple[list[str], dict[str, tuple[list[int], list[float]]]]:
    """The bank's texts and each key's target: all on itself, or `part_weight` of it spread evenly over its statements
    ([`key_units`]) when it has several. The bank holds every key, then the single statements that are not keys
    themselves; with `part_weight=1` a multi-statement key is no target of anything and stays out of the bank (the
    bank is then the statements: e.g. one text per GO term instead of one per combination of terms)."""
    unique = list(dict.fromkeys(keys))
    parts = {}
    if part_weight > 0:
        for key in unique:
            pieces = key_units(key)
            if len(pieces) > 1:
                parts[key] = pieces
    texts = [key for key in unique if not (part_weight >= 1 and key in parts)]
    seen = set(texts)
    for pieces in parts.values():
        for piece in pieces:
            if piece not in seen:
                seen.add(piece)
                texts.append(piece)
    index = {t: i for i, t in enumerate(texts)}
    targets = {}
    for key in unique:
        if key in parts:
            share = part_weight / len(parts[key])
            columns = [index[p] for p in parts[key]]
            weights = [share] * len(columns)
            if part_weight < 1:
                columns.append(index[key])
                weights.append(1.0 - part_weight)
            targets[key] = (columns, weights)
        else:
            targets[key] = ([index[key]], [1.0])
    return texts, targets


def build_text_bank(protst, processor, row_keys: list[str], part_weight: float = 0.0,
                    batch_size: int = 64) -> TextBank:
    """Embed every bank text once (tower features, before the projection) with the text tower in eval mode.

    Args:
        protst: the `ProtSTModel` (its text tower must be frozen).
        processor: the run's `ProtSTProcessor` (texts are tokenized as in training).
        row_keys: the [`text_key`] of every usable training row, in row-index order.
        part_weight: `config.text_bank_part_weight`.
    """
    if not protst.config.freeze_text_model:
        raise ValueError("the text bank needs a frozen text tower (freeze_text_model=True)")
    texts, key_targets = bank_targets(row_keys, part_weight)
    was_training = protst.training
    protst.eval()
    try:
        features = embed_texts(protst, processor, [key_text(t) for t in texts], batch_size=batch_size,
                               project=False, normalize=False)
    finally:
        if was_training:
            train_mode(protst)  # back to training, the frozen tower kept as the config says
    return TextBank(texts, features, key_targets, row_keys)


__all__ = ["TextBank", "bank_targets", "build_text_bank"]
