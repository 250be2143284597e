"""Pretraining arguments: presets, config files, command line."""


import pytest

from protst_hf.training.arguments import PRESETS, parse_args


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


def test_a_misspelt_choice_fails_when_the_arguments_are_read():
    """`--text_unit` and `--crop_policy` are checked at parsing (flags and config files), not when the collator is
    built after the text bank."""
    assert parse_args(["--text_unit", "statement"])[1].text_unit == "statement"
    with pytest.raises(ValueError, match="text_unit must be one of text, statement, got 'statements'"):
        parse_args(["--text_unit", "statements"])
    with pytest.raises(ValueError, match="crop_policy must be one of random, n_terminal, termini"):
        parse_args(["--preset", "cpu", "--crop_policy", "c_terminal"])


def test_mask_rates_are_data_arguments():
    """The collator's mask rates are data arguments (checked at parsing); as --config_overrides, where they lived
    before, they are refused with the flag to use."""
    from protst_hf.training.build import requested_config

    model_args, data_args, _ = parse_args(["--preset", "tiny", "--protein_mask_rate", "0.3"])
    assert (data_args.protein_mask_rate, data_args.text_mask_rate) == (0.3, 0.15)
    with pytest.raises(ValueError, match="--text_mask_rate must be in"):
        parse_args(["--text_mask_rate", "1.5"])
    model_args.config_overrides = '{"protein_mask_rate": 0.2}'
    with pytest.raises(ValueError, match="data arguments.*--protein_mask_rate"):
        requested_config(model_args)


def test_a_time_budget_anneals_the_learning_rate_by_time_when_time_runs_out_first():
    """`--max_minutes`: the decay follows the larger of step and time progress, so a run stopped by its budget on a
    slow machine has annealed fully; without a budget it follows steps alone (transformers' schedules)."""
    import math
    from types import SimpleNamespace

    from protst_hf.training.pretrain import Pretrainer

    trainer = Pretrainer.__new__(Pretrainer)
    trainer.args = SimpleNamespace(warmup_steps=10, lr_scheduler="cosine", max_minutes=None)
    trainer.total_steps = 110
    assert trainer._lr_factor(5) == 0.5 and trainer._lr_factor(10) == 1.0
    assert trainer._lr_factor(60) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert trainer._lr_factor(110) == pytest.approx(0.0)
    trainer.args.max_minutes = 10.0
    trainer.state = {"train_seconds": 0.0}
    assert trainer._lr_factor(60) == pytest.approx(0.5)  # time 0 %, steps 50 %: steps lead
    trainer.state["train_seconds"] = 0.9 * 600
    assert trainer._lr_factor(60) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.9)))  # time leads
    assert not trainer._out_of_time()
    trainer.state["train_seconds"] = 600.0
    trainer.accelerator = SimpleNamespace(is_main_process=False)
    assert trainer._out_of_time() and trainer._lr_factor(60) == pytest.approx(0.0)
    trainer.args.lr_scheduler = "linear"
    trainer.state["train_seconds"] = 0.25 * 600
    assert trainer._lr_factor(20) == pytest.approx(0.75)


def test_the_cpu_preset_uses_the_flags_that_learned_and_the_paper_preset_keeps_the_original():
    def merged(argv):
        out = {}
        for part in parse_args(argv):
            out.update(vars(part))
        return out

    cpu = merged(["--preset", "cpu"])
    assert (cpu["mlm_weight"], cpu["mmp_protein_weight"], cpu["mmp_text_weight"]) == (0.0, 0.0, 0.0)
    assert '"contrastive_positives": "same_text"' in cpu["config_overrides"]
    assert (cpu["crop_policy"], cpu["crop_length"], cpu["export_protein_max_length"]) == ("n_terminal", 128, 128)
    assert cpu["mixed_precision"] == "auto" and cpu["max_minutes"] == 60.0
    paper = merged(["--preset", "esm2-650m"])
    assert paper["crop_policy"] == "random" and paper["crop_length"] == 450
    assert "contrastive_positives" not in (paper["config_overrides"] or "")
    assert paper["export_protein_max_length"] is None


def test_a_continued_checkpoint_takes_training_flags_and_refuses_shape_changes(pretraining_setup):
    """--model_name_or_path: loss weights, the text bank and other training fields are applied to the loaded config
    (they used to be dropped silently); a new projection size is refused; a field given twice differently is an
    error, the same value twice is not (it used to raise a duplicate-keyword TypeError)."""
    from protst_hf.training.arguments import DataArguments, ModelArguments
    from protst_hf.training.build import build_model, build_processor

    def build(**kwargs):
        model_args = ModelArguments(model_name_or_path=str(pretraining_setup / "init"), **kwargs)
        return build_model(model_args, build_processor(model_args, DataArguments()))

    model = build(mlm_weight=0.0, config_overrides='{"contrastive_text_bank": true, "frozen_towers_eval": true}')
    assert model.config.mlm_weight == 0.0 and model.config.contrastive_text_bank and model.config.frozen_towers_eval
    assert model.protst.config is model.config
    assert build().config.mlm_weight == 1.0  # nothing asked, nothing changed
    with pytest.raises(ValueError, match="projection_dim"):
        build(projection_dim=32)
    with pytest.raises(ValueError, match="given twice"):
        build(mlm_weight=0.0, config_overrides='{"mlm_weight": 0.5}')
    assert build(mlm_weight=0.5, config_overrides='{"mlm_weight": 0.5}').config.mlm_weight == 0.5
    with pytest.raises(ValueError, match="freeze_text_model"):
        build(freeze_text_model=False, config_overrides='{"contrastive_text_bank": true}')
