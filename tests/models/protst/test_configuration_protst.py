"""ProtSTConfig: defaults, validation, round trips."""

import math

import pytest
from transformers import AutoConfig, BertConfig, EsmConfig, RobertaConfig

from protst_hf import ProtSTConfig
from protst_hf.models.protst.configuration_protst import ESM_RESIDUE_TOKEN_IDS, RESIDUE_CLASSES


def test_defaults_are_the_paper():
    config = ProtSTConfig()
    assert isinstance(config.protein_config, EsmConfig) and isinstance(config.text_config, BertConfig)
    assert (config.protein_config.hidden_size, config.protein_config.num_hidden_layers) == (1280, 33)
    assert config.protein_config.position_embedding_type == "rotary" and config.protein_config.token_dropout
    assert (config.text_config.hidden_size, config.text_config.vocab_size) == (768, 30522)
    assert config.projection_dim == 512 and config.fusion_hidden_size == 512
    assert (config.fusion_num_layers, config.fusion_num_attention_heads) == (1, 8)
    assert not config.fusion_scale_attention and config.fusion_batch_norm and not config.fusion_batch_norm_valid_only
    assert config.logit_scale_init_value == pytest.approx(math.log(1 / 0.07)) and config.logit_scale_max is None
    weights = (config.contrastive_weight, config.mlm_weight, config.mmp_protein_weight, config.mmp_text_weight)
    assert weights == (1, 1, 1, 1)
    assert config.freeze_text_model and config.freeze_word_projection


def test_residue_token_ids_follow_the_esm_alphabet(protein_tokenizer):
    vocab = protein_tokenizer.get_vocab()
    assert ESM_RESIDUE_TOKEN_IDS == [vocab[c] for c in RESIDUE_CLASSES]


def test_round_trip_dict_and_folder(tmp_path, make_config):
    config = make_config(mlm_weight=0.5, logit_scale_max=math.log(100), fusion_batch_norm_valid_only=True)
    again = ProtSTConfig.from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict()
    config.save_pretrained(tmp_path)
    for loaded in (ProtSTConfig.from_pretrained(tmp_path), AutoConfig.from_pretrained(tmp_path)):
        assert isinstance(loaded, ProtSTConfig)
        assert isinstance(loaded.protein_config, EsmConfig) and isinstance(loaded.text_config, BertConfig)
        assert loaded.protein_config.hidden_size == 32
        assert loaded.text_config.vocab_size == config.text_config.vocab_size
        assert loaded.mlm_weight == 0.5 and loaded.fusion_batch_norm_valid_only
        assert {**loaded.to_dict(), "_name_or_path": ""} == config.to_dict()


def test_any_bert_family_text_config(tmp_path):
    text = RobertaConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)
    config = ProtSTConfig(text_config=text, text_cls_token_id=0, text_sep_token_id=2)
    config.save_pretrained(tmp_path)
    loaded = ProtSTConfig.from_pretrained(tmp_path)
    assert isinstance(loaded.text_config, RobertaConfig) and loaded.text_config.vocab_size == 50
    assert isinstance(ProtSTConfig(text_config={"model_type": "roberta", "vocab_size": 50}).text_config, RobertaConfig)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(projection_dim=0), "projection_dim"),
        (dict(fusion_num_attention_heads=3), "divisible"),
        (dict(fusion_num_layers=0), "fusion_num_layers"),
        (dict(mlm_weight=-1), "mlm_weight"),
        (dict(contrastive_weight=float("nan")), "contrastive_weight"),
        (dict(logit_scale_max=1.0), "logit_scale_max"),
        (dict(residue_token_ids=[4] * 20), "distinct"),
        (dict(protein_config="esm"), "protein_config"),
    ],
)
def test_bad_values_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProtSTConfig(**kwargs)


def test_mask_rates_of_old_folders_load_and_are_dropped(tmp_path, make_config):
    """Folders saved when the collator's mask rates were configuration still load; the keys are not written again
    (the rates are data arguments now: --protein_mask_rate / --text_mask_rate)."""
    config = make_config()
    legacy = {**config.to_dict(), "protein_mask_rate": 0.15, "text_mask_rate": 0.15}
    loaded = ProtSTConfig.from_dict(legacy)
    assert not hasattr(loaded, "protein_mask_rate") and "text_mask_rate" not in loaded.to_dict()
    assert loaded.to_dict() == config.to_dict()
