"""`f1_max` as a local `evaluate` module: `evaluate.load(path_to_this_file)` (no Hub fetch)."""

from protst_hf.evaluation.metrics import metric_class

F1Max = metric_class("f1_max")
