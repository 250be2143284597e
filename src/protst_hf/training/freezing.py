"""Which parts of a ProtST model train, as its config says: the text tower and the per-token text projection frozen
(`freeze_text_model`, `freeze_word_projection`; the paper freezes both), and a frozen tower kept in eval mode while
the rest trains (`frozen_towers_eval`: no dropout in a tower nothing updates). The model classes only carry these
fields; the training code applies them, once after the model is built or loaded and at every switch to training
mode."""

from __future__ import annotations

from torch import nn


def _protst(model: nn.Module) -> nn.Module:
    """The `ProtSTModel` inside a pretraining model (or the model itself)."""
    return getattr(model, "protst", model)


def apply_freezing(model: nn.Module) -> nn.Module:
    """Set `requires_grad` from the config's `freeze_text_model` / `freeze_word_projection`; returns `model`.

    Example:
        >>> model = apply_freezing(ProtSTForPreTraining.from_pretrained(folder))   # the text tower frozen again
    """
    protst = _protst(model)
    protst.text_model.requires_grad_(not protst.config.freeze_text_model)
    protst.word_projection.requires_grad_(not protst.config.freeze_word_projection)
    return model


def train_mode(model: nn.Module, unwrapped: nn.Module | None = None) -> nn.Module:
    """`model.train()` (a wrapped model: DDP, DeepSpeed); with `frozen_towers_eval` the frozen text tower of
    `unwrapped` (default `model`) goes back to eval mode. Returns `model`."""
    model.train()
    protst = _protst(unwrapped if unwrapped is not None else model)
    config = protst.config
    if getattr(config, "frozen_towers_eval", False) and config.freeze_text_model:
        protst.text_model.eval()
    return model


__all__ = ["apply_freezing", "train_mode"]
