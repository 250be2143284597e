"""Retrieval metrics on known answers."""


import pytest
import torch

from protst_hf.evaluation.retrieval_metrics import retrieval_metrics
from utils.builders import ROOT

ROOT = ROOT


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
