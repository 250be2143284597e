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
    assert fast.runs_packed and not fast.config.protein_packed  # a runtime choice, not a config value
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
    from protst_hf.models.protst.calibration_protst import expected_calibration_error

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
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("float32", "cpu") == "float32"
    # weights that the caller quantises (prepare_for_inference): int8 instead of float32 on an x86 CPU
    from protst_hf.models.protst.inference_protst import int8_engine

    quantized = "int8" if expected == "float32" and int8_engine("cpu") else expected
    assert resolve_precision("auto", "cpu", quantize=True) == quantized
    classify = protst_hf.pipeline("zero-shot-protein-classification", model=str(model_folder), device="cpu")
    assert classify.autocast_dtype == (None if expected == "float32" else "bfloat16")


def test_a_capped_onednn_isa_means_no_native_bf16(monkeypatch):
    """`ONEDNN_MAX_CPU_ISA=AVX2` keeps oneDNN off the bf16 units, so bf16 would be emulated: `auto` must know."""
    from protst_hf.models.protst.inference_protst import native_bfloat16

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not native_bfloat16("cpu")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert native_bfloat16("cpu")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "ALL")
    assert native_bfloat16("cpu")


def _features(model, processor, rows):
    inputs = processor(proteins=[r["sequence"] for r in rows[:6]], return_tensors="pt", padding=True)
    texts = processor(text=[r["function"] for r in rows[:6]], return_tensors="pt", padding=True)
    with torch.no_grad():
        return (model.get_protein_features(inputs["protein_input_ids"], inputs["protein_attention_mask"]),
                model.get_text_features(texts["text_input_ids"], texts["text_attention_mask"]))


def test_int8_quantises_every_tower_linear_per_output_channel(make_config, processor, rows):
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    from protst_hf.models.protst.inference_protst import prepare_for_inference

    torch.manual_seed(0)
    model = ProtSTModel(make_config()).eval()
    weights = {name: child.weight.detach().clone() for name, child in model.named_modules()
               if isinstance(child, torch.nn.Linear)}
    prepare_for_inference(model, packed=True, precision="int8")
    for tower in (model.protein_model, model.text_model):
        layers = {name: child for name, child in tower.named_modules()
                  if isinstance(child, (torch.nn.Linear, DynamicLinear))}
        assert layers and all(isinstance(child, DynamicLinear) for child in layers.values()), layers
    quantised = {name: child for name, child in model.named_modules() if isinstance(child, DynamicLinear)}
    assert all(name.startswith(("protein_model.", "text_model.")) for name in quantised)  # heads stay float32
    for name, child in quantised.items():
        weight = child.weight()
        assert weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric)
        scales = weight.q_per_channel_scales().double()
        assert len(scales) == weights[name].shape[0]
        # each weight is rounded to its own output channel's grid (symmetric: max |w| / 127.5 a step), so at most
        # half a step away, plus float32 rounding of values up to 128 steps
        error = (weight.dequantize().double() - weights[name].double()).abs().amax(1)
        assert (error <= scales * (0.5 + 128 * 2.0**-22)).all(), name


def test_a_failed_int8_quantisation_warns_once_and_runs_float32(monkeypatch, make_config, processor, rows):
    """Forced failure (a torch without its quantised kernels): one warning, and the float32 towers' exact output."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    from protst_hf.models.protst import inference_protst

    torch.manual_seed(0)
    reference = ProtSTModel(make_config()).eval()
    model = ProtSTModel(make_config())
    model.load_state_dict(reference.state_dict())
    inference_protst.prepare_for_inference(reference, packed=True, precision="float32")

    def broken(module):
        raise RuntimeError("no quantized engine")

    monkeypatch.setattr(inference_protst, "quantize_int8", broken)
    monkeypatch.setattr(inference_protst, "native_bfloat16", lambda device: False)
    monkeypatch.setattr(inference_protst, "int8_engine", lambda device: True)
    with pytest.warns(UserWarning, match="int8 quantisation failed.*no quantized engine.*float32") as caught:
        inference_protst.prepare_for_inference(model, packed=True, precision="auto")
    assert len([w for w in caught if "int8" in str(w.message)]) == 1
    assert not any(isinstance(child, DynamicLinear) for child in model.modules())
    for got, expected in zip(_features(model, processor, rows), _features(reference, processor, rows)):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)  # the same float32 modules, the same batches


def test_text_cache_keys_an_int8_text_tower(monkeypatch, make_config, processor, tmp_path):
    """The label-text cache hashes a quantised text tower (packed int8 weights): two quantisations of the same
    weights share one key (a second run reads the file), float32 weights have another."""
    from protst_hf.models.protst import inference_protst
    from protst_hf.models.protst.inference_protst import embed_texts_cached, prepare_for_inference, text_tower_digest

    torch.manual_seed(0)
    model = ProtSTModel(make_config()).eval()
    quantized, again = ProtSTModel(make_config()), ProtSTModel(make_config())
    for copy in (quantized, again):
        copy.load_state_dict(model.state_dict())
        prepare_for_inference(copy, precision="int8")
    assert text_tower_digest(quantized) != text_tower_digest(model)
    assert text_tower_digest(again) == text_tower_digest(quantized)
    labels = ["nucleus", "cytoplasm", "membrane"]
    first = embed_texts_cached(quantized, processor, labels, cache=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1

    def not_called(*args, **kwargs):
        raise AssertionError("the second run embedded the texts instead of reading the cache")

    monkeypatch.setattr(inference_protst, "embed_texts", not_called)
    torch.testing.assert_close(embed_texts_cached(again, processor, labels, cache=tmp_path), first,
                               rtol=0, atol=0)


def test_a_pipeline_loaded_by_name_quantises_where_auto_means_int8(monkeypatch, model_folder):
    """`protst_hf.pipeline(task, model=path)` owns its model: `auto` on a CPU without bf16 units gives int8 towers
    (what `protst classify` runs), a model object is left as given, and `float32` stays float32."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    import protst_hf
    from protst_hf.models.protst import inference_protst

    monkeypatch.setattr(inference_protst, "native_bfloat16", lambda device: False)
    monkeypatch.setattr(inference_protst, "int8_engine", lambda device: True)

    def quantised(pipe):
        return any(isinstance(m, DynamicLinear) for m in pipe.model.modules())

    task = "zero-shot-protein-classification"
    auto = protst_hf.pipeline(task, model=str(model_folder), device="cpu")
    exact = protst_hf.pipeline(task, model=str(model_folder), device="cpu", precision="float32")
    explicit = protst_hf.pipeline(task, model=str(model_folder), device="cpu", precision="int8")
    given = protst_hf.pipeline(task, model=exact.model, processor=exact.processor, device="cpu")
    assert quantised(auto) and quantised(explicit) and not quantised(exact) and not quantised(given)
    labels = ["nucleus", "cytoplasm", "membrane"]
    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHM"
    got = auto(sequence, candidate_labels=labels)
    expected = exact(sequence, candidate_labels=labels)
    assert sorted(got["labels"]) == sorted(labels) and abs(sum(got["scores"]) - 1) < 1e-5
    scores = dict(zip(got["labels"], got["scores"]))
    for label, score in zip(expected["labels"], expected["scores"]):  # int8 moves probabilities a little
        assert abs(scores[label] - score) < 0.2


def test_runtime_choices_are_not_saved_into_the_config(make_config, tmp_path):
    """A model prepared for inference (packed tower) saves the config it was loaded with: config.json describes the
    model, not the machine it last ran on."""
    import json

    from protst_hf.models.protst.inference_protst import prepare_for_inference

    model = ProtSTModel(make_config())
    prepare_for_inference(model, packed=True, precision="float32")
    assert model.runs_packed
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["protein_packed"] is False
    assert not ProtSTModel.from_pretrained(tmp_path).runs_packed
