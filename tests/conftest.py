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

from protst_hf import ProtSTModel  # noqa: E402
from utils.builders import (  # noqa: E402
    FIXTURES,
    load_rows,
    make_processor,
    save_tiny_model,
    tiny_config,
    tiny_protein_config,
    tiny_text_config,
)


def pytest_collection_modifyitems(config, items):
    """`needs_mmseqs` tests skip, with the reason, where MMseqs2 is not installed (scripts/test.sh installs it)."""
    from protst_hf.data.splits import mmseqs_path

    if mmseqs_path() is None:
        skip = pytest.mark.skip(reason="MMseqs2 is not installed (apt-get install mmseqs2)")
        for item in items:
            if "needs_mmseqs" in item.keywords:
                item.add_marker(skip)


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


@pytest.fixture(autouse=True, scope="session")
def _text_cache(tmp_path_factory):
    """Large label sets' text embeddings are cached on disk: in the tests, in a folder of their own (never the
    user's cache)."""
    import os

    os.environ["PROTST_TEXT_CACHE"] = str(tmp_path_factory.mktemp("text_cache"))


# a saved tiny model, a second one with other weights, the first loaded, and a FASTA of real proteins
@pytest.fixture(scope="session")
def model_folder(tmp_path_factory, processor):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "protst-a", processor, seed=0)


@pytest.fixture(scope="session")
def skewed_model_folder(tmp_path_factory, processor):
    """The tiny model with a training_texts.json of an in-batch run whose texts are almost all "Nucleus"."""
    from collections import Counter

    from protst_hf.models.protst.prompts_protst import write_training_texts

    path = save_tiny_model(tmp_path_factory.mktemp("skewed") / "protst-tiny", processor)
    write_training_texts(path, Counter({"SUBCELLULAR LOCATION: Nucleus.": 999, "SUBCELLULAR LOCATION: Cytoplasm.": 1}),
                         "in_batch")
    return path


@pytest.fixture(scope="session")
def other_folder(tmp_path_factory, processor):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "protst-b", processor, seed=1)


@pytest.fixture(scope="session")
def model(model_folder):
    return ProtSTModel.from_pretrained(model_folder).eval()


@pytest.fixture(scope="session")
def fasta(tmp_path_factory, rows):
    """23 Swiss-Prot records (lengths as they come) and two bad ones, which are reported, not embedded."""
    path = tmp_path_factory.mktemp("fasta") / "proteins.fasta"
    with open(path, "w") as f:
        for i, row in enumerate(rows[:23]):
            f.write(f">{row['accession']} {row['prot_name'][:30]}\n{row['sequence']}\n")
            if i == 7:
                f.write(">broken\nMKV$LL\n>nothing\n")
    return path


@pytest.fixture(scope="session")
def pretraining_setup(tmp_path_factory):
    """Tiny ESM / BERT configs, a tokenizer, a ProtDescribe build of the 2022 XML sample, an initial checkpoint."""
    from transformers import BertTokenizer

    from protst_hf.data.protdescribe import build_protdescribe
    from protst_hf.training.arguments import DataArguments, ModelArguments
    from protst_hf.training.build import build_model, build_processor

    root = tmp_path_factory.mktemp("pretrain")
    tokenizer = BertTokenizer(vocab=str(FIXTURES / "text_tokenizer" / "vocab.txt"))
    tiny_protein_config().save_pretrained(root / "esm")
    tiny_text_config(tokenizer.vocab_size).save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    build_protdescribe([FIXTURES / "uniprot" / "uniprot_sprot_2022_250entries.xml"], root / "data", split="random",
                       ratios=(0.8, 0.1, 0.1), progress=False, with_original=False)
    model_args = ModelArguments(protein_config=str(root / "esm"), text_config=str(root / "bert"),
                                text_tokenizer=str(root / "bert"), projection_dim=16,
                                config_overrides='{"fusion_num_attention_heads": 2}')
    data_args = DataArguments(crop_length=64, eval_max_length=64)
    torch.manual_seed(0)
    processor = build_processor(model_args, data_args)
    build_model(model_args, processor).save_pretrained(root / "init")
    processor.save_pretrained(root / "init")
    return root

