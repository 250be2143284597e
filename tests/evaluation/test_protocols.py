"""The downstream protocols: frozen, full, LoRA (also under accelerate launch)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from protst_hf.evaluation import metrics
from protst_hf.evaluation.protocols import (
    FinetuneArguments,
    cached_features,
    finetune,
    load_task_model,
    predict,
    protein_features,
    save_result,
)
from protst_hf.evaluation.tasks import load_task
from utils.tasks import located, toy_task


def test_frozen_protocol_learns_and_cached_features_give_the_same_predictions(tiny_model, rows, tmp_path):
    data = toy_task(rows)
    model, tokenizer = load_task_model(tiny_model, data)
    args = FinetuneArguments(protocol="frozen", epochs=40, head_lr=3e-3, cache_dir=str(tmp_path / "cache"))
    result = finetune(model, tokenizer, data, args)
    assert np.mean(result.train_losses[-5:]) < np.mean(result.train_losses[:5])
    assert len(list((tmp_path / "cache").glob("features-*.npy"))) == 3
    # the same head on freshly computed (uncached) features, and the whole model on sequences, agree
    features = protein_features(model, tokenizer, data.splits["test"].sequences)
    assert np.allclose(cached_features(model, tokenizer, data.splits["test"], args), features, atol=1e-6)
    end_to_end = predict(model, tokenizer, data.splits["test"].sequences, data, args)
    assert np.allclose(end_to_end, result.test_scores, atol=1e-5)
    # the trained classifier saves and reloads with AutoModelForSequenceClassification
    save_result(result, tmp_path / "saved", tokenizer)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved").eval()
    assert reloaded.config.id2label == {0: "no", 1: "yes"}
    assert np.allclose(predict(reloaded, tokenizer, data.splits["test"].sequences, data, args), end_to_end, atol=1e-5)
    assert json.loads((tmp_path / "saved" / "finetune_result.json").read_text())["best_epoch"] == result.best_epoch


def test_full_protocol_trains_the_encoder_at_its_ratio(tiny_model, rows):
    data = toy_task(rows)
    model, tokenizer = load_task_model(tiny_model, data)
    before = {k: v.clone() for k, v in model.protein_model.state_dict().items()}
    args = FinetuneArguments(protocol="full", epochs=4, batch_size=8, head_lr=1e-3, crop=120)
    result = finetune(model, tokenizer, data, args)
    assert result.args["encoder_lr_ratio"] == 0.02  # ESM-2 (rotary) default of the spec
    assert np.mean(result.train_losses[-4:]) < np.mean(result.train_losses[:4])
    changed = [k for k, v in result.model.protein_model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "full fine-tuning must update the encoder"
    assert set(result.validation) == {"accuracy", "mcc"} and 1 <= result.best_epoch <= 4


def test_lora_adapter_saves_alone_reloads_identically_and_leaves_the_base_untouched(tiny_model, rows, tmp_path):
    from peft import PeftModel

    data = toy_task(rows)
    model, tokenizer = load_task_model(tiny_model, data)
    base = {k: v.clone() for k, v in model.protein_model.state_dict().items()}
    args = FinetuneArguments(protocol="lora", epochs=4, batch_size=8, head_lr=3e-3, crop=120)
    result = finetune(model, tokenizer, data, args)
    assert np.mean(result.train_losses[-4:]) < np.mean(result.train_losses[:4])
    result.model.save_pretrained(tmp_path / "adapter")
    saved = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= saved
    assert (tmp_path / "adapter" / "adapter_model.safetensors").stat().st_size < 200_000  # adapter + head only

    fresh, _ = load_task_model(tiny_model, data)
    for name, tensor in fresh.protein_model.state_dict().items():
        assert torch.equal(tensor, base[name]), f"{name}: the base checkpoint changed"
    merged_off = result.model.get_base_model().protein_model.state_dict()
    for name, tensor in base.items():  # LoRA never writes the frozen base weights
        key = name.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        assert torch.equal(merged_off.get(key, merged_off.get(name)), tensor)
    reloaded = PeftModel.from_pretrained(fresh, tmp_path / "adapter").eval()
    sequences = data.splits["test"].sequences
    assert np.allclose(predict(reloaded, tokenizer, sequences, data, args),
                       predict(result.model, tokenizer, sequences, data, args), atol=1e-6)


@pytest.mark.distributed
@pytest.mark.slow
def test_full_protocol_under_accelerate_launch_ddp(tiny_model, tmp_path):
    """Two CPU processes (DDP over gloo): each trains on its share of every batch; validation and test scores are
    gathered back into input order, so the reported test metric equals a one-process prediction of the saved
    best model."""
    usable = located()
    for split, part in (("train", usable[:40]), ("validation", usable[40:52]), ("test", usable[52:67])):
        lines = ["sequence,label"] + [f"{r['sequence'][:150]},{int('Secreted' in r['subloc'])}" for r in part]
        (tmp_path / f"{split}.csv").write_text("\n".join(lines) + "\n")
    files = [f"binloc:{s}={tmp_path / f'{s}.csv'}" for s in ("train", "validation", "test")]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "protst_hf.cli",
               "evaluate", "--model", str(tiny_model), "--tasks", "binloc", "--protocol", "full", "--seeds", "1",
               "--epochs", "2", "--batch-size", "4", "--lr", "1e-3", "--crop", "100", "--baselines", "majority",
               "--output", str(tmp_path / "out"), "--save-models", "--files", *files]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    reported = results["tasks"]["binloc"]["model"]["test"]["accuracy"]["values"][0]
    data = load_task("binloc", files={s: str(tmp_path / f"{s}.csv") for s in ("train", "validation", "test")})
    saved = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out" / "models" / "binloc").eval()
    from transformers import AutoProcessor

    tokenizer = AutoProcessor.from_pretrained(tmp_path / "out" / "models" / "binloc")
    scores = predict(saved, tokenizer, data.splits["test"].sequences, data, FinetuneArguments())
    assert reported == pytest.approx(metrics.accuracy(data.splits["test"].labels, scores))


def test_predictions_read_proteins_as_the_embeddings_do(tiny_model, rows):
    """A model trained on termini crops: the protocols' predictions and the frozen features cut long proteins the
    same way (the processor's truncation policy), one reading of proteins for both."""
    data = toy_task(rows)
    model, tokenizer = load_task_model(tiny_model, data)
    args = FinetuneArguments(protocol="frozen", max_length=40)
    sequences = [s for s in data.splits["test"].sequences if len(s) > 60][:4]
    assert len(sequences) == 4
    cuts = {}
    for policy in ("termini", "n_terminal"):
        tokenizer.truncation_policy = policy
        features = torch.as_tensor(protein_features(model, tokenizer, sequences, max_length=40))
        with torch.no_grad():
            from_features = model.classifier(features).softmax(-1).numpy()  # the head on the cached features
        assert np.allclose(predict(model, tokenizer, sequences, data, args), from_features, atol=1e-5), policy
        cuts[policy] = features
    assert (cuts["termini"] - cuts["n_terminal"]).abs().max() > 1e-2  # the two cuts are different residues
