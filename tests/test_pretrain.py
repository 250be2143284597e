"""Pretraining: real runs of examples/pretrain/run_pretrain.py (python, accelerate launch with DDP and DeepSpeed on
gloo) on a tiny model and real Swiss-Prot pairs."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from protst_hf.data.pretraining_data import make_batches, shard
from protst_hf.evaluation.retrieval_metrics import retrieval_metrics
from protst_hf.training.arguments import PRESETS, parse_args
from protst_hf.training.checkpoint import latest_checkpoint, resolve_resume
from utils.builders import FIXTURES, tiny_protein_config, tiny_text_config

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "pretrain" / "run_pretrain.py"
CONFIGS = ROOT / "examples" / "pretrain" / "configs"
FAULTS = ROOT / "tests" / "utils" / "pretrain_with_faults.py"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Tiny ESM / BERT configs, a tokenizer, a ProtDescribe build of the 2022 XML sample, an initial checkpoint."""
    from transformers import BertTokenizer

    from protst_hf.data.protdescribe import build_protdescribe
    from protst_hf.training.arguments import DataArguments, ModelArguments
    from protst_hf.training.build import build_model, build_processor

    root = tmp_path_factory.mktemp("pretrain")
    tokenizer = BertTokenizer(vocab=str(FIXTURES / "text_tokenizer" / "vocab.txt"))
    tiny_protein_config().save_pretrained(root / "esm")
    tiny_text_config(tokenizer.vocab_size).save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    build_protdescribe([FIXTURES / "uniprot" / "uniprot_sprot_2022_250entries.xml"], root / "data", split="random",
                       ratios=(0.8, 0.1, 0.1), progress=False, with_original=False)
    model_args = ModelArguments(protein_config=str(root / "esm"), text_config=str(root / "bert"),
                                text_tokenizer=str(root / "bert"), projection_dim=16,
                                config_overrides='{"fusion_num_attention_heads": 2}')
    data_args = DataArguments(crop_length=64, eval_max_length=64)
    torch.manual_seed(0)
    processor = build_processor(model_args, data_args)
    build_model(model_args, processor).save_pretrained(root / "init")
    processor.save_pretrained(root / "init")
    return root


def common_args(root: Path, steps: int = 6, **overrides) -> list[str]:
    values = dict(dataset=root / "data", model_name_or_path=root / "init", crop_length=64, eval_max_length=64,
                  per_device_batch_size=4, learning_rate=1e-3, encoder_lr_ratio=1.0, max_steps=steps,
                  logging_steps=1, eval_steps=steps, save_steps=3, max_eval_samples=16, report_to="none")
    values.update(overrides)
    return [arg for key, value in values.items() for arg in (f"--{key}", str(value))]


def run(args: list[str], launcher: list[str] | None = None, env: dict | None = None, timeout: int = 300,
        fault: list[str] | None = None):
    """examples/pretrain/run_pretrain.py in a subprocess, or, with `fault` (e.g. `["--kill-at-step", "5"]`), the same
    run with a fault injected by tests/utils/pretrain_with_faults.py."""
    script = [str(SCRIPT)] if fault is None else [str(FAULTS), *fault, "--"]
    command = (launcher or [sys.executable]) + [*script, *args]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT)


def losses(output_dir: Path) -> dict[int, float]:
    result = {}
    for line in (output_dir / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "train/loss" in record:
            result[record["step"]] = record["train/loss"]
    return result


def test_a_few_cpu_steps_single_process(setup, tmp_path):
    out = tmp_path / "run"
    completed = run(common_args(setup, steps=10, output_dir=out, save_total_limit=2, eval_steps=5))
    assert completed.returncode == 0, completed.stderr[-3000:]
    trajectory = losses(out)
    assert sorted(trajectory) == list(range(1, 11))
    assert np.mean([trajectory[s] for s in (8, 9, 10)]) < np.mean([trajectory[s] for s in (1, 2, 3)])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 10 and summary["best_step"] in (5, 10)
    evals = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if "eval/mean_recall" in line]
    assert [e["step"] for e in evals] == [5, 10]
    assert {"eval/protein_to_text_recall@10", "eval/text_to_protein_mean_rank", "eval/mlm_accuracy"} <= set(evals[0])
    assert [p.name for p in sorted((out / "checkpoints").iterdir())] == ["step-00000009", "step-00000010"]
    assert (out / "curves.png").stat().st_size > 10_000
    from transformers import AutoModelForPreTraining, AutoProcessor

    final = AutoModelForPreTraining.from_pretrained(out / "final")
    assert (out / "final" / "modeling_protst.py").exists() and AutoProcessor.from_pretrained(out / "final")
    state = load_file(out / "checkpoints" / "step-00000010" / "model.safetensors")
    assert torch.equal(final.protst.protein_projection.dense.weight, state["protst.protein_projection.dense.weight"])
    assert json.loads((out / "best" / "training_info.json").read_text())["step"] == summary["best_step"]


def test_resume_after_sigkill_continues_exactly(setup, tmp_path):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    assert run(common_args(setup, steps=8, output_dir=reference)).returncode == 0
    killed = run(common_args(setup, steps=8, output_dir=interrupted), fault=["--kill-at-step", "5"])
    assert killed.returncode == -signal.SIGKILL
    assert latest_checkpoint(interrupted).name == "step-00000003"
    resumed = run(common_args(setup, steps=8, output_dir=interrupted, resume_from_checkpoint="latest"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr
    expected, got = losses(reference), losses(interrupted)  # steps 4-5 were run twice: the resumed values win
    assert got.keys() == expected.keys() and all(abs(got[s] - expected[s]) < 1e-6 for s in expected)
    a, b = load_file(reference / "final" / "model.safetensors"), load_file(interrupted / "final" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_kill_while_writing_a_checkpoint_keeps_the_previous_one(setup, tmp_path):
    out = tmp_path / "run"
    killed = run(common_args(setup, steps=8, output_dir=out), fault=["--kill-during-save", "6"])
    assert killed.returncode == -signal.SIGKILL
    assert (out / "checkpoints" / ".tmp-step-00000006").is_dir()  # written, never completed
    assert latest_checkpoint(out).name == "step-00000003" == resolve_resume("latest", out).name
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        resolve_resume(str(out / "checkpoints" / ".tmp-step-00000006"), out)
    resumed = run(common_args(setup, steps=8, output_dir=out, resume_from_checkpoint="latest"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not (out / "checkpoints" / ".tmp-step-00000006").exists()
    assert latest_checkpoint(out).name == "step-00000008"


def test_ddp_zero2_zero3_agree(setup, tmp_path):
    results = {}
    for name, config, extra in (("ddp", "ddp.yaml", ["--cpu", "true"]), ("zero2", "deepspeed_zero2.yaml", []),
                                ("zero3", "deepspeed_zero3.yaml", [])):
        out = tmp_path / name
        launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / config),
                    "--num_processes", "2", "--main_process_port", str(29500 + len(results) + os.getpid() % 500)]
        completed = run(common_args(setup, steps=4, output_dir=out) + extra, launcher=launcher, timeout=600)
        assert completed.returncode == 0, (name, completed.stderr[-4000:])
        results[name] = (losses(out), load_file(out / "final" / "model.safetensors"))
    single = tmp_path / "single"
    assert run(common_args(setup, steps=4, output_dir=single, per_device_batch_size=8)).returncode == 0
    reference_losses, reference_weights = results["ddp"]
    assert len(reference_losses) == 4
    for name, (trajectory, weights) in results.items():
        assert all(abs(trajectory[s] - reference_losses[s]) < 1e-4 * abs(reference_losses[s])
                   for s in trajectory), name
        assert weights.keys() == reference_weights.keys()
        assert max((weights[k] - reference_weights[k]).abs().max().item() for k in weights) < 1e-5, name
    # 2 processes x 4 = 8 rows per step, the same global batch as one process x 8 (rows grouped differently)
    assert abs(losses(single)[1] - reference_losses[1]) < 0.2 * reference_losses[1]


def test_nonfinite_loss_stops_with_the_batch_ids_or_is_skipped(setup, tmp_path):
    stopped = tmp_path / "stopped"
    completed = run(common_args(setup, steps=4, output_dir=stopped), fault=["--nan-at-step", "3"])
    assert completed.returncode != 0 and "NonFiniteLossError" in completed.stderr
    report = json.loads((stopped / "nonfinite-step-00000003" / "nonfinite.json").read_text())
    assert report["step"] == 3 and len(report["row_ids"]) == 4
    assert report["loss_terms"]["loss"] != report["loss_terms"]["loss"]  # NaN
    assert (stopped / "nonfinite-step-00000003" / "model.safetensors").exists()
    skipped = tmp_path / "skipped"
    completed = run(common_args(setup, steps=4, output_dir=skipped, skip_nonfinite="true"),
                    fault=["--nan-at-step", "3"])
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads((skipped / "summary.json").read_text())["skipped_nonfinite"] == 1
    assert sorted(losses(skipped)) == [1, 2, 3, 4]  # step 3 was taken by the next batch


def test_a_dataset_without_usable_rows_fails_fast(setup, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"sequence": ["MK1T", "", "ABC#"], "function": ["x", "y", "z"]}), bad)
    completed = run(common_args(setup, output_dir=tmp_path / "out", dataset=bad, validation_split="none"))
    assert completed.returncode != 0
    assert "no usable rows" in completed.stderr and "invalid residue in sequence" in completed.stderr


def test_streaming_dataset(setup, tmp_path):
    out = tmp_path / "stream"
    completed = run(common_args(setup, steps=3, output_dir=out, streaming="true"))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert sorted(losses(out)) == [1, 2, 3]


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


def test_batches_are_deterministic_grouped_and_sharded():
    lengths = np.random.default_rng(0).integers(30, 1000, 500)
    first = make_batches(lengths, 8, seed=1, epoch=0)
    assert [b.tolist() for b in first] == [b.tolist() for b in make_batches(lengths, 8, seed=1, epoch=0)]
    assert [b.tolist() for b in first] != [b.tolist() for b in make_batches(lengths, 8, seed=1, epoch=1)]
    assert sorted(np.concatenate(first).tolist()) == list(range(500))
    grouped_spread = np.mean([lengths[b].max() - lengths[b].min() for b in first])
    random_spread = np.mean([lengths[b].max() - lengths[b].min() for b in make_batches(lengths, 8, 1, 0,
                                                                                          group_by_length=False)])
    assert grouped_spread < random_spread / 5
    budget = make_batches(lengths, 8, seed=1, epoch=0, max_tokens=4096, crop_length=450)
    padded = [(np.minimum(lengths[b], 450) + 2).max() * len(b) for b in budget]
    assert max(padded) <= 4096 and padded[0] == max(padded)  # the heaviest batch first
    shards = [shard(first, rank, 3) for rank in range(3)]
    assert len({len(s) for s in shards}) == 1
    assert not set(i for i, _ in shards[0]) & set(i for i, _ in shards[1])


def test_retrieval_metrics_known_answers():
    embeddings = torch.randn(40, 8)
    perfect = retrieval_metrics(embeddings, embeddings.clone())
    assert perfect["protein_to_text_recall@1"] == perfect["text_to_protein_recall@1"] == 1.0
    assert perfect["protein_to_text_mean_rank"] == 1.0 and perfect["mean_recall"] == 1.0
    assert perfect["protein_to_text_recall@10_chance"] == pytest.approx(10 / 40)
    # four texts shared by ten proteins each: text -> protein is right if any of its ten proteins is ranked first
    texts = [f"location {i % 4}" for i in range(40)]
    centers = torch.eye(8)[:4]
    proteins = centers[[i % 4 for i in range(40)]] + 0.01 * torch.randn(40, 8)
    grouped = retrieval_metrics(proteins, centers[[i % 4 for i in range(40)]], texts=texts)
    assert grouped["num_texts"] == 4 and grouped["protein_to_text_recall@1"] == 1.0
    assert grouped["text_to_protein_recall@1"] == 1.0
    assert grouped["text_to_protein_recall@1_chance"] == pytest.approx(10 / 40)
    reversed_texts = retrieval_metrics(proteins, -centers[[i % 4 for i in range(40)]], texts=texts)
    assert reversed_texts["protein_to_text_recall@1"] == 0.0


def test_packed_protein_tower_trains_identically(setup, tmp_path):
    """`--protein_packed` changes how the protein tower runs, not what it computes: the same losses step by step."""
    trajectories = {}
    for packed in (False, True):
        out = tmp_path / f"packed-{packed}"
        completed = run(common_args(setup, steps=4, output_dir=out, eval_steps=4, save_steps=4, export_final=False,
                                    protein_packed=packed))
        assert completed.returncode == 0, completed.stderr[-3000:]
        trajectories[packed] = losses(out)
    assert sorted(trajectories[True]) == [1, 2, 3, 4]
    assert np.allclose([trajectories[True][s] for s in range(1, 5)], [trajectories[False][s] for s in range(1, 5)],
                       rtol=1e-4), trajectories
