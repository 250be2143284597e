"""Homology-aware splits and the sequence reader of data/splits.py."""


import pytest

from protst_hf.data.splits import assign_splits, read_sequences
from utils.builders import FIXTURES

UNIPROT = FIXTURES / "uniprot"


def test_assign_splits_keeps_groups_whole_and_hits_targets():
    import numpy as np

    groups = np.repeat(np.arange(400), np.random.default_rng(0).integers(1, 6, 400))
    assignment = assign_splits(groups, (0.9, 0.05, 0.05), seed=1)
    for group in np.unique(groups):
        assert len(set(assignment[groups == group])) == 1
    counts = np.bincount(assignment, minlength=3)
    target = round(0.05 * len(groups))
    assert target - 5 <= counts[1] <= target and target - 5 <= counts[2] <= target
    with pytest.raises(ValueError):
        assign_splits(groups, (0.5, 0.2, 0.2))


def test_read_sequences_fasta_and_csv(tmp_path):
    fasta = tmp_path / "a.fasta"
    fasta.write_text(">x desc\nMKT\nAAY\n>y\nGG\n")
    assert list(read_sequences(fasta)) == [("x", "MKTAAY"), ("y", "GG")]
    spaced = tmp_path / "b.csv"
    spaced.write_text("name,sequence\np1,M K T A\n")  # the mila-intel sets store residues space-separated
    assert list(read_sequences(spaced)) == [("p1", "MKTA")]
    with pytest.raises(ValueError, match="no `sequence` column"):
        list(read_sequences(tmp_path.joinpath("c.csv").write_text("a,b\n1,2\n") and tmp_path / "c.csv"))
