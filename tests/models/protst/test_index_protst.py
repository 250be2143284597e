"""ProteinIndex on FAISS: exact and approximate search, saving, cards, conformal thresholds, Hub round trip."""

import json
import subprocess
import sys

import numpy as np
import pytest

from protst_hf import (
    ProteinIndex,
)


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
@pytest.mark.slow
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


@pytest.mark.slow
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
