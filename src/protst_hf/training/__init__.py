"""Pretraining with accelerate (the library never imports this package): arguments and presets (`arguments`), the
model and processor of a run (`build`), the loop (`pretrain`), validation (`validation`), atomic checkpoints
(`checkpoint`), and the exported folders and curves (`export`)."""

from .arguments import PRESETS, DataArguments, ModelArguments, TrainArguments, parse_args
from .pretrain import NonFiniteLossError, Pretrainer, run_pretraining

__all__ = ["PRESETS", "DataArguments", "ModelArguments", "NonFiniteLossError", "Pretrainer", "TrainArguments",
           "parse_args", "run_pretraining"]
