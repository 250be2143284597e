"""The GPU suite runs end to end in its tiny mode (CPU; no speed claim)."""


import pytest

from utils.builders import ROOT


@pytest.mark.slow
def test_gpu_suite_runs_end_to_end_in_its_tiny_mode(tmp_path):
    """The GPU suite is only measured on a lent GPU; here its tiny mode proves every row runs (no speed claim)."""
    import json
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "benchmarks.gpu_suite", "--tiny", "--output", str(tmp_path / "out.json")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((tmp_path / "out.json").read_text())["rows"]
    assert len(rows) == 6 and all(r["value"] > 0 for r in rows), rows  # no variant failed
    assert "| vs stock |" in done.stdout
