"""Pretraining arguments: presets, config files, command line."""


import pytest

from protst_hf.training.arguments import PRESETS, parse_args
from utils.builders import ROOT

ROOT = ROOT


def test_arguments_precedence(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("learning_rate: 0.002\nmax_steps: 7\n")
    model_args, data_args, train_args = parse_args(["--preset", "tiny", "--config", str(config), "--max_steps", "9",
                                                    "--dataset", "somewhere"])
    assert train_args.learning_rate == 0.002 and train_args.max_steps == 9  # config over preset, CLI over config
    assert model_args.protein_config == PRESETS["tiny"]["protein_config"] and data_args.dataset == "somewhere"
    _, _, paper = parse_args(["--preset", "esm2-650m"])
    assert (paper.learning_rate, paper.encoder_lr_ratio, paper.per_device_batch_size, paper.max_grad_norm) == \
        (1e-5, 0.1, 3, None)
    config.write_text("learning_rat: 1\n")
    with pytest.raises(ValueError, match="learning_rat"):
        parse_args(["--config", str(config)])
