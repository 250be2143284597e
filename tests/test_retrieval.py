"""Embeddings at scale (`protst embed`), `ProteinIndex` on FAISS, the retrieval pipeline over an index, and the
index's trip through a local Hub-compatible server."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from protst_hf import (
    MismatchedModelError,
    ProteinFeatureExtractionPipeline,
    ProteinIndex,
    ProteinTextRetrievalPipeline,
    ProtSTModel,
)
from protst_hf.cli import main as cli
from protst_hf.embedding import shards as retrieval_module
from protst_hf.embedding.shards import build_index, embed_file, iter_embedding_shards

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, processor):
    from utils.builders import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("model") / "protst-a", processor, seed=0)


@pytest.fixture(scope="module")
def other_folder(tmp_path_factory, processor):
    from utils.builders import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("model") / "protst-b", processor, seed=1)


@pytest.fixture(scope="module")
def model(model_folder):
    return ProtSTModel.from_pretrained(model_folder).eval()


@pytest.fixture(scope="module")
def fasta(tmp_path_factory, rows):
    """23 Swiss-Prot records (lengths as they come) and two bad ones, which are reported, not embedded."""
    path = tmp_path_factory.mktemp("fasta") / "proteins.fasta"
    with open(path, "w") as f:
        for i, row in enumerate(rows[:23]):
            f.write(f">{row['accession']} {row['prot_name'][:30]}\n{row['sequence']}\n")
            if i == 7:
                f.write(">broken\nMKV$LL\n>nothing\n")
    return path


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
    with pytest.raises(FileNotFoundError, match="manifest"):
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


def _normalised(rng, n, dim):
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _shards(vectors, size, prefix="P"):
    return [([f"{prefix}{i}" for i in range(s, min(s + size, len(vectors)))], vectors[s : s + size])
            for s in range(0, len(vectors), size)]


def test_exact_index_equals_brute_force():
    rng = np.random.default_rng(0)
    database, queries = _normalised(rng, 2500, 32), _normalised(rng, 40, 32)
    index = ProteinIndex.build(iter(_shards(database, 700)), kind="flat")
    assert len(index) == 2500 and index.metadata["count"] == 2500
    scores, ids = index.search(queries, k=10)
    brute = queries @ database.T
    for row in range(len(queries)):
        order = np.argsort(-brute[row])[:10]
        assert ids[row] == [f"P{i}" for i in order]
        assert np.allclose(scores[row], brute[row, order], atol=1e-5)
    with pytest.raises(ValueError, match="dimension 16"):
        index.search(queries[:, :16])


@pytest.mark.parametrize("kind", ["ivf", "ivfpq", "hnsw"])
def test_approximate_index_finds_planted_neighbours(kind):
    """Each query is a database vector plus noise (cosine about 0.9 to it): it must come back in the top 10."""
    rng = np.random.default_rng(1)
    database = _normalised(rng, 20_000, 64)
    planted = rng.choice(len(database), 300, replace=False)
    queries = database[planted] + 0.06 * rng.normal(size=(300, 64)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    index = ProteinIndex.build(iter(_shards(database, 3000)), kind=kind, pq_subquantizers=16)
    _, ids = index.search(queries, k=10)
    recall = np.mean([f"P{p}" in found for p, found in zip(planted, ids)])
    assert recall >= 0.95, (kind, recall)
    if kind == "ivf":  # visiting every cell is exact
        _, exact = index.search(queries, k=10, nprobe=index.metadata["nlist"])
        assert np.mean([f"P{p}" in found for p, found in zip(planted, exact)]) == 1.0
        assert index.index.nprobe == index.metadata["nprobe"]  # a per-call setting leaves the default alone


def test_save_load_card_and_conformal_threshold(tmp_path):
    """The threshold from 1,000 calibration queries at a 10% target keeps the miss rate on 1,000 new queries
    near 10%; it survives save/load, and the card says what the index holds."""
    rng = np.random.default_rng(2)
    database = _normalised(rng, 5000, 64)
    targets = rng.choice(len(database), 2000)
    noise = rng.uniform(0.02, 0.2, size=(2000, 1)).astype(np.float32)  # cosine to the target from 0.99 to 0.6
    queries = database[targets] + noise * rng.normal(size=(2000, 64)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    relevant = [{f"P{t}"} for t in targets]
    index = ProteinIndex.build(iter(_shards(database, 1000)), kind="flat",
                               metadata={"model": "org/protst", "model_fingerprint": "abc", "normalized": True})
    with pytest.raises(ValueError, match="no relevant protein in the top 1"):
        index.calibrate_threshold(queries[:1000], [{"P0"}] * 1000, error_rate=0.1, k=1)
    with pytest.raises(ValueError, match="needs at least 99 calibration queries"):
        index.calibrate_threshold(queries[:50], relevant[:50], error_rate=0.01)
    threshold = index.calibrate_threshold(queries[:1000], relevant[:1000], error_rate=0.1, k=50)
    index.save(tmp_path / "index")
    loaded = ProteinIndex.load(tmp_path / "index")
    assert loaded.metadata["threshold"] == threshold and loaded.metadata["threshold_error_rate"] == 0.1
    scores, ids = loaded.search(queries[1000:], k=50, threshold="calibrated")
    missed = np.mean([not (wanted & set(found)) for wanted, found in zip(relevant[1000:], ids)])
    assert 0.05 <= missed <= 0.15, missed  # measured: 0.074 at threshold 0.542
    assert np.all(np.isnan(scores) | (scores >= threshold))
    card = (tmp_path / "index" / "README.md").read_text()
    assert "5,000 protein embeddings" in card and "`abc`" in card and "target miss rate 0.1" in card
    with pytest.raises(ValueError, match="no calibrated threshold"):
        ProteinIndex.build(iter(_shards(database, 1000))).search(queries[:1], threshold="calibrated")


def test_retrieval_over_an_index_and_a_mismatched_model_is_refused(model_folder, other_folder, model, processor,
                                                                    fasta, rows, tmp_path, capsys):
    embed_file(fasta, model, processor, tmp_path / "emb", shard_size=10, progress=False)
    index = build_index(tmp_path / "emb", kind="flat")
    assert index.metadata["model"] == str(model_folder) and index.metadata["embedding"] == "protein"
    retrieval = ProteinTextRetrievalPipeline(model=model, processor=processor, precision="float32")
    query = rows[3]["function"]
    over_index = retrieval(query, index=index, top_k=5)
    with pytest.warns(UserWarning, match="2 FASTA record"):
        brute = retrieval(query, proteins=str(fasta), top_k=5)
    assert [h["id"] for h in over_index] == [h["id"] for h in brute]
    assert np.allclose([h["score"] for h in over_index], [h["score"] for h in brute], atol=1e-5)

    other = ProtSTModel.from_pretrained(other_folder).eval()
    with pytest.raises(MismatchedModelError, match="fingerprint"):
        ProteinTextRetrievalPipeline(model=other, processor=processor, precision="float32")(query, index=index)
    with pytest.raises(MismatchedModelError, match="index of text embeddings"):
        retrieval(rows[0]["sequence"], direction="protein-to-text", index=index)

    # the command line: embed, index, search with annotations; another model is refused with exit code 2
    assert cli(["embed", str(fasta), "--model", str(model_folder), "--output", str(tmp_path / "cli-emb"),
                "--shard-size", "10", "--quiet"]) == 0
    assert cli(["index", "build", "--embeddings", str(tmp_path / "cli-emb"), "--output",
                str(tmp_path / "cli-index")]) == 0
    annotations = tmp_path / "names.tsv"
    annotations.write_text("".join(f"{r['accession']}\t{r['prot_name']}\n" for r in rows[:23]))
    capsys.readouterr()
    assert cli(["search", query, "--index", str(tmp_path / "cli-index"), "--top-k", "5", "--annotations",
                str(annotations)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"# {query}" and len(lines) == 6
    names = {r["accession"]: r["prot_name"] for r in rows[:23]}
    for rank, (line, hit) in enumerate(zip(lines[1:], over_index), start=1):
        assert line.split("\t") == [str(rank), hit["id"], f"{hit['score']:.4f}", names[hit["id"]]]
    assert cli(["search", query, "--index", str(tmp_path / "cli-index"), "--model", str(other_folder)]) == 2
    assert "fingerprint" in capsys.readouterr().err


def test_index_push_and_load_through_a_hub_server(tmp_path):
    from utils.hub_server import HubServer

    rng = np.random.default_rng(3)
    database, queries = _normalised(rng, 3000, 32), _normalised(rng, 5, 32)
    index = ProteinIndex.build(iter(_shards(database, 1000)), kind="ivf", nlist=20,
                               metadata={"model": "org/protst", "model_fingerprint": "f00d", "normalized": True})
    index.save(tmp_path / "local")
    np.save(tmp_path / "queries.npy", queries)
    _, expected = index.search(queries, k=7)
    script = f"""
import json
import numpy as np
from protst_hf import ProteinIndex
from protst_hf.cli import main
index = ProteinIndex.load({str(tmp_path / "local")!r})
print(index.push_to_hub("org/protst-index"))
remote = ProteinIndex.load("org/protst-index")
_, ids = remote.search(np.load({str(tmp_path / "queries.npy")!r}), k=7)
print(json.dumps({{"ids": ids, "metadata": remote.metadata}}))
"""
    with HubServer() as hub:
        completed = subprocess.run([sys.executable, "-c", script], env=hub.env(str(tmp_path / "home")),
                                   capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert completed.returncode == 0, completed.stderr[-3000:]
        report = json.loads(completed.stdout.strip().splitlines()[-1])
        assert report["ids"] == expected and report["metadata"] == index.metadata
        files = hub.files("org/protst-index", repo_type="dataset")
        assert set(files) >= {"index.faiss", "ids.txt", "index_metadata.json", "README.md"}
        assert "index=\"org/protst-index\"" in files["README.md"].decode()  # the card names its repository
        assert any("lfs-upload" in r for r in hub.requests) and not hub.unhandled
