"""Embeddings at scale (`protst embed`): shards, resuming, several processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from protst_hf import (
    ProteinFeatureExtractionPipeline,
)
from protst_hf.cli import main as cli
from protst_hf.embedding import shards as retrieval_module
from protst_hf.embedding.shards import build_index, embed_file, iter_embedding_shards
from protst_hf.models.protst.folder_protst import IncompleteFolderError


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_embed_shards_match_the_pipeline_and_report_bad_records(model, processor, fasta, rows, tmp_path):
    summary = embed_file(fasta, model, processor, tmp_path / "npy", shard_size=5, batch_size=3, progress=False)
    assert summary["records"] == 23 and summary["shards"] == 5 and summary["written"] == [0, 1, 2, 3, 4]
    assert len(summary["problems"]) == 2 and "invalid character '$'" in summary["problems"][0]
    assert "empty sequence" in summary["problems"][1]
    manifest = json.loads((tmp_path / "npy" / "manifest.json").read_text())
    assert manifest["skipped_records"] == summary["problems"] and manifest["embedding"] == "protein"
    ids, vectors = zip(*iter_embedding_shards(tmp_path / "npy"))
    ids, vectors = sum(ids, []), np.concatenate(vectors)
    assert ids == [r["accession"] for r in rows[:23]] and vectors.shape == (23, 16)
    expected = ProteinFeatureExtractionPipeline(model=model, processor=processor, precision="float32")(
        [r["sequence"] for r in rows[:23]], batch_size=1)["protein_embeds"]
    assert np.abs(vectors - expected).max() < 1e-5  # length-sorted batches change nothing
    embed_file(fasta, model, processor, tmp_path / "parquet", shard_size=5, batch_size=3, fmt="parquet",
               progress=False)
    ids_pq, vectors_pq = zip(*iter_embedding_shards(tmp_path / "parquet"))
    assert sum(ids_pq, []) == ids and np.array_equal(np.concatenate(vectors_pq), vectors)
    raw = embed_file(fasta, model, processor, tmp_path / "raw", shard_size=50, project=False, progress=False)
    assert raw["records"] == 23 and np.load(tmp_path / "raw" / "embeddings-00000.npy").shape == (23, 32)
    with pytest.raises(ValueError, match="normalised"):
        build_index(tmp_path / "raw")


def test_embed_resumes_after_an_interrupt_with_identical_files(model, processor, fasta, tmp_path, monkeypatch):
    embed_file(fasta, model, processor, tmp_path / "full", shard_size=5, batch_size=3, progress=False)
    original, calls = retrieval_module._embed, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C while the third shard is being embedded
        return original(*args, **kwargs)

    monkeypatch.setattr(retrieval_module, "_embed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        embed_file(fasta, model, processor, tmp_path / "resumed", shard_size=5, batch_size=3, progress=False)
    monkeypatch.setattr(retrieval_module, "_embed", original)
    assert sorted(os.listdir(tmp_path / "resumed")) == ["embeddings-00000.npy", "embeddings-00001.npy",
                                                        "ids-00000.txt", "ids-00001.txt"]
    with pytest.raises(IncompleteFolderError, match="no manifest.json.*Rerun the same `protst embed`"):
        build_index(tmp_path / "resumed")
    # a kill between a shard's data and its completion mark: the shard counts as unfinished
    (tmp_path / "resumed" / "ids-00001.txt").unlink()
    (tmp_path / "resumed" / "embeddings-00002.npy.tmp").write_bytes(b"half a file")
    summary = embed_file(fasta, model, processor, tmp_path / "resumed", shard_size=5, batch_size=3,
                         progress=False)
    assert summary["skipped_complete"] == [0] and summary["written"] == [1, 2, 3, 4]
    (tmp_path / "resumed" / "embeddings-00002.npy.tmp").unlink(missing_ok=True)
    assert _files(tmp_path / "resumed") == _files(tmp_path / "full")


def test_processes_take_interleaved_shards(model, processor, fasta, tmp_path):
    """Under `accelerate launch`, process r of n writes shards r, r + n, ...: together, the single-process files."""
    embed_file(fasta, model, processor, tmp_path / "one", shard_size=4, progress=False)
    first = embed_file(fasta, model, processor, tmp_path / "two", shard_size=4, rank=1, world_size=2,
                       progress=False)
    second = embed_file(fasta, model, processor, tmp_path / "two", shard_size=4, rank=0, world_size=2,
                        progress=False)
    assert first["written"] == [1, 3, 5] and second["written"] == [0, 2, 4]
    assert _files(tmp_path / "two") == _files(tmp_path / "one")


@pytest.mark.distributed
@pytest.mark.slow
def test_accelerate_launch_embeds_with_two_processes(model_folder, fasta, tmp_path):
    """A real `accelerate launch` of `protst embed` with 2 CPU processes: each writes its shards, together the
    single-process result (to float rounding: the processes run their own thread pools)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--main_process_port", str(29700 + os.getpid() % 200), "-m", "protst_hf.cli"]
    embed = ["embed", str(fasta), "--model", str(model_folder), "--shard-size", "4", "--quiet", "--output"]
    completed = subprocess.run(launch + embed + [str(tmp_path / "two")], capture_output=True, text=True,
                               timeout=300, env=env, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "process 0: wrote shards [0, 2, 4]" in completed.stdout
    assert "process 1: wrote shards [1, 3, 5]" in completed.stdout
    assert cli(embed + [str(tmp_path / "one")]) == 0
    two, one = list(iter_embedding_shards(tmp_path / "two")), list(iter_embedding_shards(tmp_path / "one"))
    assert [ids for ids, _ in two] == [ids for ids, _ in one]
    assert max(np.abs(a - b).max() for (_, a), (_, b) in zip(two, one)) < 1e-5
