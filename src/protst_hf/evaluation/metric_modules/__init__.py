"""Local `evaluate` modules, one per metric of `protst_hf.evaluation.metrics`."""
