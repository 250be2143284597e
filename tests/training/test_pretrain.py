"""Pretraining: real runs of examples/pretrain/run_pretrain.py (python, accelerate launch with DDP and DeepSpeed on
gloo) on a tiny model and real Swiss-Prot pairs."""

import json
import os
import signal
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from protst_hf.training.checkpoint import latest_checkpoint, resolve_resume
from utils.pretraining import CONFIGS, common_args, losses, run


@pytest.mark.slow
def test_a_few_cpu_steps_single_process(pretraining_setup, tmp_path):
    out = tmp_path / "run"
    completed = run(common_args(pretraining_setup, steps=10, output_dir=out, save_total_limit=2, eval_steps=5))
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


@pytest.mark.slow
def test_resume_after_sigkill_continues_exactly(pretraining_setup, tmp_path):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    assert run(common_args(pretraining_setup, steps=8, output_dir=reference)).returncode == 0
    killed = run(common_args(pretraining_setup, steps=8, output_dir=interrupted), fault=["--kill-at-step", "5"])
    assert killed.returncode == -signal.SIGKILL
    assert latest_checkpoint(interrupted).name == "step-00000003"
    resumed = run(common_args(pretraining_setup, steps=8, output_dir=interrupted, resume_from_checkpoint="latest"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr
    expected, got = losses(reference), losses(interrupted)  # steps 4-5 were run twice: the resumed values win
    assert got.keys() == expected.keys() and all(abs(got[s] - expected[s]) < 1e-6 for s in expected)
    a, b = load_file(reference / "final" / "model.safetensors"), load_file(interrupted / "final" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_kill_while_writing_a_checkpoint_keeps_the_previous_one(pretraining_setup, tmp_path):
    out = tmp_path / "run"
    killed = run(common_args(pretraining_setup, steps=8, output_dir=out), fault=["--kill-during-save", "6"])
    assert killed.returncode == -signal.SIGKILL
    assert (out / "checkpoints" / ".tmp-step-00000006").is_dir()  # written, never completed
    assert latest_checkpoint(out).name == "step-00000003" == resolve_resume("latest", out).name
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        resolve_resume(str(out / "checkpoints" / ".tmp-step-00000006"), out)
    resumed = run(common_args(pretraining_setup, steps=8, output_dir=out, resume_from_checkpoint="latest"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not (out / "checkpoints" / ".tmp-step-00000006").exists()
    assert latest_checkpoint(out).name == "step-00000008"


@pytest.mark.distributed
@pytest.mark.slow
def test_ddp_zero2_zero3_agree(pretraining_setup, tmp_path):
    results = {}
    for name, config, extra in (("ddp", "ddp.yaml", ["--cpu", "true"]), ("zero2", "deepspeed_zero2.yaml", []),
                                ("zero3", "deepspeed_zero3.yaml", [])):
        out = tmp_path / name
        launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / config),
                    "--num_processes", "2", "--main_process_port", str(29500 + len(results) + os.getpid() % 500)]
        completed = run(common_args(pretraining_setup, steps=4, output_dir=out) + extra, launcher=launcher,
                        timeout=600)
        assert completed.returncode == 0, (name, completed.stderr[-4000:])
        results[name] = (losses(out), load_file(out / "final" / "model.safetensors"))
    single = tmp_path / "single"
    assert run(common_args(pretraining_setup, steps=4, output_dir=single, per_device_batch_size=8)).returncode == 0
    reference_losses, reference_weights = results["ddp"]
    assert len(reference_losses) == 4
    for name, (trajectory, weights) in results.items():
        assert all(abs(trajectory[s] - reference_losses[s]) < 1e-4 * abs(reference_losses[s])
                   for s in trajectory), name
        assert weights.keys() == reference_weights.keys()
        # Adam divides each gradient by its own magnitude: a weight whose gradient is ~0 up to float32 rounding
        # (a different summation order per strategy and CPU) can step +lr or -lr. So: nearly every weight equal
        # within float32 noise, and none apart by more than the 4 steps of lr 1e-3 a missed update would leave
        differences = torch.cat([(weights[k] - reference_weights[k]).abs().flatten() for k in weights])
        assert (differences > 1e-5).float().mean().item() < 1e-3, name
        assert differences.max().item() < 2e-3, name
    # 2 processes x 4 = 8 rows per step, the same global batch as one process x 8 (rows grouped differently)
    assert abs(losses(single)[1] - reference_losses[1]) < 0.2 * reference_losses[1]


@pytest.mark.slow
def test_nonfinite_loss_stops_with_the_batch_ids_or_is_skipped(pretraining_setup, tmp_path):
    stopped = tmp_path / "stopped"
    completed = run(common_args(pretraining_setup, steps=4, output_dir=stopped), fault=["--nan-at-step", "3"])
    assert completed.returncode != 0 and "NonFiniteLossError" in completed.stderr
    report = json.loads((stopped / "nonfinite-step-00000003" / "nonfinite.json").read_text())
    assert report["step"] == 3 and len(report["row_ids"]) == 4
    assert report["loss_terms"]["loss"] != report["loss_terms"]["loss"]  # NaN
    assert (stopped / "nonfinite-step-00000003" / "model.safetensors").exists()
    skipped = tmp_path / "skipped"
    completed = run(common_args(pretraining_setup, steps=4, output_dir=skipped, skip_nonfinite="true"),
                    fault=["--nan-at-step", "3"])
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads((skipped / "summary.json").read_text())["skipped_nonfinite"] == 1
    assert sorted(losses(skipped)) == [1, 2, 3, 4]  # step 3 was taken by the next batch


@pytest.mark.slow
def test_a_dataset_without_usable_rows_fails_fast(pretraining_setup, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"sequence": ["MK1T", "", "ABC#"], "function": ["x", "y", "z"]}), bad)
    completed = run(common_args(pretraining_setup, output_dir=tmp_path / "out", dataset=bad, validation_split="none"))
    assert completed.returncode != 0
    assert "no usable rows" in completed.stderr and "invalid residue in sequence" in completed.stderr


@pytest.mark.slow
def test_streaming_dataset(pretraining_setup, tmp_path):
    out = tmp_path / "stream"
    completed = run(common_args(pretraining_setup, steps=3, output_dir=out, streaming="true"))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert sorted(losses(out)) == [1, 2, 3]


@pytest.mark.slow
def test_packed_protein_tower_trains_identically(pretraining_setup, tmp_path):
    """`--protein_packed` changes how the protein tower runs, not what it computes: the same losses step by step."""
    trajectories = {}
    for packed in (False, True):
        out = tmp_path / f"packed-{packed}"
        completed = run(common_args(pretraining_setup, steps=4, output_dir=out, eval_steps=4, save_steps=4,
                                    export_final=False, protein_packed=packed))
        assert completed.returncode == 0, completed.stderr[-3000:]
        trajectories[packed] = losses(out)
    assert sorted(trajectories[True]) == [1, 2, 3, 4]
    assert np.allclose([trajectories[True][s] for s in range(1, 5)], [trajectories[False][s] for s in range(1, 5)],
                       rtol=1e-4), trajectories


@pytest.mark.slow
def test_a_corrupt_checkpoint_is_a_clear_error_naming_the_older_ones(pretraining_setup, tmp_path):
    out = tmp_path / "run"
    assert run(common_args(pretraining_setup, steps=6, output_dir=out)).returncode == 0
    latest = latest_checkpoint(out)
    (latest / "model.safetensors").write_bytes(b"not a safetensors file")
    resumed = run(common_args(pretraining_setup, steps=8, output_dir=out, resume_from_checkpoint="latest"))
    assert resumed.returncode == 2
    message = resumed.stderr.strip().splitlines()[-1]
    assert message.startswith("error: CorruptCheckpointError: checkpoint") and "cannot be loaded" in message
    assert "step-00000003" in message  # the complete older checkpoint to resume from
    (latest / "trainer_state.json").write_text("{ truncated")
    resumed = run(common_args(pretraining_setup, steps=8, output_dir=out, resume_from_checkpoint="latest"))
    assert resumed.returncode == 2 and "trainer_state.json cannot be read" in resumed.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_validation_reports_baselines_collapse_and_zero_shot(pretraining_setup, tmp_path, rows):
    """Every recall beside its frequency baseline and chance, the pooled-feature cosine, unigram baselines, and with
    label texts zero-shot accuracy, balanced accuracy and the histogram; best/ chosen by a metric the frequency
    baseline cannot win."""
    zero_shot = tmp_path / "zero_shot.csv"
    zero_shot.write_text("sequence,label\n" + "".join(f"{r['sequence']},{label}\n" for r, label in
                                                      zip(rows[:12], ["Nucleus", "Cytoplasm|Nucleus", "6"] * 4)))
    out = tmp_path / "run"
    completed = run(common_args(pretraining_setup, steps=4, output_dir=out, eval_steps=2, zero_shot_file=zero_shot,
                                zero_shot_label_set="subcellular_location"))
    assert completed.returncode == 0, completed.stderr[-3000:]
    evals = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if "eval/num_proteins" in line]
    last = evals[-1]
    for key in ("protein_to_text_recall@10_frequency", "protein_to_text_macro_recall@10",
                "protein_to_text_macro_recall@10_chance", "macro_mean_recall", "protein_feature_mean_cosine",
                "protein_embedding_mean_cosine", "mlm_accuracy_unigram_baseline", "zero_shot_accuracy",
                "zero_shot_balanced_accuracy", "zero_shot_majority_baseline"):
        assert f"eval/{key}" in last, key
    assert -1 <= last["eval/protein_feature_mean_cosine"] <= 1
    histogram = {k: v for k, v in last.items() if k.startswith("eval/zero_shot_predicted/")}
    assert abs(sum(histogram.values()) - 1) < 1e-3
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["best_metric"]) == ["zero_shot_balanced_accuracy"]
    assert (out / "curves.png").stat().st_size > 10_000
