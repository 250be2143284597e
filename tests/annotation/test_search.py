"""The reference's neighbour search without MMseqs2 (annotation/search.py): the masked scan of the cross-fit equals a
float64 brute force over the allowed rows, whatever the block size, and the index hands out its stored vectors."""

import numpy as np
import pytest
import torch

from protst_hf.annotation import search
from protst_hf.models.protst.index_protst import ProteinIndex


@pytest.fixture
def index_and_vectors():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ProteinIndex.build([([str(i) for i in range(300)], vectors)]), vectors


def test_the_index_hands_out_its_stored_vectors(index_and_vectors):
    index, vectors = index_and_vectors
    np.testing.assert_array_equal(index.vectors(), vectors)
    np.testing.assert_array_equal(index.vectors(290, 400), vectors[290:])


@pytest.mark.parametrize("chunk", [7, 64, 4096])
def test_masked_scan_equals_brute_force_over_the_allowed_rows(index_and_vectors, monkeypatch, chunk):
    index, vectors = index_and_vectors
    monkeypatch.setattr(search, "SCAN_CHUNK", chunk)
    queries = vectors[:20] + 0.1 * np.random.default_rng(1).standard_normal((20, 16)).astype(np.float32)
    exclude = np.arange(0, 300, 3)
    cosines, rows = search.nearest_excluding(index, torch.from_numpy(queries), 10, exclude)
    exact = queries.astype(np.float64) @ vectors.astype(np.float64).T
    exact[:, exclude] = -np.inf
    expected = np.argsort(-exact, axis=1, kind="stable")[:, :10]
    assert not np.isin(rows, exclude).any()
    np.testing.assert_array_equal(rows, expected)  # random data: no near-ties at float32 rounding
    np.testing.assert_allclose(cosines, np.take_along_axis(exact, expected, 1), rtol=0, atol=1e-5)


def test_fewer_allowed_rows_than_k_are_padded_with_minus_one(index_and_vectors):
    index, vectors = index_and_vectors
    exclude = np.arange(3, 300)
    cosines, rows = search.nearest_excluding(index, torch.from_numpy(vectors[:2]), 5, exclude)
    assert sorted(rows[0, :3].tolist()) == [0, 1, 2] and rows[:, 3:].tolist() == [[-1, -1], [-1, -1]]
    assert (cosines[:, 3:] == 0).all()


def test_index_and_embedding_folders_carry_their_format_version(index_and_vectors, tmp_path):
    """Each folder the package writes names its layout's version; one from a later version is refused, one from before
    the field reads as version 1."""
    import json

    from protst_hf.embedding.shards import iter_embedding_shards

    index, vectors = index_and_vectors
    folder = index.save(tmp_path / "index", card=False)
    metadata = json.loads((folder / "index_metadata.json").read_text())
    assert metadata["format_version"] == 1
    assert len(ProteinIndex.load(folder)) == 300
    (folder / "index_metadata.json").write_text(json.dumps({**metadata, "format_version": 2}))
    with pytest.raises(ValueError, match="index format 2"):
        ProteinIndex.load(folder)
    (folder / "index_metadata.json").write_text(json.dumps({k: v for k, v in metadata.items()
                                                            if k != "format_version"}))
    assert len(ProteinIndex.load(folder)) == 300
    shards = tmp_path / "embeddings"
    shards.mkdir()
    (shards / "manifest.json").write_text(json.dumps({"format_version": 2, "format": "npy", "shards": 0}))
    with pytest.raises(ValueError, match="embedding folder format 2"):
        list(iter_embedding_shards(shards))
