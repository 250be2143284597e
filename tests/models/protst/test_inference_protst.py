"""What inference_protst.py shares: FASTA reading, length batching, calibration, precision settings."""


import numpy as np
import pytest
import torch

from protst_hf import (
    ProtSTModel,
    fit_temperature,
)


@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_cpu_inference_settings_keep_the_embeddings(make_config, processor, rows, precision):
    from protst_hf.models.protst.inference_protst import prepare_for_inference

    torch.manual_seed(0)
    model = ProtSTModel(make_config()).eval()
    fast = ProtSTModel(make_config())
    fast.load_state_dict(model.state_dict())
    prepare_for_inference(fast, packed=True, precision=precision)
    assert fast.config.protein_packed
    inputs = processor(proteins=[r["sequence"] for r in rows[:6]], return_tensors="pt", padding=True)
    with torch.no_grad():
        reference = model.get_protein_features(inputs["protein_input_ids"], inputs["protein_attention_mask"])
        got = fast.get_protein_features(inputs["protein_input_ids"], inputs["protein_attention_mask"])
    assert got.dtype == torch.float32
    cosine = (got * reference).sum(-1)  # both L2-normalised
    assert cosine.min() > 0.99, cosine
    with pytest.raises(ValueError, match="precision must be one of"):
        prepare_for_inference(fast, precision="int4")


def test_temperature_scaling_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 5)) * 3
    labels = np.array([rng.choice(5, p=np.exp(row / 2.5) / np.exp(row / 2.5).sum()) for row in logits])
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.1)


def test_expected_calibration_error():
    from protst_hf.models.protst.scoring_protst import expected_calibration_error

    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    # two bins, each half the proteins at accuracy 1/2: confidence 0.9 (gap 0.4) and 0.6 (gap 0.1)
    assert expected_calibration_error(probabilities, np.array([0, 1, 0, 1])) == pytest.approx(0.25)


def test_length_batches_respect_both_limits():
    from protst_hf.models.protst.inference_protst import length_batches

    rng = np.random.default_rng(0)
    lengths = [int(x) for x in rng.integers(10, 1024, 500)] + [2000]
    batches = length_batches(lengths, batch_size=16, max_tokens=1024)
    assert sorted(i for b in batches for i in b) == list(range(501))  # each position once
    assert batches[0] == [500]  # longer than the budget: alone
    for batch in batches:
        widths = [lengths[i] for i in batch]
        assert widths == sorted(widths, reverse=True) and len(batch) <= 16
        assert len(batch) == 1 or len(batch) * widths[0] <= 1024
    assert length_batches([5, 9, 7], batch_size=2, max_tokens=None) == [[1, 2], [0]]


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(False, False, "float32"), (True, False, "bfloat16"),
                                                         (False, True, "bfloat16")])
def test_auto_precision_takes_bf16_only_where_the_cpu_computes_it(monkeypatch, model_folder, avx512_bf16, amx,
                                                                     expected):
    """On an AVX2-only CPU bf16 is emulated and slower than float32: `auto` must not choose it there."""
    import protst_hf
    from protst_hf.models.protst.inference_protst import resolve_precision

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("float32", "cpu") == "float32"
    classify = protst_hf.pipeline("zero-shot-protein-classification", model=str(model_folder), device="cpu")
    assert classify.autocast_dtype == (None if expected == "float32" else "bfloat16")
