"""Builders shared by the tests: tiny configs, processors from the vocab files in tests/fixtures, real Swiss-Prot
pairs, and a saved tiny model folder."""

import json
import os
from pathlib import Path

import torch
from transformers import BertConfig, EsmConfig

from protst_hf import ProtSTConfig, ProtSTModel, ProtSTProcessor

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
# real data that may not be redistributed lives beside the checkout; PROTST_DATA_ROOT points elsewhere
SHARED_DATA = Path(os.environ.get("PROTST_DATA_ROOT", TESTS.parents[1] / "shared" / "data"))
ESM2_CONFIGS = SHARED_DATA / "esm2_hf_configs"


def load_rows() -> list[dict]:
    with open(FIXTURES / "swissprot_sample.jsonl") as f:
        return [json.loads(line) for line in f]


def make_processor(**kwargs) -> ProtSTProcessor:
    """The ESM tokenizer and the 2,000-token demo text vocabulary of tests/fixtures."""
    return ProtSTProcessor.from_protein_text_pretrained(str(FIXTURES / "esm_tokenizer"),
                                                        str(FIXTURES / "text_tokenizer"), **kwargs)


def tiny_protein_config(**overrides) -> EsmConfig:
    """ESM-2 architecture (rotary, token dropout, ESM alphabet), hidden 32, 2 layers."""
    values = dict(
        vocab_size=33, mask_token_id=32, pad_token_id=1, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=1026,
        position_embedding_type="rotary", emb_layer_norm_before=False, token_dropout=True, layer_norm_eps=1e-5,
    )
    values.update(overrides)
    return EsmConfig(**values)


def tiny_text_config(vocab_size: int, **overrides) -> BertConfig:
    """BERT architecture, hidden 32, 2 layers, no dropout (deterministic tests)."""
    values = dict(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=512, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=0,
    )
    values.update(overrides)
    return BertConfig(**values)


def tiny_config(processor, **overrides) -> ProtSTConfig:
    """A tiny ProtST config (projection 16, 2 fusion heads) for the processor's text vocabulary."""
    tokenizer = processor.tokenizer
    values = dict(protein_config=tiny_protein_config(), text_config=tiny_text_config(tokenizer.vocab_size),
                  projection_dim=16, fusion_num_attention_heads=2, text_cls_token_id=tokenizer.cls_token_id,
                  text_sep_token_id=tokenizer.sep_token_id)
    values.update(overrides)
    return ProtSTConfig(**values)


def save_tiny_model(path: Path, processor, seed: int = 0) -> Path:
    """A tiny ProtSTModel (projection 16) saved with its processor: a model folder as users get from the Hub."""
    torch.manual_seed(seed)
    ProtSTModel(tiny_config(processor)).save_pretrained(path)
    processor.save_pretrained(path)
    return path


def assert_close_to_float32(actual: torch.Tensor, expected: torch.Tensor, name: str = "", terms: int = 1) -> None:
    """Equal within what float32 can promise: a sum or product of `terms` rounded values differs by at most about
    `terms` units in the last place of the largest magnitude involved, whatever the summation order (threads, CPU,
    process count). The bound is `8 * terms * eps32 * max|expected|` (+ a tiny absolute floor)."""
    eps = torch.finfo(torch.float32).eps
    scale = expected.detach().abs().max().item() if expected.numel() else 0.0
    bound = 8 * terms * eps * scale + 1e-12
    error = (actual.detach().double() - expected.detach().double()).abs().max().item() if expected.numel() else 0.0
    assert error <= bound, f"{name}: max error {error:.3g} over the float32 bound {bound:.3g}"


def minimum_transformers() -> str:
    """The lower bound of `transformers` declared in pyproject.toml."""
    import re

    return re.search(r'"transformers>=([0-9.]+)', (ROOT / "pyproject.toml").read_text()).group(1)
