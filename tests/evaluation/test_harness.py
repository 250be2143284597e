"""The harness through `protst evaluate`: JSON, markdown and plots."""

import json
import subprocess
import sys

import numpy as np
import pytest

from protst_hf.data.splits import mmseqs_path
from protst_hf.evaluation.tasks import Task, TaskData, TaskSplit
from protst_hf.resources import demo_rows
from utils.builders import save_tiny_model

stats = pytest.importorskip("scipy.stats")


def _located():
    """The package's Swiss-Prot sample entries that have a location (67): a real annotation to learn."""
    return [r for r in demo_rows() if r.get("subloc")]


def _toy_task(rows=None) -> TaskData:
    """Real Swiss-Prot sample proteins; label: secreted or not, from their SUBCELLULAR LOCATION text."""
    usable = _located()
    sequences = [r["sequence"][:300] for r in usable]
    labels = np.asarray([int("Secreted" in r["subloc"]) for r in usable])
    split = {"train": slice(0, 40), "validation": slice(40, 52), "test": slice(52, 67)}
    task = Task("toy", "single_label", ("accuracy", "mcc"), "secreted or not", label_names=("no", "yes"))
    return TaskData(task, {k: TaskSplit(sequences[s], labels[s]) for k, s in split.items()}, ["no", "yes"], {})


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, processor):
    return save_tiny_model(tmp_path_factory.mktemp("tiny"), processor)


def test_cli_evaluate_writes_json_markdown_and_plots(tiny_model, rows, tmp_path):
    usable = _located()
    for split, part in (("train", usable[:40]), ("validation", usable[40:52]), ("test", usable[52:67])):
        lines = ["sequence,label"] + [f"{r['sequence'][:200]},{int('Secreted' in r['subloc'])}" for r in part]
        (tmp_path / f"{split}.csv").write_text("\n".join(lines) + "\n")
    files = [f"peer_binloc:{s}={tmp_path / f'{s}.csv'}" for s in ("train", "validation", "test")]
    command = [sys.executable, "-m", "protst_hf.cli", "evaluate", "--model", str(tiny_model), "--tasks",
               "peer_binloc", "--protocol", "frozen", "--seeds", "2", "--epochs", "5", "--output",
               str(tmp_path / "out"), "--baselines", "majority,knn" + (",homology" if mmseqs_path() else ""),
               "--few-shot", "2", "--files", *files]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    entry = results["tasks"]["peer_binloc"]
    assert entry["data"]["rows"] == {"train": 40, "validation": 12, "test": 15}
    assert len(entry["model"]["test"]["accuracy"]["values"]) == 2
    majority = int(sum("Secreted" in r["subloc"] for r in usable[:40]) > 20)
    assert entry["baselines"]["majority"]["test"]["accuracy"] == pytest.approx(
        np.mean([int("Secreted" in r["subloc"]) == majority for r in usable[52:67]]))
    assert entry["baselines"]["nonparam_2"]["shot"] == 2 and "accuracy" in entry["baselines"]["fewshot_2"]["test"]
    assert (tmp_path / "out" / "peer_binloc.png").stat().st_size > 1000
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| peer_binloc | accuracy |" in table and "| peer_binloc | mcc |" in table
    assert "| peer_binloc | accuracy |" in done.stdout
