"""Evaluation harness: metrics against scikit-learn/scipy, task loading, the three protocols, baselines, CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from protst_hf.data.splits import mmseqs_path
from protst_hf.evaluation import metrics
from protst_hf.evaluation.baselines import (
    few_shot_indices,
    homology_baseline,
    knn_scores,
    majority_baseline,
    nonparametric_few_shot,
)
from protst_hf.evaluation.protocols import (
    FinetuneArguments,
    cached_features,
    finetune,
    load_task_model,
    predict,
    protein_features,
    save_result,
)
from protst_hf.evaluation.tasks import Task, TaskData, TaskSplit, load_task
from protst_hf.resources import demo_rows
from utils.builders import SHARED_DATA, save_tiny_model

sklearn_metrics = pytest.importorskip("sklearn.metrics")
stats = pytest.importorskip("scipy.stats")
needs_mmseqs = pytest.mark.skipif(mmseqs_path() is None, reason="MMseqs2 not installed")


# ---------------------------------------------------------------------------------------------------- metrics


def _f1_max_reference(y_true, y_score):
    """CAFA protein-centric Fmax written from the definition, one protein and one threshold at a time."""
    best = 0.0
    for t in np.linspace(0, 1, 101):
        precisions, recalls = [], []
        for truth, score in zip(y_true, y_score):
            predicted = {j for j, s in enumerate(score) if s >= t}
            true = {j for j, v in enumerate(truth) if v}
            if predicted:
                precisions.append(len(predicted & true) / len(predicted))
            if true:
                recalls.append(len(predicted & true) / len(true))
        if precisions:
            p, r = np.mean(precisions), np.mean(recalls)
            if p + r:
                best = max(best, 2 * p * r / (p + r))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_the_reference_libraries(seed):
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 5, 300)
    scores = rng.random((300, 5)) + np.eye(5)[classes] * rng.random(300)[:, None]
    predicted = scores.argmax(1)
    assert metrics.accuracy(classes, scores) == pytest.approx(sklearn_metrics.accuracy_score(classes, predicted))
    assert metrics.mcc(classes, scores) == pytest.approx(sklearn_metrics.matthews_corrcoef(classes, predicted))
    x = rng.normal(size=200)
    y = np.round(x + rng.normal(size=200), 1)  # rounded: ties, which the rank correlation must average
    assert metrics.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert metrics.pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic)
    multi = (rng.random((80, 12)) < 0.2).astype(int)
    multi[0] = 0  # a protein without labels: excluded from recall, as CAFA
    multi_scores = np.round(np.clip(multi * 0.4 + rng.random((80, 12)) * 0.7, 0, 1), 2)
    assert metrics.auprc_micro(multi, multi_scores) == pytest.approx(
        sklearn_metrics.average_precision_score(multi, multi_scores, average="micro"))
    assert metrics.f1_max(multi, multi_scores) == pytest.approx(_f1_max_reference(multi, multi_scores))
    # and through the local `evaluate` modules (no Hub fetch)
    assert metrics.load_metric("f1_max").compute(references=multi, predictions=multi_scores)["f1_max"] == \
        pytest.approx(metrics.f1_max(multi, multi_scores))
    assert metrics.load_metric("mcc").compute(references=classes, predictions=scores.argmax(1))["mcc"] == \
        pytest.approx(metrics.mcc(classes, scores))


def test_metric_edge_cases():
    assert metrics.f1_max([[1, 0], [0, 1]], [[1.0, 0.0], [0.0, 1.0]]) == 1.0
    assert np.isnan(metrics.spearman([1, 2, 3], [5, 5, 5]))  # constant prediction: undefined, not 0
    assert metrics.mcc([0, 1, 0], [0, 0, 0]) == 0.0
    with pytest.raises(KeyError, match="unknown metric"):
        metrics.compute("auroc", [0], [0])


# ---------------------------------------------------------------------------------------------------- tasks


def test_local_files_space_separated_residues_and_bad_rows_counted(tmp_path):
    (tmp_path / "train.csv").write_text("prot_seq,localization\nM K T A Y,1\nMKT1AY,0\n,1\nmktay*,0\nMKTAY,\n"
                                        "MKTAW,2\n")
    (tmp_path / "test.csv").write_text("prot_seq,localization\nM K L L,1\nMKLV,0\n")
    task = Task("tiny", "single_label", ("accuracy",), "test task", label_names=("0", "1"))
    data = load_task(task, files={"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")})
    train = data.splits["train"].sequences + data.splits["validation"].sequences
    assert sorted(train) == ["MKTAY", "MKTAY"]  # residues joined, case and '*' cleaned
    assert data.report["skipped"] == {
        "train: empty sequence or a character that is not a residue": 2,
        "train: missing or unparsable label": 1,
        "train: label not among the task's classes": 1,
    }
    assert data.splits["test"].sequences == ["MKLL", "MKLV"]
    assert list(data.splits["test"].labels) == [1, 0]
    assert "10% of train" in data.report["validation"]


def test_multi_label_and_fasta_regression_sources(tmp_path):
    (tmp_path / "train.tsv").write_text("sequence\tlabel\nMKTAY\tNucleus|Cytoplasm\nMKLLV\tCytoplasm\n")
    task = Task("multi", "multi_label", ("f1_max",), "multi", label_names=("Cytoplasm", "Nucleus"))
    data = load_task(task, files={"train": str(tmp_path / "train.tsv"), "validation": str(tmp_path / "train.tsv"),
                                  "test": str(tmp_path / "train.tsv")})
    assert data.splits["test"].labels.tolist() == [[1, 1], [1, 0]]
    (tmp_path / "v.fasta").write_text(">0|variant_A1B|1.5\nMKTAY\n>1|variant_A2C|-0.25\nMKTAW\n")
    regression = Task("fit", "regression", ("spearman",), "fitness")
    data = load_task(regression, files={"train": str(tmp_path / "v.fasta"), "validation": str(tmp_path / "v.fasta"),
                                        "test": str(tmp_path / "v.fasta")})
    assert data.splits["test"].labels.tolist() == [1.5, -0.25]


@pytest.mark.skipif(not (SHARED_DATA / "beta_lactamase_esm").exists(), reason="../shared/data absent")
def test_beta_lactamase_mutations_are_applied_to_the_mature_sequence():
    data = load_task("betalac_esm")
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 3996, "validation": 500, "test": 500}
    assert data.report["skipped"] == {}  # every mutant's wild-type residue matched the mature TEM-1 sequence
    sequences = data.splits["train"].sequences
    assert {len(s) for s in sequences} == {263}
    columns = np.array([list(s) for s in sequences])
    wild_type = "".join(max(set(c), key=list(c).count) for c in columns.T)
    assert wild_type.startswith("HPETLVKVKDAEDQ")  # the mature TEM-1 sequence of ESM's numbering
    assert {int((row != np.array(list(wild_type))).sum()) for row in columns} <= {0, 1}  # single mutants


# ---------------------------------------------------------------------------------------------------- protocols


def _located():
    """The package's Swiss-Prot sample entries that have a location (67): a real annotation to learn."""
    return [r for r in demo_rows() if r.get("subloc")]


def _toy_task(rows=None) -> TaskData:
    """Real Swiss-Prot sample proteins; label: secreted or not, from their SUBCELLULAR LOCATION text."""
    usable = _located()
    sequences = [r["sequence"][:300] for r in usable]
    labels = np.asarray([int("Secreted" in r["subloc"]) for r in usable])
    split = {"train": slice(0, 40), "validation": slice(40, 52), "test": slice(52, 67)}
    task = Task("toy", "single_label", ("accuracy", "mcc"), "secreted or not", label_names=("no", "yes"))
    return TaskData(task, {k: TaskSplit(sequences[s], labels[s]) for k, s in split.items()}, ["no", "yes"], {})


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, processor):
    return save_tiny_model(tmp_path_factory.mktemp("tiny"), processor)


def test_frozen_protocol_learns_and_cached_features_give_the_same_predictions(tiny_model, rows, tmp_path):
    data = _toy_task(rows)
    model, tokenizer = load_task_model(tiny_model, data)
    args = FinetuneArguments(protocol="frozen", epochs=40, head_lr=3e-3, cache_dir=str(tmp_path / "cache"))
    result = finetune(model, tokenizer, data, args)
    assert np.mean(result.train_losses[-5:]) < np.mean(result.train_losses[:5])
    assert len(list((tmp_path / "cache").glob("features-*.npy"))) == 3
    # the same head on freshly computed (uncached) features, and the whole model on sequences, agree
    features = protein_features(model, tokenizer, data.splits["test"].sequences)
    assert np.allclose(cached_features(model, tokenizer, data.splits["test"], args), features, atol=1e-6)
    end_to_end = predict(model, tokenizer, data.splits["test"].sequences, data, args)
    assert np.allclose(end_to_end, result.test_scores, atol=1e-5)
    # the trained classifier saves and reloads with AutoModelForSequenceClassification
    save_result(result, tmp_path / "saved", tokenizer)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved").eval()
    assert reloaded.config.id2label == {0: "no", 1: "yes"}
    assert np.allclose(predict(reloaded, tokenizer, data.splits["test"].sequences, data, args), end_to_end, atol=1e-5)
    assert json.loads((tmp_path / "saved" / "finetune_result.json").read_text())["best_epoch"] == result.best_epoch


def test_full_protocol_trains_the_encoder_at_its_ratio(tiny_model, rows):
    data = _toy_task(rows)
    model, tokenizer = load_task_model(tiny_model, data)
    before = {k: v.clone() for k, v in model.protein_model.state_dict().items()}
    args = FinetuneArguments(protocol="full", epochs=4, batch_size=8, head_lr=1e-3, crop=120)
    result = finetune(model, tokenizer, data, args)
    assert result.args["encoder_lr_ratio"] == 0.02  # ESM-2 (rotary) default of the spec
    assert np.mean(result.train_losses[-4:]) < np.mean(result.train_losses[:4])
    changed = [k for k, v in result.model.protein_model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "full fine-tuning must update the encoder"
    assert set(result.validation) == {"accuracy", "mcc"} and 1 <= result.best_epoch <= 4


def test_lora_adapter_saves_alone_reloads_identically_and_leaves_the_base_untouched(tiny_model, rows, tmp_path):
    from peft import PeftModel

    data = _toy_task(rows)
    model, tokenizer = load_task_model(tiny_model, data)
    base = {k: v.clone() for k, v in model.protein_model.state_dict().items()}
    args = FinetuneArguments(protocol="lora", epochs=4, batch_size=8, head_lr=3e-3, crop=120)
    result = finetune(model, tokenizer, data, args)
    assert np.mean(result.train_losses[-4:]) < np.mean(result.train_losses[:4])
    result.model.save_pretrained(tmp_path / "adapter")
    saved = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= saved
    assert (tmp_path / "adapter" / "adapter_model.safetensors").stat().st_size < 200_000  # adapter + head only

    fresh, _ = load_task_model(tiny_model, data)
    for name, tensor in fresh.protein_model.state_dict().items():
        assert torch.equal(tensor, base[name]), f"{name}: the base checkpoint changed"
    merged_off = result.model.get_base_model().protein_model.state_dict()
    for name, tensor in base.items():  # LoRA never writes the frozen base weights
        key = name.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        assert torch.equal(merged_off.get(key, merged_off.get(name)), tensor)
    reloaded = PeftModel.from_pretrained(fresh, tmp_path / "adapter").eval()
    sequences = data.splits["test"].sequences
    assert np.allclose(predict(reloaded, tokenizer, sequences, data, args),
                       predict(result.model, tokenizer, sequences, data, args), atol=1e-6)


# ---------------------------------------------------------------------------------------------------- baselines


def _mutate(sequence, rng, rate=0.1):
    letters = np.array(list(sequence))
    positions = rng.random(len(letters)) < rate
    letters[positions] = rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), positions.sum())
    return "".join(letters)


@needs_mmseqs
def test_homology_baseline_transfers_the_nearest_homologs_label(rows):
    rng = np.random.default_rng(0)
    families = [r["sequence"] for r in rows if 150 <= len(r["sequence"]) <= 400][:6]
    train = TaskSplit([_mutate(f, rng) for f in families], np.asarray([0, 1, 2, 0, 1, 2]))
    queries = [_mutate(families[i], rng) for i in (2, 0, 4, 5)] + ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"),
                                                                                          200))]
    test = TaskSplit(queries, np.asarray([2, 0, 1, 2, 0]))
    task = Task("hom", "single_label", ("accuracy",), "hand-built families", label_names=("a", "b", "c"))
    data = TaskData(task, {"train": train, "validation": test, "test": test}, ["a", "b", "c"], {})
    result = homology_baseline(data)
    assert result["hits"] == 4 and result["coverage"] == pytest.approx(0.8)  # the random protein has no homolog
    # the four family members get their family's label; the random one falls back to the majority (a tie: 'a')
    assert result["test"]["accuracy"] == pytest.approx(1.0)
    assert result["median_identity"] > 0.7


def test_few_shot_sampling_and_the_nonparametric_classifier():
    labels = np.asarray([0, 0, 0, 1, 1, 2])
    rows = few_shot_indices(labels, 2, seed=0)
    assert sorted(labels[rows].tolist()) == [0, 0, 1, 1, 2, 2]  # class 2 has one protein: drawn with replacement
    task = Task("f", "single_label", ("accuracy",), "", label_names=("a", "b", "c"))
    centres = np.asarray([[0.0, 0], [10, 0], [0, 10]])
    train = TaskSplit(["A"] * 6, labels)
    test = TaskSplit(["A"] * 3, np.asarray([2, 0, 1]))
    data = TaskData(task, {"train": train, "validation": test, "test": test}, ["a", "b", "c"], {})
    # 1280-d-like distances: exp(-d^2) underflows to 0 in float64, the log-space scores still rank correctly
    features = {"train": centres[labels] * 30, "test": centres[[2, 0, 1]] * 30 + 1.0}
    assert nonparametric_few_shot(data, features, shot=2, seeds=2)["test"]["accuracy"] == 1.0


def test_majority_and_knn_baselines():
    task = Task("k", "single_label", ("accuracy",), "", label_names=("a", "b"))
    train = TaskSplit(["A"] * 6, np.asarray([0, 0, 0, 0, 1, 1]))
    test = TaskSplit(["A"] * 2, np.asarray([1, 0]))
    data = TaskData(task, {"train": train, "validation": test, "test": test}, ["a", "b"], {})
    assert majority_baseline(data)["test"]["accuracy"] == 0.5
    features = np.eye(6)[[0, 1, 2, 3, 4, 5]] + 0.01
    query = np.stack([features[4] + features[5], features[0]])  # near the two 'b' proteins / one 'a' protein
    assert knn_scores(data, features, query, k=2).argmax(1).tolist() == [1, 0]


# ---------------------------------------------------------------------------------------------------- CLI


def test_cli_evaluate_writes_json_markdown_and_plots(tiny_model, rows, tmp_path):
    usable = _located()
    for split, part in (("train", usable[:40]), ("validation", usable[40:52]), ("test", usable[52:67])):
        lines = ["sequence,label"] + [f"{r['sequence'][:200]},{int('Secreted' in r['subloc'])}" for r in part]
        (tmp_path / f"{split}.csv").write_text("\n".join(lines) + "\n")
    files = [f"peer_binloc:{s}={tmp_path / f'{s}.csv'}" for s in ("train", "validation", "test")]
    command = [sys.executable, "-m", "protst_hf.cli", "evaluate", "--model", str(tiny_model), "--tasks",
               "peer_binloc", "--protocol", "frozen", "--seeds", "2", "--epochs", "5", "--output",
               str(tmp_path / "out"), "--baselines", "majority,knn" + (",homology" if mmseqs_path() else ""),
               "--few-shot", "2", "--files", *files]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    entry = results["tasks"]["peer_binloc"]
    assert entry["data"]["rows"] == {"train": 40, "validation": 12, "test": 15}
    assert len(entry["model"]["test"]["accuracy"]["values"]) == 2
    majority = int(sum("Secreted" in r["subloc"] for r in usable[:40]) > 20)
    assert entry["baselines"]["majority"]["test"]["accuracy"] == pytest.approx(
        np.mean([int("Secreted" in r["subloc"]) == majority for r in usable[52:67]]))
    assert entry["baselines"]["nonparam_2"]["shot"] == 2 and "accuracy" in entry["baselines"]["fewshot_2"]["test"]
    assert (tmp_path / "out" / "peer_binloc.png").stat().st_size > 1000
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| peer_binloc | accuracy |" in table and "| peer_binloc | mcc |" in table
    assert "| peer_binloc | accuracy |" in done.stdout


def test_full_protocol_under_accelerate_launch_ddp(tiny_model, tmp_path):
    """Two CPU processes (DDP over gloo): each trains on its share of every batch; validation and test scores are
    gathered back into input order, so the reported test metric equals a one-process prediction of the saved
    best model."""
    usable = _located()
    for split, part in (("train", usable[:40]), ("validation", usable[40:52]), ("test", usable[52:67])):
        lines = ["sequence,label"] + [f"{r['sequence'][:150]},{int('Secreted' in r['subloc'])}" for r in part]
        (tmp_path / f"{split}.csv").write_text("\n".join(lines) + "\n")
    files = [f"peer_binloc:{s}={tmp_path / f'{s}.csv'}" for s in ("train", "validation", "test")]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "protst_hf.cli",
               "evaluate", "--model", str(tiny_model), "--tasks", "peer_binloc", "--protocol", "full", "--seeds", "1",
               "--epochs", "2", "--batch-size", "4", "--lr", "1e-3", "--crop", "100", "--baselines", "majority",
               "--output", str(tmp_path / "out"), "--save-models", "--files", *files]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    reported = results["tasks"]["peer_binloc"]["model"]["test"]["accuracy"]["values"][0]
    data = load_task("peer_binloc", files={s: str(tmp_path / f"{s}.csv") for s in ("train", "validation", "test")})
    saved = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out" / "models" / "peer_binloc").eval()
    from transformers import AutoProcessor

    tokenizer = AutoProcessor.from_pretrained(tmp_path / "out" / "models" / "peer_binloc")
    scores = predict(saved, tokenizer, data.splits["test"].sequences, data, FinetuneArguments())
    assert reported == pytest.approx(metrics.accuracy(data.splits["test"].labels, scores))


def test_a_residue_the_processor_refuses_is_refused_by_the_task_loader_too(tmp_path, processor):
    """'J' is a letter but no residue: the loader, the processor and the pipelines apply one alphabet."""
    (tmp_path / "train.csv").write_text("sequence,label\nMKTJAYIAK,0\nMKTAYIAK,1\nMKTAYIAKQ,0\n")
    task = Task("toy", "single_label", ("accuracy",), "toy")
    data = load_task(task, files={"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "train.csv")})
    assert "J" not in "".join(data.splits["train"].sequences + data.splits["validation"].sequences)
    assert data.report["skipped"] == {"train: empty sequence or a character that is not a residue": 1,
                                      "test: empty sequence or a character that is not a residue": 1}
    with pytest.raises(ValueError, match="invalid character 'J' at position 3"):
        processor(proteins=["MKTJAYIAK"])
