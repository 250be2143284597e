"""Shared fixtures: tokenizers from vocab files in tests/fixtures, tiny configs, real Swiss-Prot pairs."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# the real data beside the checkout (not redistributable); tests that need it skip when it is absent
os.environ.setdefault("PROTST_DATA_ROOT", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from utils.builders import FIXTURES, load_rows, make_processor, tiny_config  # noqa: E402


@pytest.fixture(scope="session")
def protein_tokenizer():
    return AutoTokenizer.from_pretrained(FIXTURES / "esm_tokenizer")


@pytest.fixture(scope="session")
def text_tokenizer():
    return AutoTokenizer.from_pretrained(FIXTURES / "text_tokenizer")


@pytest.fixture(scope="session")
def processor():
    return make_processor()


@pytest.fixture(scope="session")
def rows():
    return load_rows()


@pytest.fixture
def make_config(processor):
    """Factory of tiny ProtST configs (projection 16, 2 fusion heads), overridable per test."""

    def make(**overrides):
        return tiny_config(processor, **overrides)

    return make


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
