"""Publishing: model cards from a real (tiny) pretraining run, and `protst push` round trips of a model, a LoRA
adapter, a dataset and an index through a local Hub-compatible server, loaded back in fresh processes (the model
and its pipeline where `protst_hf` cannot be imported)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard

from protst_hf.hub.push import MissingTokenError, detect_kind, publish

PROTEINS = ["MKTAYIAKQRQISFVKSHFSRQ", "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF"]

LOAD_SCRIPT = """
import json, sys
sys.modules["protst_hf"] = None  # the model must come from the repository's own code
import numpy as np, torch
from transformers import AutoModel, AutoProcessor, pipeline
model = AutoModel.from_pretrained("org/protst-tiny", trust_remote_code=True).eval()
assert "protst_hf" not in type(model).__module__
processor = AutoProcessor.from_pretrained("org/protst-tiny", trust_remote_code=True)
batch = processor(proteins={proteins!r}, return_tensors="pt", padding=True)
with torch.no_grad():
    embeds = model.get_protein_features(batch["protein_input_ids"], batch["protein_attention_mask"])
classify = pipeline("zero-shot-protein-classification", model="org/protst-tiny", trust_remote_code=True)
result = classify({proteins!r}[0], candidate_labels=["Nucleus", "Cytoplasm", "Secreted"])
print(json.dumps({{"embeds": embeds.tolist(), "labels": result["labels"], "scores": result["scores"]}}))
"""

LOAD_OTHERS = """
import json
import torch
from datasets import load_dataset
from peft import PeftModel
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from protst_hf import ProteinIndex
base = AutoModelForSequenceClassification.from_pretrained({base!r}, num_labels=3)
model = PeftModel.from_pretrained(base, "org/protst-lora").eval()
tokenizer = AutoTokenizer.from_pretrained({tokenizer!r})
batch = tokenizer({proteins!r}, return_tensors="pt", padding=True)
with torch.no_grad():
    logits = model(protein_input_ids=batch["input_ids"], protein_attention_mask=batch["attention_mask"]).logits
dataset = load_dataset("org/protdescribe-tiny")
index = ProteinIndex.load("org/protst-index")
print(json.dumps({{"logits": logits.tolist(), "rows": {{s: len(dataset[s]) for s in dataset}},
                  "index": len(index)}}))
"""






def test_push_without_a_token_is_a_clear_error(pretrained, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    with pytest.raises(MissingTokenError, match="hf auth login"):
        publish(pretrained / "final", "org/x")
    assert detect_kind(pretrained / "final") == "model"
    with pytest.raises(ValueError, match="holds no model"):
        detect_kind(tmp_path)


def _lora_adapter(model_dir: Path, output: Path) -> torch.Tensor:
    """A LoRA adapter (with its head) on the pretrained model's protein tower; returns its logits on PROTEINS."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from protst_hf.evaluation.protocols import FinetuneArguments, wrap_lora

    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3)
    base.save_pretrained(output.parent / "base")
    model = wrap_lora(base, FinetuneArguments(protocol="lora", lora_r=4)).eval()
    with torch.no_grad():  # adapters start at zero: move them so the check means something
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
    model.save_pretrained(output)
    tokenizer = AutoTokenizer.from_pretrained(model_dir / "protein_tokenizer")
    batch = tokenizer(PROTEINS, return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(protein_input_ids=batch["input_ids"], protein_attention_mask=batch["attention_mask"]).logits


@pytest.mark.slow
def test_push_round_trips_model_adapter_dataset_index_and_embeddings(pretrained, pretraining_setup, tmp_path,
                                                                     harness_results):
    from transformers import AutoModel, AutoProcessor

    from protst_hf import ProteinIndex
    from protst_hf.embedding.shards import EmbeddingFolder
    from utils.hub_server import HubServer

    model_dir = pretrained / "final"
    (tmp_path / "results.json").write_text(json.dumps(harness_results("org/protst-tiny")))
    adapter_logits = _lora_adapter(model_dir, tmp_path / "adapter")
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ProteinIndex.build(iter([([f"P{i}" for i in range(300)], vectors)]), kind="flat",
                       metadata={"model": "org/protst-tiny", "normalized": True}).save(tmp_path / "index")
    embeddings = tmp_path / "embeddings"
    embeddings.mkdir()
    np.save(embeddings / "embeddings-00000.npy", vectors)
    (embeddings / "ids-00000.txt").write_text("".join(f"P{i}\n" for i in range(300)))
    EmbeddingFolder.write_marker(embeddings, {"model": str(model_dir), "normalized": True, "format": "npy",
                                              "shards": 1})
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = AutoProcessor.from_pretrained(model_dir)(proteins=PROTEINS, return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = model.get_protein_features(batch["protein_input_ids"], batch["protein_attention_mask"])

    cli = [sys.executable, "-m", "protst_hf.cli", "push"]
    pushes = [[str(model_dir), "--repo", "org/protst-tiny", "--eval-results", str(tmp_path / "results.json")],
              [str(tmp_path / "adapter"), "--repo", "org/protst-lora"],
              [str(pretraining_setup / "data"), "--repo", "org/protdescribe-tiny"],
              [str(tmp_path / "index"), "--repo", "org/protst-index"],
              [str(embeddings), "--repo", "org/protst-embeddings"],
              [str(model_dir), "--repo", "org/protst-tiny"]]  # a re-push: nothing changed, no new commit
    with HubServer() as hub:
        env = hub.env(str(tmp_path / "home"))
        for args in pushes:
            done = subprocess.run(cli + args, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0 and "pushed:" in done.stdout, done.stderr[-3000:]
        commits = [r for r in hub.requests if r.startswith("POST") and "/commit/" in r]
        assert len(commits) == 5, commits
        files = hub.files("org/protst-tiny")
        assert {"model.safetensors", "config.json", "modeling_protst.py", "configuration_protst.py",
                "processing_protst.py", "pipeline_protst.py", "processor_config.json", "README.md",
                "eval_results.json"} <= set(files)
        card = ModelCard(files["README.md"].decode())
        assert {r.metric_type for r in card.data.eval_results} == {"accuracy", "spearman"}
        assert "base_model" not in card.data.to_dict()  # the run's towers came from local configs: no Hub base
        assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(hub.files("org/protst-lora"))
        assert "library_name: peft" in hub.files("org/protst-lora")["README.md"].decode()
        assert 'index="org/protst-index"' in hub.files("org/protst-index", repo_type="dataset")["README.md"].decode()
        pushed = hub.files("org/protst-embeddings", repo_type="dataset")
        assert {"embeddings-00000.npy", "ids-00000.txt", "manifest.json"} <= set(pushed)
        card = pushed["README.md"].decode()  # names its repository and the model by folder name, not local path
        assert "--embeddings org/protst-embeddings" in card and "`final`" in card and str(tmp_path) not in card
        assert any("lfs-upload" in r for r in hub.requests) and not hub.unhandled

        loaded = subprocess.run([sys.executable, "-c", LOAD_SCRIPT.format(proteins=PROTEINS)], env=env,
                                capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert loaded.returncode == 0, loaded.stderr[-3000:]
        remote = json.loads(loaded.stdout.strip().splitlines()[-1])
        assert np.abs(np.array(remote["embeds"]) - expected.numpy()).max() < 1e-5
        assert sorted(remote["labels"]) == ["Cytoplasm", "Nucleus", "Secreted"]
        assert abs(sum(remote["scores"]) - 1) < 1e-5

        others = subprocess.run(
            [sys.executable, "-c", LOAD_OTHERS.format(base=str(tmp_path / "base"), proteins=PROTEINS,
                                                      tokenizer=str(model_dir / "protein_tokenizer"))],
            env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert others.returncode == 0, others.stderr[-3000:]
        report = json.loads(others.stdout.strip().splitlines()[-1])
        assert np.abs(np.array(report["logits"]) - adapter_logits.numpy()).max() < 1e-5
        local_rows = json.loads((pretraining_setup / "data" / "build_report.json").read_text())["rows"]["written"]
        assert report["rows"] == local_rows and report["index"] == 300
