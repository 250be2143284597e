"""`spearman` as a local `evaluate` module: `evaluate.load(path_to_this_file)` (no Hub fetch)."""

from protst_hf.evaluation.metrics import metric_class

Spearman = metric_class("spearman")
