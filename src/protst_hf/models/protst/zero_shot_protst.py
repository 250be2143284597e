"""Zero-shot classification: class logits from label prompts and [`ZeroShotClassifier`], the one place a zero-shot
score is made (built once from the prompts' embeddings, the prior and the pooling; then one product per batch of
proteins), used by the pipelines, validation during pretraining, annotation and the benchmarks.

This file is shipped to the Hub with saved models (the pipelines import it): it imports its siblings only.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from .inference_protst import embed_texts_cached
from .prior_protst import auto_prior, class_log_prior, expected_label_count, resolve_prior


def zero_shot_logit_scale(model) -> float:
    """exp(logit_scale), clamped as the model's config says: the factor that turns cosines into logits."""
    protst = getattr(model, "protst", model)
    return float(protst.clamped_logit_scale().detach().float().exp())


PROMPT_POOLINGS = ("auto", "mean", "logsumexp")


def class_logits(protein_embeds: torch.Tensor, prompt_embeds: torch.Tensor, prompt_class: Sequence[int],
                 num_classes: int, scale: float, pooling: str = "mean",
                 log_prior: torch.Tensor | None = None) -> torch.Tensor:
    """(N, classes) zero-shot logits of normalised protein embeddings against the normalised embeddings of every
    class's prompts.

    Args:
        protein_embeds: (N, D), L2-normalised.
        prompt_embeds: (P, D), L2-normalised, one row per prompt.
        prompt_class: (P,) the class of each prompt (every class has at least one).
        scale: the model's `exp(logit_scale)` ([`zero_shot_logit_scale`]).
        pooling: `mean` (CLIP's prompt ensembling, the default: the class embedding is the normalised mean of its
            prompts' embeddings, then `scale * cosine`) or `logsumexp` (log sum over the class's prompts of
            exp(scale * cosine): a class is as likely as any of its texts together, which is how a model trained
            against a text bank scores a class named by several texts).
        log_prior: (classes,) added to the logits (see [`class_log_prior`]); None adds nothing (a uniform prior).
    """
    if pooling not in ("mean", "logsumexp"):
        raise ValueError(f"prompt pooling must be mean or logsumexp, got {pooling!r}")
    owner = torch.as_tensor(list(prompt_class), dtype=torch.long)
    if owner.numel() != prompt_embeds.shape[0] or bool(owner.bincount(minlength=num_classes).eq(0).any()):
        raise ValueError("every prompt needs a class and every class at least one prompt")
    protein_embeds, prompt_embeds = protein_embeds.float(), prompt_embeds.float().to(protein_embeds.device)
    if pooling == "mean":
        sums = torch.zeros(num_classes, prompt_embeds.shape[1], device=prompt_embeds.device)
        sums.index_add_(0, owner.to(prompt_embeds.device), prompt_embeds)
        logits = scale * protein_embeds @ torch.nn.functional.normalize(sums, dim=-1).t()
    else:
        per_prompt = scale * protein_embeds @ prompt_embeds.t()  # (N, P)
        if owner.numel() == num_classes and bool((owner == torch.arange(num_classes)).all()):
            logits = per_prompt  # one prompt per class, in class order: the log-sum-exp of one logit is itself
        else:  # a segmented log-sum-exp over each class's prompts: max-shifted, summed with index_add
            index = owner.to(per_prompt.device)
            peak = torch.full((per_prompt.shape[0], num_classes), float("-inf"), device=per_prompt.device)
            peak = peak.scatter_reduce(1, index.expand_as(per_prompt), per_prompt, reduce="amax")
            sums = torch.zeros_like(peak).index_add_(1, index, (per_prompt - peak[:, index]).exp())
            logits = peak + sums.log()
    if log_prior is not None:
        logits = logits + log_prior.to(logits.device, logits.dtype)
    return logits


def label_probabilities(logits: torch.Tensor, temperature: float = 1.0,
                        multi_label_count: float | None = None) -> torch.Tensor:
    """Float64 label scores from class logits: the softmax over the labels (at `temperature`, in the logits' dtype),
    or, with `multi_label_count` (see [`expected_label_count`]), independent per-label probabilities: p(label
    applies | protein) ~ p(label | protein, one label drawn) x the expected number of labels per protein, capped
    at 1."""
    probabilities = torch.softmax(logits / temperature, dim=-1).double()
    if multi_label_count is not None:
        probabilities = (probabilities * multi_label_count).clamp(max=1.0)
    return probabilities


def resolve_pooling(pooling: str, record: Mapping | None) -> str:
    """`"auto"` -> `"logsumexp"` for a model trained against a text bank (its logits are log p(t | x) + const, so a
    class named by several texts is as likely as those texts together), else `"mean"` (CLIP's prompt ensembling,
    which suits density-ratio scores); `mean` and `logsumexp` are returned as given."""
    if pooling not in PROMPT_POOLINGS:
        raise ValueError(f"prompt_pooling must be one of {', '.join(PROMPT_POOLINGS)}, got {pooling!r}")
    if pooling == "auto":
        return "logsumexp" if record is not None and record.get("objective") == "text_bank" else "mean"
    return pooling


@dataclass
class ZeroShotClassifier:
    """ProtST's zero-shot classifier, built once from a model and its labels, applied to any batch of protein
    embeddings as one matrix product (as open_clip's `build_zero_shot_classifier`). Every zero-shot score of
    protst-hf comes from here: the zero-shot pipeline, the retrieval pipeline when it ranks labels, validation during
    pretraining, `protst classify` and the benchmarks.

    logit(protein, class) = pool over the class's prompts of exp(logit_scale) * cosine, + log p(class) when a prior
    applies (Xu et al., 2023 score exp(logit_scale) * cosine with one prompt per class and no prior); probabilities
    are the softmax of logits / temperature, or with `multi_label=True`, independent per-label probabilities.

    Attributes:
        names: the class names, in class order.
        prompts: the prompts of each class (strings, or mappings of ProtDescribe fields).
        prompt_embeds: (prompts, D) float32, L2-normalised, the prompts of every class in order.
        scale: the model's exp(logit_scale).
        pooling: `mean` or `logsumexp` ([`class_logits`]).
        log_prior: (classes,) added to the logits, or None (uniform).
        temperature: divides the logits before the softmax.
        label_count: the expected number of the labels per protein ([`expected_label_count`]), the scale of
            multi-label probabilities; `label_count_known` is False when no training text states a label (1 then).
        reasons: why each choice was made (`prior`, `pooling`, `temperature`, `multi_label`), in words.

    Example:

    ```python
    >>> classifier = ZeroShotClassifier.build(model, processor, ["Nucleus", "Cytoplasm"],
    ...                                       [["SUBCELLULAR LOCATION: Nucleus."],
    ...                                        ["SUBCELLULAR LOCATION: Cytoplasm."]],
    ...                                       record=read_training_texts("model/training_texts.json"))
    >>> classifier.probabilities(embed_proteins(model, processor, ["MKTAYIAKQR"]))  # (1, 2), rows sum to 1
    ```
    """

    names: list[str]
    prompts: list[list]
    prompt_embeds: torch.Tensor
    scale: float
    pooling: str = "mean"
    log_prior: torch.Tensor | None = None
    temperature: float = 1.0
    label_count: float = 1.0
    label_count_known: bool = False
    reasons: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, model, processor, names: Sequence[str], prompts: Sequence[Sequence], record: Mapping | None = None,
              prior="auto", pooling: str = "auto", temperature: float | None = None, dtype: str | None = None,
              prompt_embeds: torch.Tensor | None = None, batch_size: int = 256) -> ZeroShotClassifier:
        """Embed the prompts and make every scoring choice once.

        Args:
            model: a ProtST model (or a model holding one as `.protst`).
            processor: its `ProtSTProcessor` (unused when `prompt_embeds` are given).
            names: one name per class.
            prompts: the prompts of each class (at least one each).
            record: the model's training-text record ([`read_training_texts`]): the prior, the pooling of `"auto"`
                and the multi-label count come from it; None for a model without one.
            prior: `"auto"`, `"uniform"`, `"training"`, or class frequencies by name or in class order
                ([`resolve_prior`]).
            pooling: `"auto"`, `"mean"` or `"logsumexp"` ([`resolve_pooling`]).
            temperature: defaults to the model's fitted `zero_shot_temperature`, else 1.
            dtype: autocast dtype of the text tower (`"bfloat16"` or None).
            prompt_embeds: the prompts' normalised embeddings when already computed (in prompt order).
        """
        names, prompts = [str(n) for n in names], [list(group) for group in prompts]
        if len(names) != len(prompts) or not prompts or any(not group for group in prompts):
            raise ValueError(f"one non-empty group of prompts per class: {len(names)} names, {len(prompts)} groups")
        flat = [t for group in prompts for t in group]
        if prompt_embeds is None:
            prompt_embeds = embed_texts_cached(model, processor, flat, batch_size=batch_size, dtype=dtype)
        if prompt_embeds.shape[0] != len(flat):
            raise ValueError(f"{prompt_embeds.shape[0]} prompt embeddings for {len(flat)} prompts")
        reasons = {}
        chosen = resolve_prior(prior, record)
        if isinstance(chosen, str):
            log_prior, reasons["prior"] = (None, auto_prior(record)[1] if prior == "auto" else "uniform: as asked") \
                if chosen == "uniform" else class_log_prior(prompts, record, names=names)
            if chosen == "training" and log_prior is None:
                warnings.warn(f"prior {reasons['prior']}", stacklevel=2)
            elif chosen == "training" and prior == "auto":
                reasons["prior"] = f"{auto_prior(record)[1]}; {reasons['prior']}"
        else:
            log_prior, reasons["prior"] = class_log_prior(prompts, frequencies=chosen, names=names)
        resolved_pooling = resolve_pooling(pooling, record)
        reasons["pooling"] = resolved_pooling + (" (auto: " + ("a text-bank model's logits are log-probabilities of "
                                                              "texts)" if resolved_pooling == "logsumexp" else
                                                              "prompt ensembling)") if pooling == "auto" else "")
        config_temperature = getattr(getattr(model, "config", None), "zero_shot_temperature", None)
        resolved_temperature = temperature or config_temperature or 1.0
        reasons["temperature"] = (f"{resolved_temperature:g}" + (" (given)" if temperature else
                                  " (the model's fitted zero_shot_temperature)" if config_temperature else ""))
        count, why = expected_label_count(prompts, record)
        reasons["multi_label"] = why or f"scores x {count:.3g}, the expected number of these labels per protein"
        return cls(names, prompts, prompt_embeds.float(), zero_shot_logit_scale(model), resolved_pooling, log_prior,
                   float(resolved_temperature), count, why is None, reasons)

    def __post_init__(self):
        # the class of each prompt, in prompt order (made once: `logits` runs per batch)
        self.owner = [c for c, group in enumerate(self.prompts) for _ in group]

    def logits(self, protein_embeds: torch.Tensor) -> torch.Tensor:
        """(N, classes) float32 logits of L2-normalised protein embeddings (N, D), the prior included."""
        return class_logits(protein_embeds, self.prompt_embeds, self.owner, len(self.prompts), self.scale,
                            self.pooling, self.log_prior)

    def cosines(self, protein_embeds: torch.Tensor) -> torch.Tensor:
        """(N, classes) cosines to each class embedding (the normalised mean of its prompts), no scale, no prior."""
        return class_logits(protein_embeds, self.prompt_embeds, self.owner, len(self.prompts), 1.0, "mean")

    def probabilities(self, protein_embeds: torch.Tensor | None = None, multi_label: bool = False,
                      logits: torch.Tensor | None = None) -> torch.Tensor:
        """(N, classes) float64 label scores: the softmax of the logits over the labels at `temperature`, or with
        `multi_label`, p(label applies | protein) = that softmax x `label_count`, capped at 1
        ([`label_probabilities`]).

        Args:
            protein_embeds: (N, D) L2-normalised protein embeddings; or
            logits: logits already computed (e.g. ensembled with a supervised head's).
        """
        if logits is None:
            logits = self.logits(protein_embeds)
        return label_probabilities(logits, self.temperature, self.label_count if multi_label else None)


__all__ = ["PROMPT_POOLINGS", "ZeroShotClassifier", "class_logits", "label_probabilities", "resolve_pooling",
           "zero_shot_logit_scale"]
