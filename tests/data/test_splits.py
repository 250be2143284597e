"""Homology-aware splits and the sequence reader of data/splits.py."""


import csv

import pytest

from protst_hf.data.splits import assign_splits, mmseqs_hits, read_sequences, write_fasta
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


@pytest.mark.needs_mmseqs
@pytest.mark.parametrize("iterations", [1, 2])
@pytest.mark.slow
def test_mmseqs_hits_one_search_and_profile_search(tmp_path, iterations):
    with open(FIXTURES / "go" / "annotations.tsv") as f:
        records = [(r["accession"], r["sequence"]) for r in csv.DictReader(f, delimiter="\t")][:40]
    write_fasta(tmp_path / "targets.fasta", records)
    write_fasta(tmp_path / "queries.fasta", records[:5])
    hits = mmseqs_hits(tmp_path / "queries.fasta", tmp_path / "targets.fasta", max_hits=3, iterations=iterations,
                       threads=1, workdir=tmp_path)
    assert sorted(hits) == sorted(a for a, _ in records[:5])
    for query, found in hits.items():
        assert found[0][:2] == (query, 1.0)  # a protein's best hit is itself, at 100% identity
        assert 1 <= len(found) <= 3 and len({t for t, _, _ in found}) == len(found)
        assert [b for _, _, b in found] == sorted((b for _, _, b in found), reverse=True)


def test_mmseqs_hits_refuses_zero_iterations(tmp_path):
    with pytest.raises(ValueError, match="iterations"):
        mmseqs_hits(tmp_path / "q.fasta", tmp_path / "t.fasta", iterations=0)
