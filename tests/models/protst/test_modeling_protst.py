"""The ProtST models: shapes, readouts, losses and their weights, fusion, saving and loading (also of folders saved
by earlier versions, and with trust_remote_code), task heads, precision."""

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForPreTraining,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    BertConfig,
    BertForMaskedLM,
    EsmConfig,
    EsmForMaskedLM,
)

from protst_hf import (
    ProtSTConfig,
    ProtSTDataCollatorForPretraining,
    ProtSTForPreTraining,
    ProtSTForSequenceClassification,
    ProtSTForTokenClassification,
    ProtSTModel,
    ProtSTProcessor,
)
from protst_hf.models.protst.modeling_protst import masked_mean
from utils.builders import FIXTURES, TESTS, minimum_transformers, tiny_protein_config, tiny_text_config

WEIGHTS = ("contrastive_weight", "mlm_weight", "mmp_protein_weight", "mmp_text_weight")

TERMS = {"contrastive_weight": "contrastive_loss", "mlm_weight": "mlm_loss",
         "mmp_protein_weight": "mmp_protein_loss", "mmp_text_weight": "mmp_text_loss"}

SAVED = FIXTURES / "saved_model_2077500"


class ProtSTModelTester:
    """Tiny models and real inputs (Swiss-Prot pairs from fixtures), in the transformers tester pattern."""

    def __init__(self, processor, rows, make_config):
        self.processor, self.rows, self.make_config = processor, rows, make_config

    def inputs(self, n=4):
        rows = self.rows[:n]
        return self.processor(
            proteins=[r["sequence"] for r in rows], text=[r["function"] for r in rows], return_tensors="pt"
        )

    def pretraining_inputs(self, n=4, seed=0):
        collator = ProtSTDataCollatorForPretraining(self.processor, seed=seed)
        return collator(self.rows[:n])

    def pretraining_model(self, **overrides):
        """As the training code builds it: the config's freezing applied (`training.freezing`)."""
        from protst_hf.training.freezing import apply_freezing

        torch.manual_seed(0)
        return apply_freezing(ProtSTForPreTraining(self.make_config(**overrides)))


@pytest.fixture
def tester(processor, rows, make_config):
    return ProtSTModelTester(processor, rows, make_config)


def test_output_shapes(tester):
    model = ProtSTModel(tester.make_config()).eval()
    batch = tester.inputs(4)
    out = model(**batch, return_token_embeds=True)
    protein_len, text_len = batch["protein_input_ids"].shape[1], batch["text_input_ids"].shape[1]
    assert out.logits_per_protein.shape == (4, 4) and out.logits_per_text.shape == (4, 4)
    assert out.protein_embeds.shape == out.text_embeds.shape == (4, 16)
    assert torch.allclose(out.protein_embeds.norm(dim=-1), torch.ones(4))
    assert out.residue_embeds.shape == (4, protein_len - 2, 16)
    assert out.token_embeds.shape == (4, text_len, 16)
    assert out.protein_last_hidden_state.shape == (4, protein_len, 32)
    expected = model.logit_scale.exp() * out.protein_embeds @ out.text_embeds.t()
    torch.testing.assert_close(out.logits_per_protein, expected)
    features = model.get_protein_features(batch["protein_input_ids"], batch["protein_attention_mask"])
    torch.testing.assert_close(features, out.protein_embeds)
    raw = model.get_protein_features(batch["protein_input_ids"], batch["protein_attention_mask"], project=False,
                                     normalize=False)
    assert raw.shape == (4, 32)
    assert out.to_tuple()[0].shape == (4, 4)


def test_readouts_follow_the_spec(tester, processor):
    model = ProtSTModel(tester.make_config()).eval()
    batch = tester.inputs(3)
    with torch.no_grad():
        hidden = model.protein_model(
            input_ids=batch["protein_input_ids"], attention_mask=batch["protein_attention_mask"]
        ).last_hidden_state
        lengths = batch["protein_attention_mask"].sum(1) - 2
        manual = torch.stack([hidden[i, 1 : 1 + n].mean(0) for i, n in enumerate(lengths.tolist())])
        raw = model.get_protein_features(batch["protein_input_ids"], batch["protein_attention_mask"], project=False,
                                         normalize=False)
        torch.testing.assert_close(raw, manual)

        ids = batch["text_input_ids"]
        text_hidden = model.text_model(input_ids=ids, attention_mask=batch["text_attention_mask"]).last_hidden_state
        special = torch.isin(ids, torch.tensor([processor.tokenizer.cls_token_id, processor.tokenizer.sep_token_id,
                                                processor.tokenizer.pad_token_id]))
        manual_text = torch.stack([text_hidden[i][~special[i]].mean(0) for i in range(3)])
        raw_text = model.get_text_features(ids, batch["text_attention_mask"], project=False, normalize=False)
        torch.testing.assert_close(raw_text, manual_text)


def test_embeddings_do_not_depend_on_padding(tester, processor):
    model = ProtSTModel(tester.make_config()).eval()
    rows = tester.rows[:3]
    with torch.no_grad():
        together = tester.inputs(3)
        batched = model.get_protein_features(together["protein_input_ids"], together["protein_attention_mask"])
        for i, row in enumerate(rows):
            alone = processor(proteins=row["sequence"], return_tensors="pt")
            single = model.get_protein_features(alone["protein_input_ids"], alone["protein_attention_mask"])
            torch.testing.assert_close(single[0], batched[i], atol=1e-5, rtol=1e-4)


def test_pretraining_loss_is_finite_and_the_weighted_sum(tester):
    model = tester.pretraining_model(mlm_weight=0.7, mmp_text_weight=0.3)
    batch = tester.pretraining_inputs()
    out = model(**batch)
    assert torch.isfinite(out.loss)
    for name in TERMS.values():
        assert torch.isfinite(getattr(out, name)) and getattr(out, name) > 0
    expected = out.contrastive_loss + 0.7 * out.mlm_loss + out.mmp_protein_loss + 0.3 * out.mmp_text_loss
    torch.testing.assert_close(out.loss, expected)
    for name in ("protein_to_text_accuracy", "text_to_protein_accuracy", "mlm_accuracy", "mmp_protein_accuracy",
                 "mmp_text_accuracy"):
        assert 0.0 <= getattr(out, name).item() <= 1.0
    assert out.logits_per_protein.shape == (4, 4)
    # an untrained 20-way head scores close to log(20)
    assert abs(out.mlm_loss.item() - torch.log(torch.tensor(20.0)).item()) < 0.5


@pytest.mark.parametrize("weight", WEIGHTS)
def test_zero_weight_removes_exactly_its_term(tester, weight):
    model = tester.pretraining_model()
    batch = tester.pretraining_inputs()
    calls = []
    model.fusion.register_forward_hook(lambda *args: calls.append(1))
    full = model(**batch)
    setattr(model.config, weight, 0.0)
    reduced = model(**batch)
    assert getattr(reduced, TERMS[weight]) is None
    torch.testing.assert_close(reduced.loss, full.loss - getattr(full, TERMS[weight]), rtol=1e-5, atol=1e-5)
    for other in set(WEIGHTS) - {weight}:
        torch.testing.assert_close(getattr(reduced, TERMS[other]), getattr(full, TERMS[other]))
    if weight == "contrastive_weight":
        assert reduced.protein_embeds is None and reduced.protein_to_text_accuracy is None
    assert len(calls) == 2  # fusion still runs while either MMP term is on


def test_fusion_is_skipped_without_mmp_terms(tester):
    model = tester.pretraining_model(mmp_protein_weight=0, mmp_text_weight=0)
    calls = []
    model.fusion.register_forward_hook(lambda *args: calls.append(1))
    batch = tester.pretraining_inputs()
    out = model(**batch)
    assert calls == [] and out.mmp_protein_loss is None and out.mmp_text_loss is None
    model.config.mlm_weight = 0
    batch.pop("text_labels"), batch.pop("protein_labels")
    out = model(**batch)  # contrastive only: labels not needed
    torch.testing.assert_close(out.loss, out.contrastive_loss)


def test_missing_labels_raise(tester):
    model = tester.pretraining_model()
    batch = tester.pretraining_inputs()
    with pytest.raises(ValueError, match="protein_labels"):
        model(**{k: v for k, v in batch.items() if k != "protein_labels"})
    with pytest.raises(ValueError, match="text_labels"):
        model(**{k: v for k, v in batch.items() if k != "text_labels"})


def test_text_bank_in_forward(tester, processor):
    """Bank features and targets switch protein -> text to the bank: the loss equals `text_bank_loss` on the same
    embeddings, text_projection gets gradient through the bank, and half an input is an error."""
    from protst_hf.models.protst.losses_protst import text_bank_loss

    model = tester.pretraining_model(mlm_weight=0, mmp_protein_weight=0, mmp_text_weight=0,
                                     contrastive_text_bank=True)
    batch = tester.pretraining_inputs(n=3)
    protst = model.protst
    bank_texts = ["SUBCELLULAR LOCATION: Cytoplasm.", "SUBCELLULAR LOCATION: Nucleus.", "FUNCTION: Binds DNA.",
                  "SUBCELLULAR LOCATION: Secreted."]
    tokens = processor(text=bank_texts, return_tensors="pt")
    features = protst.get_text_features(tokens["text_input_ids"], tokens["text_attention_mask"], project=False,
                                        normalize=False).detach()
    targets = torch.tensor([[1.0, 0, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0, 1.0]])
    output = model(**batch, text_bank_features=features, text_bank_targets=targets)
    expected = text_bank_loss(output.protein_embeds, output.text_embeds, protst.project_text(features), targets,
                              protst.logit_scale)
    assert torch.allclose(output.contrastive_loss, expected.loss, rtol=1e-6, atol=1e-6)
    assert output.logits_per_protein.shape == (3, 4)
    assert 0 <= output.protein_to_text_accuracy.item() <= 1
    output.loss.backward()
    assert protst.text_projection.dense.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="together"):
        model(**batch, text_bank_features=features)


def test_text_bank_needs_a_frozen_text_tower(make_config):
    with pytest.raises(ValueError, match="freeze_text_model"):
        make_config(contrastive_text_bank=True, freeze_text_model=False)
    with pytest.raises(ValueError, match="text_bank_part_weight"):
        make_config(text_bank_part_weight=1.5)


def test_residue_targets_map_esm_ids_to_the_original_classes(tester, protein_tokenizer):
    model = tester.pretraining_model()
    vocab = protein_tokenizer.get_vocab()
    labels = torch.tensor([[-100, vocab["G"], vocab["W"], vocab["X"], vocab["L"], -100]])
    assert model._residue_targets(labels).tolist() == [[-100, 0, 19, -100, 8, -100]]


@pytest.mark.parametrize("valid_only", [False, True])
def test_fusion_matches_a_direct_implementation_of_the_spec(make_config, valid_only):
    config = make_config(fusion_batch_norm_valid_only=valid_only)
    torch.manual_seed(0)
    model = ProtSTForPreTraining(config)
    layer = model.fusion.layers[0]
    protein = torch.randn(2, 5, 16)
    text = torch.randn(2, 4, 16)
    protein_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]).bool()
    text_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]).bool()
    got_protein, got_text = model.fusion(protein, protein_mask, text, text_mask)

    def heads(x):
        return x.view(*x.shape[:2], 2, 8)

    def alpha(q, k, mask_q, mask_k):
        logits = torch.einsum("blhd,bkhd->blkh", q, k)  # raw dot products, no scaling
        logits = logits.masked_fill(~mask_k[:, None, :, None], -1e6)
        weights = logits.softmax(dim=2)
        return weights * mask_q[:, :, None, None]

    qp, kp, vp = (heads(f(protein)) for f in (layer.protein_query, layer.protein_key, layer.protein_value))
    qt, kt, vt = (heads(f(text)) for f in (layer.text_query, layer.text_key, layer.text_value))
    out_p = (torch.einsum("blkh,bkhd->blhd", alpha(qp, kp, protein_mask, protein_mask), vp).flatten(-2)
             + torch.einsum("blkh,bkhd->blhd", alpha(qp, kt, protein_mask, text_mask), vt).flatten(-2)) / 2
    out_t = (torch.einsum("blkh,bkhd->blhd", alpha(qt, kp, text_mask, protein_mask), vp).flatten(-2)
             + torch.einsum("blkh,bkhd->blhd", alpha(qt, kt, text_mask, text_mask), vt).flatten(-2)) / 2

    def batch_norm(x, mask):
        if valid_only:
            values = x[mask]
            normed = (values - values.mean(0)) / torch.sqrt(values.var(0, unbiased=False) + 1e-5)
            return torch.zeros_like(x).masked_scatter(mask.unsqueeze(-1), normed)
        flat = x.reshape(-1, x.shape[-1])  # every padded position counts, as in the original
        return (x - flat.mean(0)) / torch.sqrt(flat.var(0, unbiased=False) + 1e-5)

    torch.testing.assert_close(got_protein, F.relu(batch_norm(out_p, protein_mask)), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got_text, F.relu(batch_norm(out_t, text_mask)), atol=1e-5, rtol=1e-4)


def test_scaled_fusion_attention_flag_changes_the_output(make_config):
    torch.manual_seed(0)
    raw = ProtSTForPreTraining(make_config()).fusion
    torch.manual_seed(0)
    scaled = ProtSTForPreTraining(make_config(fusion_scale_attention=True)).fusion
    inputs = (torch.randn(2, 5, 16) * 5, torch.ones(2, 5).bool(), torch.randn(2, 4, 16) * 5, torch.ones(2, 4).bool())
    assert not torch.allclose(raw(*inputs)[0], scaled(*inputs)[0])
    assert scaled.layers[0].scale == 8**-0.5 and raw.layers[0].scale == 1.0


def test_save_load_equality_safetensors_only(tester, tmp_path):
    model = tester.pretraining_model().eval()
    with torch.no_grad():
        model.protst.logit_scale.fill_(3.3)
    batch = tester.pretraining_inputs()
    model.save_pretrained(tmp_path)
    files = os.listdir(tmp_path)
    assert "model.safetensors" in files and not any(f.endswith((".bin", ".pt", ".pth")) for f in files)
    loaded = ProtSTForPreTraining.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        a, b = model(**batch), loaded(**batch)
    for name in ("loss", "contrastive_loss", "mlm_loss", "mmp_protein_loss", "mmp_text_loss", "logits_per_protein"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=0, atol=0)
    assert loaded.protst.logit_scale.item() == pytest.approx(3.3)


def test_auto_classes(tester, tmp_path):
    model = tester.pretraining_model()
    model.save_pretrained(tmp_path)
    tester.processor.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "protst"
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForPreTraining",
                                       "AutoModelForSequenceClassification", "AutoModelForTokenClassification"}
    assert {"configuration_protst.py", "modeling_protst.py", "losses_protst.py",
            "processing_protst.py"} <= set(os.listdir(tmp_path))
    assert isinstance(AutoConfig.from_pretrained(tmp_path), ProtSTConfig)
    base = AutoModel.from_pretrained(tmp_path)
    assert isinstance(base, ProtSTModel)
    torch.testing.assert_close(base.protein_projection.dense.weight, model.protst.protein_projection.dense.weight)
    assert isinstance(AutoModelForPreTraining.from_pretrained(tmp_path), ProtSTForPreTraining)
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    assert isinstance(classifier, ProtSTForSequenceClassification)
    torch.testing.assert_close(classifier.protein_model.embeddings.word_embeddings.weight,
                               model.protst.protein_model.embeddings.word_embeddings.weight)
    assert isinstance(AutoModelForTokenClassification.from_pretrained(tmp_path, num_labels=3),
                      ProtSTForTokenClassification)


def _remote_code_fixture(tester, folder):
    model = tester.pretraining_model().eval()
    model.save_pretrained(folder)
    tester.processor.save_pretrained(folder)
    processor_inputs = {"proteins": [r["sequence"] for r in tester.rows[:3]],
                        "text": [r["function"] for r in tester.rows[:3]]}
    batch = tester.processor(**processor_inputs, return_tensors="pt")
    pretraining_batch = tester.pretraining_inputs(3)
    base = ProtSTModel.from_pretrained(folder).eval()
    with torch.no_grad():
        out = base(**batch)
        pre = model(**pretraining_batch)
    expected = {
        "processor_inputs": processor_inputs, "batch": dict(batch), "pretraining_batch": pretraining_batch,
        "logits_per_protein": out.logits_per_protein, "protein_embeds": out.protein_embeds,
        "text_embeds": out.text_embeds, "loss": pre.loss, "mlm_loss": pre.mlm_loss, "mmp_text_loss": pre.mmp_text_loss,
    }
    torch.save(expected, folder / "expected.pt")


def _run_remote_check(python, folder, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    completed = subprocess.run(
        [python, str(TESTS / "utils" / "remote_code_check.py"), str(folder), str(folder / "expected.pt")],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_trust_remote_code_round_trip_without_protst_hf(tester, tmp_path):
    folder = tmp_path / "protst-tiny"
    _remote_code_fixture(tester, folder)
    report = _run_remote_check(sys.executable, folder, tmp_path)
    assert report["classes"] == ["ProtSTConfig", "ProtSTProcessor", "ProtSTForPreTraining", "ProtSTModel",
                                 "ProtSTForSequenceClassification"]
    assert max(report["max_abs_diff"].values()) <= 1e-5


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("PROTST_MIN_TRANSFORMERS_PYTHON"),
                    reason="set PROTST_MIN_TRANSFORMERS_PYTHON to a python with the oldest supported transformers "
                    "(scripts/test.sh does)")
def test_trust_remote_code_on_the_oldest_supported_transformers(tester, tmp_path):
    folder = tmp_path / "protst-tiny"
    _remote_code_fixture(tester, folder)
    report = _run_remote_check(os.environ["PROTST_MIN_TRANSFORMERS_PYTHON"], folder, tmp_path)
    from packaging.version import Version

    assert Version(report["transformers"]) == Version(minimum_transformers())
    assert max(report["max_abs_diff"].values()) <= 1e-5


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(tester):
    batch = tester.pretraining_inputs()
    plain = tester.pretraining_model(freeze_text_model=False, freeze_word_projection=False)
    checkpointed = tester.pretraining_model(freeze_text_model=False, freeze_word_projection=False)
    checkpointed.gradient_checkpointing_enable()
    assert checkpointed.fusion.gradient_checkpointing
    assert checkpointed.protst.protein_model.encoder.layer[0].gradient_checkpointing
    assert checkpointed.protst.text_model.encoder.layer[0].gradient_checkpointing
    used = []
    original = checkpointed.fusion._gradient_checkpointing_func
    checkpointed.fusion._gradient_checkpointing_func = lambda *a, **k: used.append(1) or original(*a, **k)
    a, b = plain(**batch), checkpointed(**batch)
    torch.testing.assert_close(a.loss, b.loss)
    a.loss.backward()
    b.loss.backward()
    assert used == [1]
    grads = dict(checkpointed.named_parameters())
    for name, param in plain.named_parameters():
        if param.grad is not None:
            torch.testing.assert_close(grads[name].grad, param.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_attn_implementation_passes_through(tester, tmp_path):
    model = ProtSTModel(tester.make_config()).eval()
    assert model.protein_model.config._attn_implementation == "sdpa"
    assert model.text_model.config._attn_implementation == "sdpa"
    model.save_pretrained(tmp_path)
    eager = ProtSTModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert eager.protein_model.config._attn_implementation == "eager"
    assert eager.text_model.config._attn_implementation == "eager"
    batch = tester.inputs(3)
    with torch.no_grad():
        torch.testing.assert_close(eager(**batch).logits_per_protein, model(**batch).logits_per_protein,
                                   atol=1e-4, rtol=1e-4)


def test_sequence_classification_problem_types(tester):
    batch = tester.inputs(4)
    ids, mask = batch["protein_input_ids"], batch["protein_attention_mask"]
    single = ProtSTForSequenceClassification(tester.make_config(num_labels=3))
    labels = torch.tensor([0, 2, 1, 2])
    out = single(ids, mask, labels=labels)
    assert out.logits.shape == (4, 3) and single.config.problem_type == "single_label_classification"
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))
    torch.testing.assert_close(out.pooled_output, masked_mean(out.last_hidden_state, (mask.bool()) & (ids > 2)))

    multi = ProtSTForSequenceClassification(tester.make_config(num_labels=5))
    targets = torch.tensor([[1.0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    out = multi(ids, mask, labels=targets)
    assert multi.config.problem_type == "multi_label_classification"
    torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, targets))

    regression = ProtSTForSequenceClassification(tester.make_config(num_labels=1))
    values = torch.tensor([0.5, -1.0, 2.0, 0.0])
    out = regression(ids, mask, labels=values)
    assert regression.config.problem_type == "regression"
    torch.testing.assert_close(out.loss, F.mse_loss(out.logits.squeeze(-1), values))
    out.loss.backward()
    assert regression.protein_model.embeddings.word_embeddings.weight.grad is not None


def test_token_classification(tester):
    batch = tester.inputs(2)
    ids = batch["protein_input_ids"]
    model = ProtSTForTokenClassification(tester.make_config(num_labels=3))
    labels = torch.randint(0, 3, ids.shape)
    labels[ids <= 2] = -100  # BOS, padding, EOS not scored
    out = model(ids, batch["protein_attention_mask"], labels=labels)
    assert out.logits.shape == (*ids.shape, 3)
    valid = labels != -100
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits[valid], labels[valid]))


def test_task_models_load_the_protein_tower_of_a_protst_checkpoint(tester, tmp_path):
    source = tester.pretraining_model()
    source.protst.save_pretrained(tmp_path / "base")
    source.save_pretrained(tmp_path / "pretraining")
    reference = source.protst.protein_model.state_dict()
    for folder in ("base", "pretraining"):
        for cls in (ProtSTForSequenceClassification, ProtSTForTokenClassification):
            model = cls.from_pretrained(tmp_path / folder, num_labels=4)
            state = model.protein_model.state_dict()
            assert set(state) == set(reference)
            assert all(torch.equal(state[k], reference[k]) for k in reference), (folder, cls.__name__)
            assert not hasattr(model, "text_model")


def test_from_protein_text_pretrained_keeps_tower_weights(tmp_path, text_tokenizer):
    torch.manual_seed(0)
    esm_config = EsmConfig.from_pretrained(FIXTURES / "esm2_configs" / "esm2_t6_8M_UR50D")
    esm_config.num_hidden_layers = 2
    EsmForMaskedLM(esm_config).save_pretrained(tmp_path / "esm")
    esm = EsmForMaskedLM.from_pretrained(tmp_path / "esm")
    bert = BertForMaskedLM(tiny_text_config(text_tokenizer.vocab_size))
    bert.save_pretrained(tmp_path / "bert")
    text_tokenizer.save_pretrained(tmp_path / "bert")

    model = ProtSTForPreTraining.from_protein_text_pretrained(tmp_path / "esm", tmp_path / "bert", projection_dim=16,
                                                              fusion_num_attention_heads=2)
    protein_state = model.protst.protein_model.state_dict()
    for key, value in esm.esm.state_dict().items():
        if not key.startswith("contact_head"):
            assert torch.equal(protein_state[key], value), key
    text_state = model.protst.text_model.state_dict()
    for key, value in bert.bert.state_dict().items():
        assert torch.equal(text_state[key], value), key
    assert model.protst.protein_model.contact_head is None and model.protst.text_model.pooler is None
    assert model.config.text_cls_token_id == text_tokenizer.cls_token_id == 2
    # towers passed in keep their attention implementation (the composite config must not reset it)
    assert model.protst.protein_model.config._attn_implementation == "sdpa"
    assert model.protst.text_model.config._attn_implementation == "sdpa"
    assert model.config.protein_config.hidden_size == 320 and model.config.projection_dim == 16

    processor = ProtSTProcessor.from_protein_text_pretrained(FIXTURES / "esm_tokenizer", tmp_path / "bert")
    assert processor.text_max_length == 512
    pairs = [{"sequence": "MKTAYIAKQRQISFVKSHFSRQ", "function": "binds dna"}] * 2
    batch = ProtSTDataCollatorForPretraining(processor)(pairs)
    assert torch.isfinite(model(**batch).loss)

    # the task heads take the same call (it used to raise a TypeError): the protein tower's weights, no text tower
    for head in (ProtSTForSequenceClassification, ProtSTForTokenClassification):
        task = head.from_protein_text_pretrained(tmp_path / "esm", tmp_path / "bert", num_labels=3)
        assert torch.equal(task.protein_model.embeddings.word_embeddings.weight,
                           esm.esm.embeddings.word_embeddings.weight)
        assert task.config.text_config.vocab_size == text_tokenizer.vocab_size and task.config.num_labels == 3
        assert not hasattr(task, "text_model")
    assert ProtSTForSequenceClassification.from_protein_text_pretrained(tmp_path / "esm").config.num_labels == 2


def test_forward_refuses_arguments_it_does_not_implement(tester):
    """`output_attentions=True` and the like are refused with a clear error instead of being ignored; their default
    values and `return_dict=False` work."""
    model = tester.pretraining_model()
    inputs = tester.inputs(n=2)
    with pytest.raises(TypeError, match="output_attentions"):
        model.protst(**inputs, output_attentions=True)
    with pytest.raises(TypeError, match="output_hidden_states"):
        model(**tester.pretraining_inputs(n=2), output_hidden_states=True)
    as_tuple = model.protst(**inputs, output_attentions=False, return_dict=False)
    assert isinstance(as_tuple, tuple) and as_tuple[0].shape == (2, 2)  # logits_per_protein first (no loss)
    classifier = ProtSTForSequenceClassification(tester.make_config(num_labels=3))
    with pytest.raises(TypeError, match="does not support"):
        classifier(inputs["protein_input_ids"], output_hidden_states=True)


@pytest.mark.parametrize("esm_name", ["esm2_t6_8M_UR50D", "esm2_t12_35M_UR50D"])
def test_real_size_configs_construct_and_run(esm_name, processor, rows):
    esm_config = EsmConfig.from_pretrained(FIXTURES / "esm2_configs" / esm_name)
    text_config = BertConfig()  # BERT-base / PubMedBERT shape
    config = ProtSTConfig(protein_config=esm_config, text_config=text_config,
                          text_cls_token_id=processor.tokenizer.cls_token_id,
                          text_sep_token_id=processor.tokenizer.sep_token_id)
    model = ProtSTForPreTraining(config).eval()
    summary = model.parameter_summary()
    h, n = esm_config.hidden_size, esm_config.num_hidden_layers
    i, v = esm_config.intermediate_size, esm_config.vocab_size
    # ESM-2 encoder: embeddings + per layer (QKV+O, 2 LayerNorms, FFN) + final LayerNorm; no LM/contact head
    esm_params = v * h + n * (4 * (h * h + h) + 2 * 2 * h + (h * i + i) + (i * h + h)) + 2 * h
    assert sum(p.numel() for p in model.protst.protein_model.parameters()) == esm_params
    assert sum(p.numel() for p in model.protst.text_model.parameters()) == 108_891_648  # BERT-base without pooler
    print(f"\n{esm_name} + BERT-base ProtSTForPreTraining parameters: {summary}")
    batch = processor(proteins=[r["sequence"] for r in rows[:2]], text=[r["function"] for r in rows[:2]],
                      return_tensors="pt")
    with torch.no_grad():
        out = model.protst(**batch)
    assert out.protein_last_hidden_state.shape[-1] == h and out.logits_per_protein.shape == (2, 2)
    assert torch.isfinite(out.logits_per_protein).all()


def test_inputs_over_position_limits_fail_clearly(tester):
    model = ProtSTModel(tester.make_config()).eval()
    too_long_text = torch.full((1, 600), 5)
    with pytest.raises(ValueError, match="over the text tower's limit of 512"):
        model.get_text_features(too_long_text)
    absolute = ProtSTModel(tester.make_config(protein_config=tiny_protein_config(
        position_embedding_type="absolute", max_position_embeddings=1026, token_dropout=False)))
    with pytest.raises(ValueError, match="over the protein tower's limit of 1024"):
        absolute.get_protein_features(torch.full((1, 1100), 5))


def test_logit_scale_clamp(tester):
    model = ProtSTModel(tester.make_config(logit_scale_max=3.0))
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    out = model(**tester.inputs(2))
    expected = torch.exp(torch.tensor(3.0)) * out.protein_embeds @ out.text_embeds.t()
    torch.testing.assert_close(out.logits_per_protein, expected)


def test_bfloat16_towers_with_float32_heads_answer_forward_and_features(tester, processor):
    """The set-up of prepare_for_inference(precision="bfloat16"): every readout casts to the heads' dtype."""
    from protst_hf import prepare_for_inference

    torch.manual_seed(0)
    model = ProtSTModel(tester.make_config()).eval()
    batch = processor(proteins=["MKTAYIAKQRQISFVKSHFSRQ", "MVLSPADKTNVKAAW"],
                      text=["SUBCELLULAR LOCATION: Nucleus.", "FUNCTION: Binds DNA."], return_tensors="pt")
    with torch.no_grad():
        reference = model(**batch, return_token_embeds=True)
        prepare_for_inference(model, packed=False, precision="bfloat16")
        assert model.protein_model.dtype == torch.bfloat16 and model.protein_projection.dense.weight.dtype == \
            torch.float32
        output = model(**batch, return_token_embeds=True)
        features = model.get_protein_features(batch["protein_input_ids"], batch["protein_attention_mask"])
    assert output.protein_embeds.dtype == torch.float32
    assert torch.allclose(output.protein_embeds, features)
    # bf16 keeps 8 bits of mantissa: embeddings agree to a few 1e-2
    assert (output.protein_embeds - reference.protein_embeds).abs().max() < 0.1
    assert output.residue_embeds.shape == reference.residue_embeds.shape


def test_a_folder_saved_by_commit_2077500_gives_the_same_outputs():
    expected = json.loads((SAVED / "expected_outputs.json").read_text())
    processor = ProtSTProcessor.from_pretrained(SAVED)
    model = ProtSTModel.from_pretrained(SAVED).eval()
    batch = processor(proteins=expected["proteins"], text=expected["texts"], return_tensors="pt")
    with torch.no_grad():
        output = model(**batch)
    for key in ("protein_embeds", "text_embeds", "logits_per_protein"):
        reference = torch.tensor(expected[key])
        # float32 sums over at most a few hundred terms: 1e-5 of the scale is far above their rounding
        assert (getattr(output, key) - reference).abs().max() <= 1e-5 * reference.abs().max(), key

    pretraining = ProtSTForPreTraining.from_pretrained(SAVED).eval()
    recorded = {k: torch.tensor(v) for k, v in expected["pretraining_batch"].items()}
    with torch.no_grad():
        terms = pretraining(**recorded)
    for key, value in expected["pretraining_terms"].items():
        assert abs(float(getattr(terms, key)) - value) <= 1e-5 * max(abs(value), 1.0), key


def test_task_heads_take_an_esm_tokenizers_input_ids(processor):
    """`Trainer` with `DataCollatorWithPadding` passes what the ESM tokenizer returns: `input_ids` and
    `attention_mask`; a task head takes them as its protein inputs, with the same outputs."""
    from protst_hf import ProtSTForSequenceClassification, ProtSTForTokenClassification
    from utils.builders import tiny_config

    torch.manual_seed(0)
    tokens = processor.protein_tokenizer(["MKTAYIAKQR", "MVLSPADKTNVKAAW"], return_tensors="pt", padding=True)
    for cls in (ProtSTForSequenceClassification, ProtSTForTokenClassification):
        model = cls(tiny_config(processor, num_labels=3)).eval()
        with torch.no_grad():
            plain = model(**tokens).logits
            named = model(protein_input_ids=tokens["input_ids"],
                          protein_attention_mask=tokens["attention_mask"]).logits
        assert torch.equal(plain, named)
        with pytest.raises(ValueError, match="not both"):
            model(input_ids=tokens["input_ids"], protein_input_ids=tokens["input_ids"])
        with pytest.raises(ValueError, match="input_ids"):
            model(labels=torch.tensor([0, 1]))
