"""Shared fixtures: tokenizers from vocab files in tests/fixtures, tiny configs, real Swiss-Prot pairs."""

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import AutoTokenizer, BertConfig, BertTokenizer, EsmConfig  # noqa: E402

from protst_hf import ProtSTConfig, ProtSTProcessor  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
# real data that may not be redistributed lives beside the checkout; PROTST_SHARED_DATA points elsewhere
SHARED_DATA = Path(os.environ.get("PROTST_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
ESM2_CONFIGS = SHARED_DATA / "esm2_hf_configs"


def load_rows() -> list[dict]:
    with open(FIXTURES / "swissprot_sample.jsonl") as f:
        return [json.loads(line) for line in f]


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


def save_tiny_model(path: Path, processor, seed: int = 0) -> Path:
    """A tiny ProtSTModel (projection 16) saved with its processor: a model folder as users get from the Hub."""
    torch.manual_seed(seed)
    tokenizer = processor.tokenizer
    config = ProtSTConfig(protein_config=tiny_protein_config(), text_config=tiny_text_config(tokenizer.vocab_size),
                          projection_dim=16, fusion_num_attention_heads=2, text_cls_token_id=tokenizer.cls_token_id,
                          text_sep_token_id=tokenizer.sep_token_id)
    from protst_hf import ProtSTModel

    ProtSTModel(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def protein_tokenizer():
    return AutoTokenizer.from_pretrained(FIXTURES / "esm_tokenizer")


@pytest.fixture(scope="session")
def text_tokenizer():
    return BertTokenizer(vocab=str(FIXTURES / "text_tokenizer" / "vocab.txt"))


@pytest.fixture(scope="session")
def processor(protein_tokenizer, text_tokenizer):
    return ProtSTProcessor(protein_tokenizer=protein_tokenizer, tokenizer=text_tokenizer)


@pytest.fixture(scope="session")
def rows():
    return load_rows()


@pytest.fixture
def make_config(text_tokenizer):
    """Factory of tiny ProtST configs (projection 16, 2 fusion heads), overridable per test."""

    def make(**overrides) -> ProtSTConfig:
        values = dict(
            protein_config=tiny_protein_config(),
            text_config=tiny_text_config(text_tokenizer.vocab_size),
            projection_dim=16,
            fusion_num_attention_heads=2,
            text_cls_token_id=text_tokenizer.cls_token_id,
            text_sep_token_id=text_tokenizer.sep_token_id,
        )
        values.update(overrides)
        return ProtSTConfig(**values)

    return make


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
