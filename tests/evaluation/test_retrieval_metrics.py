"""Retrieval metrics on known answers."""


import pytest
import torch

from protst_hf.evaluation.retrieval_metrics import retrieval_metrics


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


def test_the_frequency_baseline_and_the_macro_recall_cannot_be_won_without_the_protein():
    """A model that ranks texts by their training frequency whatever the protein: its protein->text recall equals the
    frequency baseline, and its macro recall is exactly chance."""
    torch.manual_seed(0)
    texts = ["common"] * 30 + ["rare A"] * 5 + ["rare B"] * 5
    prior = torch.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])  # text embeddings by frequency
    text_embeds = prior[[0] * 30 + [1] * 5 + [2] * 5]
    proteins = torch.tensor([[1.0, 0.5, 0.2]]).repeat(40, 1)  # every protein alike: the ranking is the prior
    metrics = retrieval_metrics(proteins, text_embeds, texts=texts, ks=(1, 2),
                                train_text_counts={"common": 300, "rare A": 50, "rare B": 40})
    assert metrics["protein_to_text_recall@1"] == metrics["protein_to_text_recall@1_frequency"] == 0.75
    assert metrics["protein_to_text_recall@1_chance"] == pytest.approx(1 / 3)
    assert metrics["protein_to_text_macro_recall@1"] == pytest.approx(1 / 3)
    assert metrics["protein_to_text_macro_recall@1"] == pytest.approx(metrics["protein_to_text_macro_recall@1_chance"])
    assert metrics["protein_to_text_macro_recall@2"] == pytest.approx(2 / 3)
