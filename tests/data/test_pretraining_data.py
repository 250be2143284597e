"""Pretraining batches: deterministic, length-grouped, sharded."""


import numpy as np

from protst_hf.data.pretraining_data import make_batches, shard


def test_batches_are_deterministic_grouped_and_sharded():
    lengths = np.random.default_rng(0).integers(30, 1000, 500)
    first = make_batches(lengths, 8, seed=1, epoch=0)
    assert [b.tolist() for b in first] == [b.tolist() for b in make_batches(lengths, 8, seed=1, epoch=0)]
    assert [b.tolist() for b in first] != [b.tolist() for b in make_batches(lengths, 8, seed=1, epoch=1)]
    assert sorted(np.concatenate(first).tolist()) == list(range(500))
    grouped_spread = np.mean([lengths[b].max() - lengths[b].min() for b in first])
    random_spread = np.mean([lengths[b].max() - lengths[b].min() for b in make_batches(lengths, 8, 1, 0,
                                                                                          group_by_length=False)])
    assert grouped_spread < random_spread / 5
    budget = make_batches(lengths, 8, seed=1, epoch=0, max_tokens=4096, crop_length=450)
    padded = [(np.minimum(lengths[b], 450) + 2).max() * len(b) for b in budget]
    assert max(padded) <= 4096 and padded[0] == max(padded)  # the heaviest batch first
    shards = [shard(first, rank, 3) for rank in range(3)]
    assert len({len(s) for s in shards}) == 1
    assert not set(i for i, _ in shards[0]) & set(i for i, _ in shards[1])


def _pairs_folder(folder, sequences, card=True):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True)
    for split in ("train", "validation"):
        pq.write_table(pa.table({"accession": [f"P{i}" for i in range(len(sequences))], "sequence": sequences}),
                       folder / f"data/{split}-00000-of-00001.parquet")
    if card:
        (folder / "README.md").write_text(
            "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*.parquet\n"
            "  - split: validation\n    path: data/validation-*.parquet\n---\nrows\n")


def test_local_folders_named_alike_load_their_own_rows(tmp_path, monkeypatch):
    """`load_dataset(folder)` keys its cache by the folder's name and layout: two ProtDescribe folders both named
    `pairs/` loaded the first one's rows. `load_pairs` reads a folder's own parquet files."""
    import pytest

    from protst_hf.data.pretraining_data import load_pairs

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    _pairs_folder(tmp_path / "a" / "pairs", ["MKV"] * 3)
    _pairs_folder(tmp_path / "b" / "pairs", ["MKVL"] * 5)
    _pairs_folder(tmp_path / "c" / "pairs", ["MK"] * 2, card=False)
    assert len(load_pairs(str(tmp_path / "a" / "pairs"))) == 3
    assert load_pairs(str(tmp_path / "b" / "pairs"))["sequence"] == ["MKVL"] * 5
    assert len(load_pairs(str(tmp_path / "c" / "pairs"), split="validation")) == 2
    with pytest.raises(ValueError, match="no parquet files for split 'test'"):
        load_pairs(str(tmp_path / "a" / "pairs"), split="test")
    with pytest.raises(ValueError, match="no config 'original'"):
        load_pairs(str(tmp_path / "a" / "pairs"), config="original")
