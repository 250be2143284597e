"""Packed (unpadded) execution of the protein tower: equal to the padded path in outputs and gradients, for ESM-2
(rotary) and ESM-1b (absolute positions, embedding LayerNorm), with ESM's token-dropout rescaling; compiled equals
eager; the ProtST models give the same losses, embeddings and gradients with `protein_packed=True`."""

import pytest
import torch
from transformers import EsmModel

from protst_hf import ProtSTForPreTraining, ProtSTModel
from protst_hf.data.collator import ProtSTDataCollatorForPretraining
from protst_hf.models.protst.packing_protst import (
    pack,
    packed_esm_forward,
    segment_ids,
    set_compile,
    unpack,
)
from utils.builders import tiny_protein_config

LENGTHS = [5, 40, 17, 1, 29]



def _batch(seed: int = 0, masked: bool = True):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.full((len(LENGTHS), max(LENGTHS) + 2), 1)
    for row, length in enumerate(LENGTHS):
        ids[row, 0] = 0
        ids[row, 1:length + 1] = torch.randint(4, 24, (length,), generator=generator)
        ids[row, length + 1] = 2
    if masked:  # <mask> tokens: ESM's token dropout rescales each sequence by its own masked share
        ids[1, 3], ids[1, 7], ids[4, 2] = 32, 32, 32
    return ids, (ids != 1).long()


def _esm(kind: str) -> EsmModel:
    overrides = {} if kind == "esm2" else dict(position_embedding_type="absolute", emb_layer_norm_before=True)
    torch.manual_seed(0)
    model = EsmModel(tiny_protein_config(**overrides), add_pooling_layer=False)
    with torch.no_grad():  # non-trivial norms and biases
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model


@pytest.mark.parametrize("backend", ["segments", "masked", "flex"])
@pytest.mark.parametrize("kind", ["esm2", "esm1b"])
def test_packed_equals_padded_outputs_and_gradients(kind, backend):
    if backend == "flex":
        pytest.importorskip("torch.nn.attention.flex_attention")
    model = _esm(kind).train()  # training mode: ESM has no dropout, so outputs stay deterministic
    ids, mask = _batch()
    padded = model(input_ids=ids, attention_mask=mask).last_hidden_state
    packed, cu_seqlens, max_seqlen, keep = pack(ids, mask, pad_token_id=1)
    assert cu_seqlens.tolist() == [0, 7, 49, 68, 71, 102] and max_seqlen == 42 and len(packed) == 102
    with torch.set_grad_enabled(backend != "flex"):  # FlexAttention has no CPU backward (torch 2.13): GPU only
        out = packed_esm_forward(model, packed, cu_seqlens, max_seqlen, backend=backend)
    assert (unpack(out, keep) - padded)[keep.bool()].abs().max() < 1e-5
    if backend == "flex":
        return

    # the same loss on the real positions: every parameter's gradient agrees
    weights = torch.randn(padded.shape[-1])
    (padded[keep] @ weights).pow(2).mean().backward()
    reference = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    (out @ weights).pow(2).mean().backward()
    for name, grad in reference.items():
        assert torch.allclose(model.get_parameter(name).grad, grad, atol=1e-5, rtol=1e-4), name
    assert len(reference) > 10


def test_segment_helpers():
    cu = torch.tensor([0, 2, 5], dtype=torch.int32)
    segments = segment_ids(cu, 5)
    assert segments.tolist() == [0, 0, 1, 1, 1]


@pytest.mark.slow
def test_compiled_packed_forward_equals_eager():
    model = _esm("esm2").eval()
    ids, mask = _batch(masked=False)
    packed, cu_seqlens, max_seqlen, _ = pack(ids, mask, pad_token_id=1)
    with torch.no_grad():
        eager = packed_esm_forward(model, packed, cu_seqlens, max_seqlen, backend="masked")
        torch._dynamo.reset()
        compiled_fn = torch.compile(packed_esm_forward, backend="aot_eager", fullgraph=True)
        compiled = compiled_fn(model, packed, cu_seqlens, max_seqlen, backend="masked")
    assert torch.allclose(compiled, eager, atol=1e-5)
    # the per-layer compiled path the GPU suite uses (set_compile), with gradients
    model.train()
    weights = torch.randn(model.config.hidden_size)
    reference = packed_esm_forward(model, packed, cu_seqlens, max_seqlen, backend="masked")
    (reference @ weights).square().mean().backward()
    eager_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    torch._dynamo.reset()
    set_compile(True, backend="aot_eager")
    try:
        out = packed_esm_forward(model, packed, cu_seqlens, max_seqlen, backend="masked")
        (out @ weights).square().mean().backward()
    finally:
        set_compile(False)
    assert torch.allclose(out, reference, atol=1e-5)
    for name, grad in eager_grads.items():
        assert torch.allclose(model.get_parameter(name).grad, grad, atol=1e-5, rtol=1e-4), name


def test_protst_models_packed_equal_padded(make_config, processor, rows):
    collator = ProtSTDataCollatorForPretraining(processor, seed=0)
    batch = collator(rows[:4])
    results = {}
    for packed in (False, True):
        torch.manual_seed(0)
        model = ProtSTForPreTraining(make_config(protein_packed=packed, packed_attention_backend="segments")).train()
        out = model(**batch)
        out.loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results[packed] = (out, grads)
    (padded, padded_grads), (packed, packed_grads) = results[False], results[True]
    for key in ("loss", "contrastive_loss", "mlm_loss", "mmp_protein_loss", "mmp_text_loss"):
        assert torch.allclose(getattr(packed, key), getattr(padded, key), atol=1e-5), key
    assert padded_grads.keys() == packed_grads.keys()
    for name, grad in padded_grads.items():
        assert torch.allclose(packed_grads[name], grad, atol=1e-5, rtol=1e-4), name

    model = ProtSTModel(make_config()).eval()
    inputs = processor(proteins=[r["sequence"] for r in rows[:6]], return_tensors="pt", padding=True)
    with torch.no_grad():
        reference = model.get_protein_features(inputs["protein_input_ids"], inputs["protein_attention_mask"])
        model.config.protein_packed = True  # a runtime switch: no reload needed
        fast = model.get_protein_features(inputs["protein_input_ids"], inputs["protein_attention_mask"])
    assert torch.allclose(fast, reference, atol=1e-6)
