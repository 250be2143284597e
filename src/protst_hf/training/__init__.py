"""Pretraining with accelerate (the library never imports this package)."""

from .arguments import PRESETS, DataArguments, ModelArguments, TrainArguments, parse_args
from .pretrain import NonFiniteLossError, Pretrainer, run_pretraining

__all__ = ["PRESETS", "DataArguments", "ModelArguments", "NonFiniteLossError", "Pretrainer", "TrainArguments",
           "parse_args", "run_pretraining"]
