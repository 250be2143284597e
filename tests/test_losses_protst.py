import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, BertTokenizer

from protst_hf import ProtSTConfig, ProtSTForPreTraining, ProtSTProcessor
from protst_hf.models.protst.losses_protst import (
    contrastive_loss,
    gather_with_grad,
    masked_accuracy,
    masked_cross_entropy,
)

HERE = Path(__file__).parent
# rows of the batch held by each of the two processes: deliberately unequal
SPLIT = [(0, 3), (3, 5)]


def linear_encoders():
    """Two linear encoders, a log temperature and a 5-row batch, identical in every process."""
    torch.manual_seed(0)
    protein_encoder, text_encoder = torch.nn.Linear(8, 4, bias=False), torch.nn.Linear(8, 4, bias=False)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    return protein_encoder, text_encoder, logit_scale, torch.randn(5, 8), torch.randn(5, 8)


def make_processor() -> ProtSTProcessor:
    fixtures = HERE / "fixtures"
    return ProtSTProcessor(
        protein_tokenizer=AutoTokenizer.from_pretrained(fixtures / "esm_tokenizer"),
        tokenizer=BertTokenizer(vocab=str(fixtures / "text_tokenizer" / "vocab.txt")),
    )


def test_contrastive_loss_equals_hand_computation():
    proteins = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    texts = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    result = contrastive_loss(proteins, texts, torch.tensor(math.log(2.0)))
    # logits_per_protein = 2 * [[1, .6], [0, .8]]
    p2t = (math.log(1 + math.exp(-0.8)) + math.log(1 + math.exp(-1.6))) / 2
    t2p = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-0.4))) / 2
    assert result.loss.item() == pytest.approx(p2t + t2p, abs=1e-6)
    assert torch.allclose(result.logits_per_protein, torch.tensor([[2.0, 1.2], [0.0, 1.6]]))
    assert torch.allclose(result.logits_per_text, result.logits_per_protein.t())
    assert result.labels.tolist() == [0, 1]


def test_contrastive_loss_matches_cross_entropy_of_full_logits():
    proteins, texts = F.normalize(torch.randn(6, 5), dim=-1), F.normalize(torch.randn(6, 5), dim=-1)
    result = contrastive_loss(proteins, texts, torch.tensor(2.0))
    logits = math.exp(2.0) * proteins @ texts.t()
    expected = F.cross_entropy(logits, torch.arange(6)) + F.cross_entropy(logits.t(), torch.arange(6))
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_gather_is_identity_without_process_group():
    x = torch.randn(3, 2)
    gathered, offset, world = gather_with_grad(x)
    assert gathered is x and offset == 0 and world == 1


def test_masked_cross_entropy_equals_hand_computation():
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(2.0), 0.0], [5.0, -5.0]], requires_grad=True)
    labels = torch.tensor([1, 0, -100])
    loss = masked_cross_entropy(logits, labels)
    assert loss.item() == pytest.approx((math.log(4 / 3) + math.log(1.5)) / 2, abs=1e-6)
    loss.backward()
    assert logits.grad[2].abs().sum() == 0  # the ignored row gets no gradient
    assert masked_accuracy(logits, labels).item() == 1.0
    assert masked_accuracy(logits, torch.tensor([0, 0, -100])).item() == 0.5


def test_masked_cross_entropy_without_targets_is_zero_and_connected():
    logits = torch.randn(4, 3, requires_grad=True)
    loss = masked_cross_entropy(logits, torch.full((4,), -100))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() == 0
    empty = torch.randn(0, 3, requires_grad=True)
    assert masked_cross_entropy(empty, torch.zeros(0, dtype=torch.long)).item() == 0.0


def _single_process_reference(rows):
    protein_encoder, text_encoder, logit_scale, x_protein, x_text = linear_encoders()
    result = contrastive_loss(
        F.normalize(protein_encoder(x_protein), dim=-1), F.normalize(text_encoder(x_text), dim=-1), logit_scale
    )
    result.loss.backward()
    function = (result.loss.item(), {
        "protein": protein_encoder.weight.grad, "text": text_encoder.weight.grad, "logit_scale": logit_scale.grad
    })

    processor = make_processor()
    from conftest import tiny_protein_config, tiny_text_config

    torch.manual_seed(0)
    config = ProtSTConfig(
        protein_config=tiny_protein_config(), text_config=tiny_text_config(processor.tokenizer.vocab_size),
        projection_dim=16, fusion_num_attention_heads=2, mlm_weight=0, mmp_protein_weight=0, mmp_text_weight=0,
        text_cls_token_id=processor.tokenizer.cls_token_id, text_sep_token_id=processor.tokenizer.sep_token_id,
    )
    model = ProtSTForPreTraining(config)
    data = rows[: SPLIT[-1][1]]
    batch = processor(proteins=[r["sequence"] for r in data], text=[r["function"] for r in data], return_tensors="pt")
    output = model(**batch)
    output.loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return function, (output.loss.item(), grads)


def test_gathered_loss_and_gradients_equal_single_process_on_unequal_batches(tmp_path, rows):
    out = tmp_path / "dist.pt"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(HERE / "distributed_worker.py"), str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, env={
        **__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = torch.load(out)
    assert result["world_size"] == 2

    (function_loss, function_grads), (model_loss, model_grads) = _single_process_reference(rows)
    assert result["function_loss"].item() == pytest.approx(function_loss, rel=1e-5)
    for name, grad in function_grads.items():
        assert_close_to_scale(result["function_grads"][name], grad, name)

    assert result["model_loss"].item() == pytest.approx(model_loss, rel=1e-5)
    assert set(result["model_grads"]) == set(model_grads)
    assert any("protein_model" in n for n in model_grads) and "protst.logit_scale" in model_grads
    for name, grad in model_grads.items():
        assert_close_to_scale(result["model_grads"][name], grad, name)


def assert_close_to_scale(actual, expected, name):
    """Equal up to float32 summation-order error, measured against the tensor's own scale."""
    error = (actual - expected).abs().max().item()
    assert error <= 1e-5 * expected.abs().max().item() + 1e-7, f"{name}: max error {error}"
