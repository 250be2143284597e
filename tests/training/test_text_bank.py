"""The text bank of `contrastive_text_bank`: its texts, each training text's target, and a pretraining run that
trains against it and records its training texts."""

import json
import os
import sys

import pytest
import torch

from protst_hf.training.text_bank import bank_targets, build_text_bank
from utils.pretraining import CONFIGS, common_args, run

MULTI = "SUBCELLULAR LOCATION: Cytoplasm. Nucleus."
CYTOPLASM, NUCLEUS = "SUBCELLULAR LOCATION: Cytoplasm.", "SUBCELLULAR LOCATION: Nucleus."


def test_bank_targets_spread_a_multi_statement_text_over_its_statements():
    texts, targets = bank_targets([MULTI, CYTOPLASM, MULTI], part_weight=0.0)
    assert texts == [MULTI, CYTOPLASM] and targets[MULTI] == ([0], [1.0])
    texts, targets = bank_targets([MULTI, CYTOPLASM], part_weight=1.0)
    assert texts == [CYTOPLASM, NUCLEUS]  # the missing statement joins the bank; MULTI, no target, leaves it
    assert targets[MULTI] == ([0, 1], [0.5, 0.5]) and targets[CYTOPLASM] == ([0], [1.0])
    texts, targets = bank_targets([MULTI, CYTOPLASM], part_weight=0.5)
    assert texts == [MULTI, CYTOPLASM, NUCLEUS] and targets[MULTI] == ([1, 2, 0], [0.25, 0.25, 0.5])


def test_bank_features_are_the_text_towers_pooled_features(make_config, processor):
    from protst_hf import ProtSTModel

    model = ProtSTModel(make_config(contrastive_text_bank=True, text_bank_part_weight=1.0)).train()
    bank = build_text_bank(model, processor, [MULTI, CYTOPLASM, CYTOPLASM], part_weight=1.0)
    assert model.training  # restored
    tokens = processor(text=bank.texts, return_tensors="pt")
    with torch.no_grad():
        expected = model.eval().get_text_features(tokens["text_input_ids"], tokens["text_attention_mask"],
                                                  project=False, normalize=False)
    assert torch.allclose(bank.features, expected, atol=1e-5)
    assert bank.texts == [CYTOPLASM, NUCLEUS]
    assert bank.targets([0, 2]).tolist() == [[0.5, 0.5], [1.0, 0.0]]


@pytest.mark.distributed
@pytest.mark.slow
def test_pretraining_against_the_text_bank_records_its_training_texts(pretraining_setup, tmp_path):
    """A real run from configs with the bank and soft targets, under DDP on 2 gloo processes: it learns, and the
    exported model says its scores are text-bank posteriors (training_texts.json)."""
    out = tmp_path / "run"
    args = common_args(pretraining_setup, steps=6, output_dir=out, model_name_or_path="",
                       protein_config=pretraining_setup / "esm", text_config=pretraining_setup / "bert",
                       text_tokenizer=pretraining_setup / "bert", projection_dim=16, mlm_weight=0,
                       mmp_protein_weight=0, mmp_text_weight=0, config_overrides=json.dumps(
                           {"fusion_num_attention_heads": 2, "contrastive_text_bank": True,
                            "text_bank_part_weight": 1.0, "frozen_towers_eval": True}))
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / "ddp.yaml"),
                "--num_processes", "2", "--main_process_port", str(29700 + os.getpid() % 200)]
    completed = run(args + ["--cpu", "true"], launcher=launcher, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = json.loads((out / "final" / "training_texts.json").read_text())
    assert record["objective"] == "text_bank" and record["rows"] == sum(record["texts"].values())
    config = json.loads((out / "final" / "config.json").read_text())
    assert config["contrastive_text_bank"] and config["frozen_towers_eval"]
    logged = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all(r["train/contrastive_loss"] > 0 for r in logged if "train/contrastive_loss" in r)


@pytest.mark.slow
def test_pretraining_on_go_texts_one_statement_at_a_time(pretraining_setup, tmp_path, capsys):
    """A GO build (tests/fixtures/go) trained with text_unit="statement" against a bank of its statements: the
    model folder records term frequencies and each namespace's template, which `protst classify --field` reads."""
    from protst_hf.cli import main as cli
    from protst_hf.data.gene_ontology import GeneOntology, build_go_protdescribe
    from protst_hf.models.protst.texts_protst import text_parts
    from utils.builders import FIXTURES

    go = FIXTURES / "go"
    build_go_protdescribe(go / "annotations.tsv", GeneOntology.from_files(go / "go_terms.tsv", go / "go_graph.tsv"),
                          tmp_path / "pairs", split="random", ratios=(0.8, 0.1, 0.1), propagate_texts=True,
                          progress=False)
    out = tmp_path / "run"
    args = common_args(pretraining_setup, steps=4, dataset=tmp_path / "pairs", output_dir=out, model_name_or_path="",
                       protein_config=pretraining_setup / "esm", text_config=pretraining_setup / "bert",
                       text_tokenizer=pretraining_setup / "bert", projection_dim=16, mlm_weight=0,
                       mmp_protein_weight=0, mmp_text_weight=0, text_unit="statement", config_overrides=json.dumps(
                           {"fusion_num_attention_heads": 2, "contrastive_text_bank": True,
                            "text_bank_part_weight": 1.0, "frozen_towers_eval": True}))
    completed = run(args + ["--cpu", "true"], timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = json.loads((out / "final" / "training_texts.json").read_text())
    assert record["text_unit"] == "statement" and record["objective"] == "text_bank"
    assert set(record["templates"]) == {"molecular_function", "biological_process", "cellular_component"}
    assert all(text_parts(text) == [text] for text in record["texts"])  # single statements, each a GO term
    assert max(record["texts"].values()) <= record["rows"]
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAKQRQISFVKSHFSRQ\n>b\nMSDNGPQNQRNAPRITFGGPSDSTGSNQNGERS\n")
    terms = tmp_path / "terms.txt"
    terms.write_text("ATP binding\nDNA binding\nnucleus\n")
    assert cli(["classify", str(fasta), "--model", str(out / "final"), "--labels-file", str(terms), "--field",
                "molecular_function", "--multi-label", "--output", str(tmp_path / "scores.tsv")]) == 0
    assert "prior: uniform (nothing added: the model was trained against a text bank" in capsys.readouterr().err
    lines = (tmp_path / "scores.tsv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 3 and all(0 <= float(line.split("\t")[2]) <= 1 for line in lines[1:])
