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
