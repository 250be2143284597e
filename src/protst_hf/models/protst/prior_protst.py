"""The prior that turns ProtST's scores into posteriors, estimated from a model's training texts.

Why a prior: the original's contrastive loss (InfoNCE over the batch's texts) learns, at its optimum, a score
s(x, t) = log p(t | x) - log p(t) + const, a density ratio: a frequent text is a negative as often as it is a
positive, so the scores forget how common each text is. Adding log p(class) back (Bayes' rule) gives the posterior
up to a constant. A model trained against a bank of every training text (`contrastive_text_bank`) learns
log p(t | x) itself and needs no prior. The prior is estimated from the training texts that a model folder
records (`training_texts.json`), without any label.

This file is shipped to the Hub with saved models (the pipelines import it): it imports its siblings only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from .prompts_protst import normalise_statement, statement_counts


def class_log_prior(prompts: Sequence[Sequence[str]], record: Mapping | None = None,
                    frequencies: Mapping[str, float] | Sequence[float] | None = None,
                    names: Sequence[str] | None = None) -> tuple[torch.Tensor | None, str]:
    """(classes,) log p(class), normalised over the classes, and a line saying where it came from.

    From `frequencies` (a user's class frequencies, by name or in class order), or estimated from a model's
    training texts (`record`, see [`read_training_texts`]): each training row counts for every class one of whose
    prompts is a statement of its text (so that a protein with two locations counts for both, as a multi-label
    majority baseline counts). Returns `(None, why)`, a uniform prior, when a class's prompts match no training
    statement: a prior estimated for some classes only would favour them for that alone.
    """
    if frequencies is not None:
        if isinstance(frequencies, Mapping):
            if names is None:
                raise ValueError("class frequencies given by name need the class names")
            missing = [n for n in names if n not in frequencies]
            if missing:
                raise ValueError(f"the prior has no frequency for {missing[:5]}")
            values = [float(frequencies[n]) for n in names]
        else:
            values = [float(v) for v in frequencies]
        if len(values) != len(prompts) or any(not v > 0 or not math.isfinite(v) for v in values):
            raise ValueError(f"the prior needs one positive frequency per class ({len(prompts)}), got {values[:12]}")
        prior = torch.tensor(values, dtype=torch.float64)
        return (prior / prior.sum()).log().float(), "the class frequencies given"
    if record is None:
        return None, "uniform: the model records no training texts"
    counts = statement_counts(record)
    per_class = [sum(counts.get(normalise_statement(p), 0) for p in set(group)) for group in prompts]
    unmatched = [i for i, c in enumerate(per_class) if c == 0]
    if unmatched:
        shown = [(names[i] if names else prompts[i][0]) for i in unmatched[:5]]
        return None, f"uniform: no training text states the prompts of {len(unmatched)} class(es), e.g. {shown}"
    prior = torch.tensor(per_class, dtype=torch.float64)
    return (prior / prior.sum()).log().float(), f"estimated from {record['rows']:,} training texts"


def expected_label_count(prompts: Sequence[Sequence[str]], record: Mapping | None) -> tuple[float, str | None]:
    """How many of the labels a training protein has on average: the sum over labels of the share of training rows
    stating one of the label's prompts (with statement-level records, a term's frequency). The scale of
    multi-label scores; `(1.0, why)` when the model records no training texts or none states a label."""
    if record is None:
        return 1.0, "multi_label: the model records no training texts: scores are posteriors over the labels"
    counts = statement_counts(record)
    rows = max(int(record.get("rows") or 0), 1)
    total = sum(min(sum(counts.get(normalise_statement(p), 0) for p in set(group)), rows) for group in prompts)
    if total == 0:
        return 1.0, "multi_label: no training text states any label: scores are posteriors over the labels"
    return total / rows, None


def text_log_prior(texts: Sequence[str], record: Mapping, smoothing: float = 0.5) -> torch.Tensor:
    """(len(texts),) log p(text) of candidate texts from a model's training texts: each text's training count plus
    `smoothing` (texts never seen in training get `smoothing`), normalised over the training rows. For ranking
    texts for a protein (protein -> text search) by posterior instead of density ratio."""
    counts = {normalise_statement(k): int(v) for k, v in record["texts"].items()}
    total = float(record["rows"]) + smoothing * (len(counts) + len(texts))
    values = [(counts.get(normalise_statement(t), 0) + smoothing) / total for t in texts]
    return torch.tensor(values, dtype=torch.float64).log().float()


def auto_prior(record: Mapping | None) -> tuple[str, str]:
    """What `prior="auto"` means for a model whose training record is `record`, and why: `"training"` when its
    scores are density ratios (trained in-batch, the original's objective), else `"uniform"`."""
    if record is None:
        return "uniform", "the model records no training texts"
    if record.get("objective") == "in_batch":
        return "training", "the model's scores are density ratios (in-batch training): log p(class) is added back"
    return "uniform", "nothing added: the model was trained against a text bank, its scores are posteriors already"


def resolve_prior(prior, record: Mapping | None) -> str | Mapping | Sequence:
    """`"auto"` -> `"training"` when the model's scores are density ratios (trained in-batch, the original's
    objective) and it records its training texts, else `"uniform"` (a text-bank model's scores include the
    prior already); other values are returned as given, after a check."""
    if isinstance(prior, str):
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {', '.join(PRIORS)} or a mapping of class frequencies, got "
                             f"{prior!r}")
        if prior == "auto":
            return auto_prior(record)[0]
        if prior == "training" and record is None:
            raise ValueError("prior='training' needs the model's training_texts.json (written by protst-hf's "
                             "pretraining); this model has none")
    return prior


PRIORS = ("auto", "uniform", "training")


__all__ = ["PRIORS", "auto_prior", "class_log_prior", "expected_label_count", "resolve_prior", "text_log_prior"]
