"""The pure losses, and the contrastive loss gathered across processes."""

import math
import os
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F

from protst_hf.models.protst.losses_protst import (
    contrastive_loss,
    gather_with_grad,
    masked_accuracy,
    masked_cross_entropy,
    text_bank_loss,
)
from utils.builders import TESTS, load_rows, make_processor
from utils.distributed_worker import bank_run, function_run, tiny_model


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


@pytest.mark.distributed
@pytest.mark.slow
def test_gathered_loss_and_gradients_equal_single_process_on_unequal_batches(tmp_path):
    """2 gloo processes with 3 and 2 rows against one process with all 5, in float64 (so that only the gathering is
    tested, not summation order): the pure loss with the original and with shared positives, and the model under
    DDP."""
    out = tmp_path / "dist.pt"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(TESTS / "utils" / "distributed_worker.py"), str(out)]
    # The launch alone takes about 10 s. In 2 of 4 full CI runs of 2026-12-08 (never alone, 0 of 6) the two gloo
    # workers were still at the DDP wrapper after 150 s; the cause is not found. The workers now do every slow local
    # step (imports, model, batch) before they meet, and a collective that waits fails after 100 s with gloo's error
    # (which names it); a launch that still runs past 150 s is retried once, and said so.
    for attempt in (1, 2):
        try:
            completed = subprocess.run(command, capture_output=True, text=True, timeout=150, env={
                **os.environ, "OMP_NUM_THREADS": "1"})
            break
        except subprocess.TimeoutExpired as err:  # say where the workers stood, not only that they did
            message = (f"torchrun did not finish in 150 s (attempt {attempt}); stdout: "
                       f"{str(err.stdout or '')[-2000:]} stderr: {str(err.stderr or '')[-4000:]}")
            if attempt == 2:
                pytest.fail(message)
            warnings.warn(message, stacklevel=1)
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = torch.load(out)
    assert result["world_size"] == 2

    for groups in (False, True):
        loss, grads = function_run(slice(0, 5), groups)
        got_loss, got_grads = result[f"function_{groups}"]
        assert_close_float64(got_loss, loss, f"loss (groups={groups})")
        for name, grad in grads.items():
            assert_close_float64(got_grads[name], grad, f"{name} (groups={groups})")
    loss, grads = bank_run(slice(0, 5))
    got_loss, got_grads = result["bank"]
    assert_close_float64(got_loss, loss, "text-bank loss")
    for name, grad in grads.items():
        assert_close_float64(got_grads[name], grad, f"{name} (text bank)")
    shared, _ = function_run(slice(0, 5), True)
    assert abs(shared.item() - function_run(slice(0, 5), False)[0].item()) > 1e-3  # the positives matter

    processor = make_processor()
    model = tiny_model(processor)
    data = load_rows()[:5]
    batch = processor(proteins=[r["sequence"] for r in data], text=[r["function"] for r in data], return_tensors="pt")
    output = model(**batch)
    output.loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    got_loss, got_grads = result["model"]
    assert_close_float64(got_loss, output.loss.detach(), "model loss")
    assert set(got_grads) == set(grads)
    assert any("protein_model" in n for n in grads) and "protst.logit_scale" in grads
    for name, grad in grads.items():
        assert_close_float64(got_grads[name], grad, name)


def assert_close_float64(actual, expected, name):
    """Equal up to float64 rounding: 1e-9 of the tensor's own scale, far above any summation-order error in float64
    (about 1e-15) and far below any error in the gathering itself."""
    error = (actual - expected).abs().max().item()
    assert error <= 1e-9 * max(expected.abs().max().item(), 1e-6), f"{name}: max error {error}"


def test_shared_positives_change_the_loss_only_where_identical_texts_differ():
    """Soft targets over identical texts equal the original loss when the copies are identical embeddings (the same
    logits), and differ once the copies differ (masking, dropout)."""
    torch.manual_seed(0)
    proteins = F.normalize(torch.randn(4, 8, dtype=torch.float64), dim=-1)
    text = F.normalize(torch.randn(3, 8, dtype=torch.float64), dim=-1)
    texts = text[[0, 0, 1, 2]]  # rows 0 and 1 share one text
    groups = torch.tensor([5, 5, 6, 7])
    scale = torch.tensor(2.0, dtype=torch.float64)
    same = contrastive_loss(proteins, texts, scale, text_groups=groups).loss
    assert abs(same.item() - contrastive_loss(proteins, texts, scale).loss.item()) < 1e-12
    noisy = texts.clone()
    noisy[1] = F.normalize(noisy[1] + 0.3 * torch.randn(8, dtype=torch.float64), dim=0)  # a masked copy
    assert abs(contrastive_loss(proteins, noisy, scale, text_groups=groups).loss.item()
               - contrastive_loss(proteins, noisy, scale).loss.item()) > 1e-3
    result = contrastive_loss(proteins, noisy, scale, text_groups=groups)
    assert result.text_groups.tolist() == groups.tolist()


def test_text_bank_loss_equals_in_batch_loss_when_the_bank_is_the_batch():
    """With the batch's own (distinct) texts as the bank and one-hot targets, the bank loss is the original's."""
    torch.manual_seed(0)
    proteins = F.normalize(torch.randn(4, 8, dtype=torch.float64), dim=-1)
    texts = F.normalize(torch.randn(4, 8, dtype=torch.float64), dim=-1)
    scale = torch.tensor(2.3, dtype=torch.float64)
    bank = text_bank_loss(proteins, texts, texts, torch.eye(4, dtype=torch.float64), scale)
    assert abs(bank.loss.item() - contrastive_loss(proteins, texts, scale).loss.item()) < 1e-12
    assert bank.logits_per_protein.shape == (4, 4)


def test_text_bank_loss_equals_hand_computation_with_soft_targets():
    torch.manual_seed(0)
    proteins = F.normalize(torch.randn(3, 8, dtype=torch.float64), dim=-1)
    texts = F.normalize(torch.randn(3, 8, dtype=torch.float64), dim=-1)
    bank = F.normalize(torch.randn(5, 8, dtype=torch.float64), dim=-1)
    targets = torch.tensor([[1, 0, 0, 0, 0], [0, 0.5, 0.5, 0, 0], [0, 0, 0, 0, 2.0]], dtype=torch.float64)
    scale = torch.tensor(1.7, dtype=torch.float64)
    result = text_bank_loss(proteins, texts, bank, targets, scale)
    s = scale.exp()
    expected = 0.0
    for i in range(3):
        log_p = torch.log_softmax(s * proteins[i] @ bank.t(), -1)
        expected -= (targets[i] / targets[i].sum() * log_p).sum()  # protein -> bank, targets normalised
        expected -= torch.log_softmax(s * texts[i] @ proteins.t(), -1)[i]  # text -> proteins of the batch
    assert abs(result.loss.item() - expected.item() / 3) < 1e-12
    with pytest.raises(ValueError, match="bank_targets"):
        text_bank_loss(proteins, texts, bank, targets[:, :4], scale)


def test_text_group_ids_ignore_padding_and_tell_texts_apart():
    from protst_hf.models.protst.losses_protst import text_group_ids

    ids = torch.tensor([[2, 11, 12, 0, 0], [2, 11, 12, 0, 0], [2, 11, 13, 0, 0], [2, 11, 12, 7, 0]])
    mask = (ids != 0).long()
    wider = torch.cat([ids, torch.zeros(4, 3, dtype=torch.long)], dim=1)  # the same texts padded further
    groups = text_group_ids(ids, mask)
    assert groups[0] == groups[1] and len(set(groups.tolist())) == 3
    assert torch.equal(text_group_ids(wider, (wider != 0).long()), groups)
