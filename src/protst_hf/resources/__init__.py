"""Built-in resources for demos and offline runs, shipped with the package.

- `esm_tokenizer/`: the ESM-2 tokenizer (the ESM alphabet; MIT, from `facebook/esm2_t6_8M_UR50D`).
- `esm2_configs/esm2_t6_8M_UR50D/config.json`: the ESM-2 8M architecture (MIT).
- `text_tokenizer/`: a 2,000-token lower-cased WordPiece vocabulary trained on the text of the sample
  below, with PubMedBERT's special-token layout ([PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4). A demo stand-in
  for PubMedBERT's vocabulary, which needs the Hub.
- `uniprot_sprot_2022_sample.xml.gz`: 250 real Swiss-Prot entries in UniProt XML (UniProt 2022, CC BY 4.0): the
  built-in input of `protst build-protdescribe` and of the main job.
"""

from pathlib import Path

RESOURCES = Path(__file__).parent
UNIPROT_SAMPLE = RESOURCES / "uniprot_sprot_2022_sample.xml.gz"


def demo_processor():
    """A [`ProtSTProcessor`] from the built-in ESM tokenizer and demo text vocabulary."""
    from ..models.protst.processing_protst import ProtSTProcessor

    return ProtSTProcessor.from_protein_text_pretrained(str(RESOURCES / "esm_tokenizer"),
                                                        str(RESOURCES / "text_tokenizer"))


def demo_config(**overrides):
    """A small [`ProtSTConfig`]: the ESM-2 8M protein tower and a 2-layer, 128-wide BERT on the demo vocabulary."""
    from transformers import BertConfig, EsmConfig

    from ..models.protst import ProtSTConfig

    vocab_size = sum(1 for _ in open(RESOURCES / "text_tokenizer" / "vocab.txt"))
    values = dict(
        protein_config=EsmConfig.from_pretrained(RESOURCES / "esm2_configs" / "esm2_t6_8M_UR50D"),
        text_config=BertConfig(vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=256),
        projection_dim=128,
        text_cls_token_id=2,
        text_sep_token_id=3,
    )
    values.update(overrides)
    return ProtSTConfig(**values)


def demo_rows() -> list[dict]:
    """ProtDescribe rows of the built-in Swiss-Prot sample (the entries with a FUNCTION comment)."""
    from ..data.protdescribe import protdescribe_row
    from ..data.uniprot import iter_uniprot

    return [row for row in map(protdescribe_row, iter_uniprot(UNIPROT_SAMPLE)) if row["function"]]


__all__ = ["RESOURCES", "UNIPROT_SAMPLE", "demo_config", "demo_processor", "demo_rows"]
