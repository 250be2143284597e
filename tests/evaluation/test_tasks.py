"""Task loading: local files, bad rows counted, the residue alphabet; the registry holds loadable tasks only."""

import pytest

from protst_hf.evaluation.tasks import Task, load_task


def test_local_files_space_separated_residues_and_bad_rows_counted(tmp_path):
    (tmp_path / "train.csv").write_text("prot_seq,localization\nM K T A Y,1\nMKT1AY,0\n,1\nmktay*,0\nMKTAY,\n"
                                        "MKTAW,2\n")
    (tmp_path / "test.csv").write_text("prot_seq,localization\nM K L L,1\nMKLV,0\n")
    task = Task("tiny", "single_label", ("accuracy",), "test task", label_names=("0", "1"))
    data = load_task(task, files={"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")})
    train = data.splits["train"].sequences + data.splits["validation"].sequences
    assert sorted(train) == ["MKTAY", "MKTAY"]  # residues joined, case and '*' cleaned
    assert data.report["skipped"] == {
        "train: empty sequence or a character that is not a residue": 2,
        "train: missing or unparsable label": 1,
        "train: label not among the task's classes": 1,
    }
    assert data.splits["test"].sequences == ["MKLL", "MKLV"]
    assert list(data.splits["test"].labels) == [1, 0]
    assert "10% of train" in data.report["validation"]


def test_multi_label_and_fasta_regression_sources(tmp_path):
    (tmp_path / "train.tsv").write_text("sequence\tlabel\nMKTAY\tNucleus|Cytoplasm\nMKLLV\tCytoplasm\n")
    task = Task("multi", "multi_label", ("f1_max",), "multi", label_names=("Cytoplasm", "Nucleus"))
    data = load_task(task, files={"train": str(tmp_path / "train.tsv"), "validation": str(tmp_path / "train.tsv"),
                                  "test": str(tmp_path / "train.tsv")})
    assert data.splits["test"].labels.tolist() == [[1, 1], [1, 0]]
    (tmp_path / "v.fasta").write_text(">0|variant_A1B|1.5\nMKTAY\n>1|variant_A2C|-0.25\nMKTAW\n")
    regression = Task("fit", "regression", ("spearman",), "fitness")
    data = load_task(regression, files={"train": str(tmp_path / "v.fasta"), "validation": str(tmp_path / "v.fasta"),
                                        "test": str(tmp_path / "v.fasta")})
    assert data.splits["test"].labels.tolist() == [1.5, -0.25]


def test_a_residue_the_processor_refuses_is_refused_by_the_task_loader_too(tmp_path, processor):
    """'J' is a letter but no residue: the loader, the processor and the pipelines apply one alphabet."""
    (tmp_path / "train.csv").write_text("sequence,label\nMKTJAYIAK,0\nMKTAYIAK,1\nMKTAYIAKQ,0\n")
    task = Task("toy", "single_label", ("accuracy",), "toy")
    data = load_task(task, files={"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "train.csv")})
    assert "J" not in "".join(data.splits["train"].sequences + data.splits["validation"].sequences)
    assert data.report["skipped"] == {"train: empty sequence or a character that is not a residue": 1,
                                      "test: empty sequence or a character that is not a residue": 1}
    with pytest.raises(ValueError, match="invalid character 'J' at position 3"):
        processor(proteins=["MKTJAYIAK"])


def test_the_registry_holds_tasks_a_user_can_load():
    """Every registered task has a public source (a Hub dataset) or is loaded from files the user passes; loaders of
    machine-local data live in benchmarks/shared_tasks.py."""
    from protst_hf.evaluation.tasks import TASKS

    assert all(task.loader is None for task in TASKS.values())
    assert {"binloc", "subloc", "betalac", "ec", "go_mf"} <= set(TASKS)
    assert not {"peer_binloc", "betalac_esm", "deeploc2_subloc"} & set(TASKS)
