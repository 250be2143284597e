"""GO term prediction as CAFA judges it, the pieces the GO benchmarks share: each protein's terms of a namespace under
the true-path rule, as a boolean matrix over a set of terms; the zero-shot pipeline's multi-label scores over every
term; and ProtST's text -> protein retrieval study (T2P) over GO terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

MIN_TEST_PROTEINS = 10  # terms with fewer test proteins are left out of term-centric figures, as in CAFA's AUPR


def term_sets(rows: Sequence[Mapping], go, namespace: str) -> list[set[str]]:
    """Each row's propagated terms of `namespace` (roots excluded)."""
    return [go.annotated_terms(row["go_terms"], namespace) for row in rows]


def term_matrix(sets: Sequence[set[str]], columns: Mapping[str, int]) -> np.ndarray:
    """(proteins, terms) bool: whether each protein holds each term of `columns` (term -> column)."""
    out = np.zeros((len(sets), len(columns)), dtype=bool)
    for row, terms in enumerate(sets):
        out[row, [columns[t] for t in terms if t in columns]] = True
    return out


def zero_shot_term_scores(model, processor, record, proteins: torch.Tensor, prompts: list[str],
                          dtype: str | None = None) -> np.ndarray:
    """The zero-shot pipeline's multi-label scores for every protein and term: the package's `ZeroShotClassifier`
    (what the pipeline scores with) built once, applied to the proteins in chunks."""
    from ..models.protst.zero_shot_protst import ZeroShotClassifier

    classifier = ZeroShotClassifier.build(model, processor, prompts, [[p] for p in prompts], record, dtype=dtype)
    out = np.zeros((len(proteins), len(prompts)), dtype=np.float32)
    for start in range(0, len(proteins), 512):
        out[start : start + 512] = classifier.probabilities(proteins[start : start + 512], multi_label=True).numpy()
    return out


def text_to_protein_retrieval(model, processor, template: str, names: list[str], y: np.ndarray,
                              proteins: np.ndarray, lengths: np.ndarray, dtype: str | None = None) -> dict:
    """ProtST's T2P: each term (with >= MIN_TEST_PROTEINS test proteins) as a query over a flat FAISS index of the
    test proteins; mAP and P@10 beside a protein-blind ranking and chance."""
    from ..models.protst.index_protst import ProteinIndex
    from ..models.protst.inference_protst import embed_texts
    from .metrics import auprc_micro

    keep = np.flatnonzero(y.sum(0) >= MIN_TEST_PROTEINS)
    index = ProteinIndex.build([([str(i) for i in range(len(proteins))], proteins.astype(np.float32))])
    queries = embed_texts(model, processor, [template.format(names[c]) for c in keep], batch_size=256,
                          dtype=dtype).numpy()
    _, ids = index.search(queries, k=len(proteins))
    blind = np.argsort(-lengths, kind="stable")
    # a ranking as scores: the first protein scores highest (no ties)
    rank_score = np.arange(len(proteins), 0, -1, dtype=np.float64)
    model_ap, model_p10, blind_ap, blind_p10, chance = [], [], [], [], []
    for row, column in enumerate(keep):
        relevant = y[:, column]
        ranking = np.asarray([int(i) for i in ids[row]])
        model_ap.append(auprc_micro(relevant[ranking], rank_score))
        model_p10.append(relevant[ranking[:10]].mean())
        blind_ap.append(auprc_micro(relevant[blind], rank_score))
        blind_p10.append(relevant[blind[:10]].mean())
        chance.append(relevant.mean())
    return {"queries": len(keep), "map": float(np.mean(model_ap)), "precision@10": float(np.mean(model_p10)),
            "map_protein_blind": float(np.mean(blind_ap)), "precision@10_protein_blind": float(np.mean(blind_p10)),
            "map_chance": float(np.mean(chance)), "precision@10_chance": float(np.mean(chance))}


__all__ = ["MIN_TEST_PROTEINS", "term_matrix", "term_sets", "text_to_protein_retrieval", "zero_shot_term_scores"]
