"""Protein-text retrieval metrics: Recall@K and mean rank in both directions, each beside baselines that cannot be
mistaken for learning.

Texts are compared by content: proteins that share the same text (common in Swiss-Prot, e.g. "SUBCELLULAR
LOCATION: Cytoplasm.") share one text candidate, so a model is never penalised for ranking an identical text.

When a few texts cover most proteins, protein -> text Recall@K rewards knowing which texts are frequent, not which
text fits the protein: ranking texts by their training frequency, ignoring the protein, can beat the uniform chance
level many times over. So beside every protein -> text recall stand the uniform chance level and that frequency
baseline, and the metrics include the macro recall (averaged over distinct texts, so every text counts once),
which no ranking that ignores the protein can lift above `min(K, texts) / texts`. Text -> protein recall is
averaged over distinct texts too; a ranking of proteins that ignores the query text scores at most chance there.
`macro_mean_recall`, the mean of both macro quantities over K, is the selection metric of pretraining.
"""

from collections import Counter
from math import comb

import torch


def _ranks_of_targets(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1-based rank of `scores[i, targets[i]]` in row i (ties counted pessimistically)."""
    target_scores = scores.gather(1, targets[:, None])
    return (scores >= target_scores).sum(1)


def retrieval_metrics(
    protein_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    texts: list[str] | None = None,
    ks: tuple[int, ...] = (1, 5, 10),
    chunk_size: int = 4096,
    train_text_counts: Counter | dict | None = None,
    text_bias: dict[str, float] | None = None,
    logit_scale: float = 1.0,
) -> dict[str, float]:
    """Recall@K and mean rank, protein->text and text->protein, for paired embeddings, with their baselines.

    Args:
        protein_embeds: (N, D), row i paired with text i; cosine is used (rows are normalised here).
        text_embeds: (N, D).
        texts: the N texts; identical texts become one candidate (and one text->protein query whose relevant
            proteins are all those paired with it). Without it every row is its own text.
        ks: the K of Recall@K.
        train_text_counts: how often each text occurs in the training data: the frequency baseline ranks the
            candidate texts by it (texts never seen in training last), ignoring the protein.
        text_bias: a term added to each candidate text's protein -> text score, e.g. its log prior
            (`prior_protst.text_log_prior`), so that texts are ranked by `logit_scale * cosine + bias` (the
            posterior, for a model whose scores are density ratios); text -> protein is unchanged by it.
        logit_scale: the factor of the cosines when `text_bias` is given (the model's `exp(logit_scale)`).

    Returns:
        `protein_to_text_recall@K`, `text_to_protein_recall@K`, their mean ranks (1-based), the uniform chance
        level of each recall (`..._chance`), the frequency baseline of protein->text recall
        (`protein_to_text_recall@K_frequency`, when `train_text_counts` is given), the macro protein->text recall
        (`protein_to_text_macro_recall@K`, chance `min(K, U) / U`), `mean_recall` (mean of all recalls),
        `macro_mean_recall` (mean of the macro protein->text and the text->protein recalls), and the numbers of
        proteins and distinct texts.
    """
    protein_embeds = torch.nn.functional.normalize(protein_embeds.float(), dim=-1)
    text_embeds = torch.nn.functional.normalize(text_embeds.float(), dim=-1)
    n = protein_embeds.shape[0]
    if text_embeds.shape[0] != n:
        raise ValueError(f"{n} proteins but {text_embeds.shape[0]} texts")
    texts = texts if texts is not None else [str(i) for i in range(n)]
    unique: dict[str, int] = {}
    text_of_row = torch.tensor([unique.setdefault(t, len(unique)) for t in texts])
    first_row = torch.zeros(len(unique), dtype=torch.long)
    first_row[text_of_row.flip(0)] = torch.arange(n - 1, -1, -1)
    candidates = text_embeds[first_row]  # (U, D): one embedding per distinct text (its first row)

    bias = torch.zeros(len(unique))
    if text_bias is not None:
        bias = torch.tensor([float(text_bias[t]) for t in unique]) / logit_scale  # on the cosine scale
    protein_ranks = torch.cat([
        _ranks_of_targets(protein_embeds[s : s + chunk_size] @ candidates.t() + bias,
                          text_of_row[s : s + chunk_size])
        for s in range(0, n, chunk_size)
    ])
    # text -> protein: the best rank of any protein paired with the text
    relevant = torch.zeros(len(unique), n, dtype=torch.bool)
    relevant[text_of_row, torch.arange(n)] = True
    text_ranks = _text_to_protein_ranks(candidates, protein_embeds, relevant, chunk_size)
    group_sizes = relevant.sum(1)
    num_texts = len(unique)
    frequency_ranks = None if train_text_counts is None else _frequency_ranks(list(unique), text_of_row,
                                                                              train_text_counts)

    metrics: dict[str, float] = {"num_proteins": float(n), "num_texts": float(num_texts)}
    for k in ks:
        metrics.update(_recalls_at(k, protein_ranks, text_ranks, frequency_ranks, text_of_row, group_sizes))
    metrics["protein_to_text_mean_rank"] = protein_ranks.float().mean().item()
    metrics["text_to_protein_mean_rank"] = text_ranks.float().mean().item()
    metrics["mean_recall"] = sum(metrics[f"{d}_recall@{k}"] for d in ("protein_to_text", "text_to_protein")
                                 for k in ks) / (2 * len(ks))
    metrics["macro_mean_recall"] = sum(metrics[f"protein_to_text_macro_recall@{k}"] + metrics[
        f"text_to_protein_recall@{k}"] for k in ks) / (2 * len(ks))
    return metrics



def _recalls_at(k: int, protein_ranks: torch.Tensor, text_ranks: torch.Tensor, frequency_ranks: torch.Tensor | None,
                text_of_row: torch.Tensor, group_sizes: torch.Tensor) -> dict[str, float]:
    """The recalls at `k` of [`retrieval_metrics`], with their chance levels and frequency baseline."""
    n, num_texts = len(protein_ranks), len(group_sizes)
    metrics = {}
    hit = (protein_ranks <= k).float()
    metrics[f"protein_to_text_recall@{k}"] = hit.mean().item()
    metrics[f"text_to_protein_recall@{k}"] = (text_ranks <= k).float().mean().item()
    metrics[f"protein_to_text_recall@{k}_chance"] = min(k, num_texts) / num_texts
    # a random ranking misses all r relevant proteins in the top k with probability C(n-r, k) / C(n, k)
    metrics[f"text_to_protein_recall@{k}_chance"] = float(
        sum(1 - comb(n - int(r), min(k, n)) / comb(n, min(k, n)) for r in group_sizes) / num_texts
    )
    # per distinct text: the share of its proteins that rank it in the top k, then the mean over texts
    per_text = torch.zeros(num_texts).index_add_(0, text_of_row, hit) / group_sizes.float()
    metrics[f"protein_to_text_macro_recall@{k}"] = per_text.mean().item()
    metrics[f"protein_to_text_macro_recall@{k}_chance"] = min(k, num_texts) / num_texts
    if frequency_ranks is not None:
        metrics[f"protein_to_text_recall@{k}_frequency"] = (frequency_ranks <= k).float().mean().item()
    return metrics


def _text_to_protein_ranks(candidates: torch.Tensor, proteins: torch.Tensor, relevant: torch.Tensor,
                           chunk_size: int) -> torch.Tensor:
    """(U,) 1-based rank of the best-ranked relevant protein of each distinct text, `chunk_size` texts at a time."""
    ranks = []
    for s in range(0, len(candidates), chunk_size):
        scores = candidates[s : s + chunk_size] @ proteins.t()  # (chunk, N)
        best_relevant = scores.masked_fill(~relevant[s : s + chunk_size], float("-inf")).max(1, keepdim=True).values
        ranks.append((scores > best_relevant).sum(1) + 1)
    return torch.cat(ranks)


def _frequency_ranks(names: list[str], text_of_row: torch.Tensor, counts) -> torch.Tensor:
    """(N,) rank of each protein's text when the candidates are ordered by training frequency alone (ties by first
    appearance)."""
    order = sorted(range(len(names)), key=lambda u: -counts.get(names[u], 0))
    position = torch.empty(len(names), dtype=torch.long)
    position[torch.tensor(order)] = torch.arange(1, len(names) + 1)
    return position[text_of_row]


__all__ = ["retrieval_metrics"]
