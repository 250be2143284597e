"""Data: collators (masking) for ProtST pretraining."""

from .collator import ProtSTDataCollatorForPretraining, mask_protein_tokens, mask_text_tokens

__all__ = ["ProtSTDataCollatorForPretraining", "mask_protein_tokens", "mask_text_tokens"]
