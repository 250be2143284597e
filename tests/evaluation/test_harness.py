"""The harness through `protst evaluate`: JSON, markdown and plots."""

import json
import subprocess
import sys

import numpy as np
import pytest

from protst_hf.data.splits import mmseqs_path
from utils.tasks import located


@pytest.mark.slow
def test_cli_evaluate_writes_json_markdown_and_plots(tiny_model, rows, tmp_path):
    usable = located()
    for split, part in (("train", usable[:40]), ("validation", usable[40:52]), ("test", usable[52:67])):
        lines = ["sequence,label"] + [f"{r['sequence'][:200]},{int('Secreted' in r['subloc'])}" for r in part]
        (tmp_path / f"{split}.csv").write_text("\n".join(lines) + "\n")
    files = [f"binloc:{s}={tmp_path / f'{s}.csv'}" for s in ("train", "validation", "test")]
    command = [sys.executable, "-m", "protst_hf.cli", "evaluate", "--model", str(tiny_model), "--tasks",
               "binloc", "--protocol", "frozen", "--seeds", "2", "--epochs", "5", "--output",
               str(tmp_path / "out"), "--baselines", "majority,knn" + (",homology" if mmseqs_path() else ""),
               "--few-shot", "2", "--files", *files]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    entry = results["tasks"]["binloc"]
    assert entry["data"]["rows"] == {"train": 40, "validation": 12, "test": 15}
    assert len(entry["model"]["test"]["accuracy"]["values"]) == 2
    majority = int(sum("Secreted" in r["subloc"] for r in usable[:40]) > 20)
    assert entry["baselines"]["majority"]["test"]["accuracy"] == pytest.approx(
        np.mean([int("Secreted" in r["subloc"]) == majority for r in usable[52:67]]))
    assert entry["baselines"]["nonparam_2"]["shot"] == 2 and "accuracy" in entry["baselines"]["fewshot_2"]["test"]
    assert (tmp_path / "out" / "binloc.png").stat().st_size > 1000
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| binloc | accuracy |" in table and "| binloc | mcc |" in table
    assert "| binloc | accuracy |" in done.stdout
