"""Freezing as the config says, applied by the training code (`training/freezing.py`): the frozen text tower and
word projection get no gradient, `frozen_towers_eval` keeps the frozen tower without dropout while training, and a
model loaded from a folder comes back trainable until the training code freezes it."""

import pytest
import torch

from protst_hf import ProtSTForPreTraining
from protst_hf.training.freezing import apply_freezing, train_mode


@pytest.fixture
def tester(processor, rows, make_config):
    from models.protst.test_modeling_protst import ProtSTModelTester

    return ProtSTModelTester(processor, rows, make_config)


def test_a_loaded_model_is_trainable_until_the_training_code_freezes_it(tester, tmp_path):
    tester.pretraining_model().save_pretrained(tmp_path)
    loaded = ProtSTForPreTraining.from_pretrained(tmp_path)
    assert all(p.requires_grad for p in loaded.protst.text_model.parameters())
    apply_freezing(loaded)
    assert not any(p.requires_grad for p in loaded.protst.text_model.parameters())
    assert not any(p.requires_grad for p in loaded.protst.word_projection.parameters())
    assert all(p.requires_grad for p in loaded.protst.protein_model.parameters())


def test_frozen_text_tower_gets_no_gradient_but_text_projection_does(tester):
    model = tester.pretraining_model()
    model(**tester.pretraining_inputs()).loss.backward()
    protst = model.protst
    assert all(p.grad is None and not p.requires_grad for p in protst.text_model.parameters())
    assert all(p.grad is None for p in protst.word_projection.parameters())  # frozen as in the original
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in protst.text_projection.parameters())
    assert all(p.grad is not None for p in protst.protein_model.parameters() if p.requires_grad)
    assert protst.logit_scale.grad is not None
    for head in (model.mlm_head, model.mmp_protein_head, model.mmp_text_head, model.fusion):
        assert all(p.grad is not None for p in head.parameters())

    unfrozen = tester.pretraining_model(freeze_text_model=False, freeze_word_projection=False)
    unfrozen(**tester.pretraining_inputs()).loss.backward()
    assert unfrozen.protst.text_model.embeddings.word_embeddings.weight.grad is not None
    assert unfrozen.protst.word_projection.dense.weight.grad is not None


def test_frozen_towers_eval_keeps_the_frozen_text_tower_without_dropout(tester, processor, rows):
    """With `frozen_towers_eval`, `train_mode` (what the pretraining loop calls) leaves the frozen text
    tower in eval mode: the same text embeds identically twice. Without it (the original), dropout stays on."""
    from utils.builders import tiny_text_config

    dropout_text = tiny_text_config(processor.tokenizer.vocab_size, hidden_dropout_prob=0.3,
                                    attention_probs_dropout_prob=0.3)
    batch = processor(text=[r["function"] for r in rows[:3]], return_tensors="pt")
    for flag in (True, False):
        model = train_mode(tester.pretraining_model(text_config=dropout_text, frozen_towers_eval=flag))
        protst = model.protst
        assert protst.protein_model.training and protst.text_projection.training
        assert protst.text_model.training is not flag
        first, second = (protst.get_text_features(batch["text_input_ids"], batch["text_attention_mask"])
                         for _ in range(2))
        assert torch.equal(first, second) is flag
        model.eval()
        assert not protst.text_model.training
    unfrozen = train_mode(tester.pretraining_model(text_config=dropout_text, frozen_towers_eval=True,
                                                   freeze_text_model=False))
    assert unfrozen.protst.text_model.training  # a trained tower keeps its dropout
