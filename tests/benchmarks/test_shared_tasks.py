"""The machine-local tasks of benchmarks/shared_tasks.py, on ../shared/data (skipped when it is absent)."""


import numpy as np
import pytest

from protst_hf.evaluation.tasks import TASKS, load_task
from utils.builders import SHARED_DATA


@pytest.mark.skipif(not (SHARED_DATA / "beta_lactamase_esm").exists(), reason="../shared/data absent")
def test_beta_lactamase_mutations_are_applied_to_the_mature_sequence():
    from benchmarks import shared_tasks

    assert "betalac_esm" not in TASKS  # registered only by register()
    data = load_task(shared_tasks.SHARED_TASKS["betalac_esm"], data_root=shared_tasks.DATA)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 3996, "validation": 500, "test": 500}
    assert data.report["skipped"] == {}  # every mutant's wild-type residue matched the mature TEM-1 sequence
    sequences = data.splits["train"].sequences
    assert {len(s) for s in sequences} == {263}
    columns = np.array([list(s) for s in sequences])
    wild_type = "".join(max(set(c), key=list(c).count) for c in columns.T)
    assert wild_type.startswith("HPETLVKVKDAEDQ")  # the mature TEM-1 sequence of ESM's numbering
    assert {int((row != np.array(list(wild_type))).sum()) for row in columns} <= {0, 1}  # single mutants
