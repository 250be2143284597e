"""Evaluation: benchmark tasks (`tasks`), metrics (`metrics`, local `evaluate` modules), baselines (`baselines`), the
downstream protocols (`protocols`: frozen, full, LoRA), the harness that runs them (`harness`, `protst evaluate`),
and retrieval metrics (`retrieval_metrics`)."""
