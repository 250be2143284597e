"""Model cards from a real (tiny) pretraining run."""

import json

import pytest
from huggingface_hub import ModelCard

from protst_hf.hub.cards import render_model_card


@pytest.mark.slow
def test_model_card_carries_the_run_metrics_and_parses_back(pretrained, harness_results):
    info = json.loads((pretrained / "final" / "training_info.json").read_text())
    assert info["arguments"]["max_steps"] == 4 and info["hardware"]["processes"] == 1
    assert info["dataset_report"]["rows"]["written"]["train"] > 0
    card = render_model_card(pretrained / "final", "org/protst-tiny", eval_results=harness_results("org/protst-tiny"))
    parsed = ModelCard(str(card))  # the YAML parses back
    data = parsed.data.to_dict()
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "feature-extraction"
    assert {"protein", "biology", "protst"} <= set(data["tags"]) and data["license"] == "apache-2.0"
    results = {(r.dataset_type, r.metric_type): r.metric_value for r in parsed.data.eval_results}
    assert results == {("peer_binloc", "accuracy"): 0.8125, ("betalac_esm", "spearman"): 0.4321}
    text = parsed.text
    metrics = info["metrics"]
    # the run's own numbers, not placeholders
    assert f"| protein → text | {metrics['protein_to_text_recall@1']:.3f} (chance" in text
    assert f"Steps: {info['state']['global_step']}" in text and "learning rate 0.001" in text
    assert f"{info['state']['samples_seen']:,}" in text
    assert "0.812 ± 0.011" in text and "| 0.550 |" in text  # evaluation table, with its baseline
    assert "random split" in text and "truncated" in text and "{{" not in text
