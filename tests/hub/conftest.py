"""Fixtures of the publishing tests: a finished tiny pretraining run and a `protst evaluate` results.json."""

import pytest

from utils.pretraining import common_args, run


@pytest.fixture(scope="session")
def harness_results():
    """A `protst evaluate` results.json in the harness's schema (two tasks, one regression), for a model name."""

    def results(model: str) -> dict:
        """A `protst evaluate` results.json in the harness's schema (two tasks, one regression)."""
        def task(label_type, metric, mean, std, baseline):
            return {"description": "", "label_type": label_type, "metrics": [metric],
                    "data": {"rows": {"train": 80, "validation": 10, "test": 20}}, "paper": {},
                    "model": {"test": {metric: {"mean": mean, "std": std}}},
                    "baselines": {"majority": {"test": {metric: baseline}}}}
        return {"model": model, "protocol": "frozen", "seeds": [0, 1, 2],
                "tasks": {"peer_binloc": task("single_label", "accuracy", 0.8125, 0.0112, 0.55),
                          "betalac_esm": task("regression", "spearman", 0.4321, 0.02, float("nan"))}}

    return results


@pytest.fixture(scope="session")
def pretrained(pretraining_setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("hub") / "run"
    completed = run(common_args(pretraining_setup, steps=4, output_dir=out, eval_steps=4, save_steps=4))
    assert completed.returncode == 0, completed.stderr[-3000:]
    return out

