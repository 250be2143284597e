"""ProtST losses as pure functions of tensors.

This file is shipped to the Hub with saved models: it imports nothing from `protst_hf`.
"""

import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F


@dataclass
class ContrastiveLossOutput:
    """Result of [`contrastive_loss`].

    Args:
        loss (`torch.Tensor`): scalar, CE(protein->text) + CE(text->protein).
        logits_per_protein (`torch.Tensor`): (local_batch, global_batch), local proteins against all texts.
        logits_per_text (`torch.Tensor`): (local_batch, global_batch), local texts against all proteins.
        labels (`torch.Tensor`): (local_batch,), the column of each local pair in the global batch.
        text_groups (`torch.Tensor`, *optional*): (global_batch,) text group ids when positives were shared.
        bank_targets (`torch.Tensor`, *optional*): (local_batch, bank_size) target distribution of each local
            protein over the text bank, when protein -> text was scored against a bank ([`text_bank_loss`]);
            `logits_per_protein` is then (local_batch, bank_size).
    """

    loss: torch.Tensor
    logits_per_protein: torch.Tensor
    logits_per_text: torch.Tensor
    labels: torch.Tensor
    text_groups: torch.Tensor | None = None
    bank_targets: torch.Tensor | None = None


def _is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_with_grad(tensor: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """All-gather the rows of `tensor` from every process, keeping the autograd graph.

    `accelerator.gather` and `dist.all_gather` carry no gradient; this uses
    `torch.distributed.nn.functional.all_gather`, whose backward sums the gradients of every process into the
    rows each process contributed. Processes may hold different numbers of rows: rows are padded to the largest
    count for the collective and the padding is dropped afterwards.

    Args:
        tensor (`torch.Tensor`): (local_rows, ...).

    Returns:
        `tuple`: the (global_rows, ...) tensor in rank order, the offset of this process's rows in it, and
        the number of processes. Without an initialised process group of several processes, `(tensor, 0, 1)`.
    """
    if not _is_distributed():
        return tensor, 0, 1
    from torch.distributed.nn.functional import all_gather  # differentiable; the functional collectives abort on gloo

    world_size, rank = dist.get_world_size(), dist.get_rank()
    local_rows = torch.tensor([tensor.shape[0]], device=tensor.device, dtype=torch.long)
    all_rows = [torch.empty_like(local_rows) for _ in range(world_size)]
    dist.all_gather(all_rows, local_rows)
    rows = [int(r.item()) for r in all_rows]
    max_rows = max(rows)
    if tensor.shape[0] < max_rows:
        # pad so that every process sends the same shape; the padding is never read
        padding = tensor.new_zeros((max_rows - tensor.shape[0], *tensor.shape[1:]))
        tensor = torch.cat([tensor, padding])
    with warnings.catch_warnings():
        # torch >= 2.10 marks it deprecated in favour of functional collectives, which do not run on gloo (CPU)
        warnings.simplefilter("ignore", FutureWarning)
        parts = all_gather(tensor)
    gathered = torch.cat([part[:n] for part, n in zip(parts, rows)])
    return gathered, sum(rows[:rank]), world_size


def _gather_batch(protein_embeds, text_embeds, text_groups, gather: bool):
    """The (global) batch both losses score against: proteins, texts and text groups of every process (one
    collective for both modalities), this process's offset in it, and the number of processes."""
    if not gather:
        return protein_embeds, text_embeds, text_groups, 0, 1
    both, offset, world_size = gather_with_grad(torch.cat([protein_embeds, text_embeds], dim=-1))  # (global, 2 dim)
    all_protein, all_text = both.split(protein_embeds.shape[-1], dim=-1)
    all_groups = gather_with_grad(text_groups)[0] if text_groups is not None else None
    return all_protein, all_text, all_groups, offset, world_size


def _in_batch_cross_entropy(logits, labels, text_groups, all_groups) -> torch.Tensor:
    """Summed cross-entropy of (local, global) in-batch logits: the own pair as target, or, with text groups, the
    target spread evenly over every pair with an identical text (the same positives in both directions, since
    protein j matches text i exactly when text j is identical to text i)."""
    if all_groups is None:
        return F.cross_entropy(logits, labels, reduction="sum")
    positives = (text_groups[:, None] == all_groups[None, :]).to(logits.dtype)  # own pair included
    return F.cross_entropy(logits, positives / positives.sum(1, keepdim=True), reduction="sum")


def contrastive_loss(
    protein_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    logit_scale: torch.Tensor,
    gather: bool = True,
    text_groups: torch.Tensor | None = None,
) -> ContrastiveLossOutput:
    """Symmetric InfoNCE between paired protein and text embeddings.

    logits = exp(logit_scale) * cosine; loss = CE(protein->text) + CE(text->protein), summed as the original.
    With `gather=True` and an initialised process group, each process scores its local rows against the
    global batch gathered with gradient (O(local x global), never O(global^2)). The loss of each process is
    `world_size * sum_of_local_row_losses / global_batch`, so that the mean of the per-process losses, and the
    process-averaged gradients that DDP and DeepSpeed apply, equal the single-process loss and gradients on the
    concatenated batch exactly, also when processes hold different batch sizes.

    Positives: by default (the original) row i's only positive is pair i, so two proteins that share one text (common
    in Swiss-Prot: "SUBCELLULAR LOCATION: Cytoplasm.") are pushed away from each other's identical text. With
    `text_groups`, every pair whose text has the same group id is a positive, in both directions, and the target
    of each row is spread evenly over its positives (cross-entropy with soft targets, as SupCon's "outside"
    average): identical texts stop being negatives. When identical texts also get identical embeddings (an
    unmasked text through a tower in eval mode), both losses have the same value and gradients; they differ when
    the copies differ: texts masked for the multimodal objective, or dropout in the (frozen) text tower, as in the
    original's training.

    Args:
        protein_embeds (`torch.Tensor`): (local_batch, dim), L2-normalised.
        text_embeds (`torch.Tensor`): (local_batch, dim), L2-normalised, row i paired with protein i.
        logit_scale (`torch.Tensor`): scalar log temperature (already clamped if clamping is wanted).
        gather (`bool`): gather across processes when a process group of several processes exists.
        text_groups (`torch.Tensor`, *optional*): (local_batch,) integer id of each row's text (equal ids = identical
            texts, e.g. [`text_group_ids`]); gathered across processes with the embeddings.

    Returns:
        [`ContrastiveLossOutput`]
    """
    if protein_embeds.shape != text_embeds.shape:
        raise ValueError(f"protein and text embeddings differ in shape: {protein_embeds.shape} vs {text_embeds.shape}")
    local_batch = protein_embeds.shape[0]
    if text_groups is not None and text_groups.shape != (local_batch,):
        raise ValueError(f"`text_groups` must have shape ({local_batch},), got {tuple(text_groups.shape)}")
    all_protein, all_text, all_groups, offset, world_size = _gather_batch(protein_embeds, text_embeds, text_groups,
                                                                          gather)
    global_batch = all_protein.shape[0]

    scale = logit_scale.exp()
    logits_per_protein = scale * protein_embeds @ all_text.t()  # (local_batch, global_batch)
    logits_per_text = scale * text_embeds @ all_protein.t()  # (local_batch, global_batch)
    labels = torch.arange(offset, offset + local_batch, device=protein_embeds.device)
    loss_sum = _in_batch_cross_entropy(logits_per_protein, labels, text_groups, all_groups) + \
        _in_batch_cross_entropy(logits_per_text, labels, text_groups, all_groups)
    loss = loss_sum * (world_size / global_batch)
    return ContrastiveLossOutput(loss, logits_per_protein, logits_per_text, labels, all_groups)


def text_bank_loss(
    protein_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    bank_embeds: torch.Tensor,
    bank_targets: torch.Tensor,
    logit_scale: torch.Tensor,
    gather: bool = True,
    text_groups: torch.Tensor | None = None,
) -> ContrastiveLossOutput:
    """Contrastive loss with protein -> text scored against a bank of every distinct training text.

    In-batch InfoNCE ([`contrastive_loss`]) learns, at its optimum, a density ratio log p(t | x) - log p(t): a
    frequent text is a negative as often as it is a positive, so the scores forget how common each text is, and
    each step sees only the batch's few distinct texts as negatives. Here each protein's softmax covers the whole
    bank (with a frozen text tower the bank's tower features are computed once; only `text_projection` runs every
    step), so the protein -> text term learns p(t | x) itself, prior included. The text -> protein term stays
    in-batch, gathered across processes as in [`contrastive_loss`]: it is unchanged by a per-text offset, so it
    does not fight the prior. The loss of each process is `world_size * sum_of_local_row_losses / global_batch`,
    as in [`contrastive_loss`], so that process-averaged gradients equal the single-process ones exactly.

    Args:
        protein_embeds (`torch.Tensor`): (local_batch, dim), L2-normalised.
        text_embeds (`torch.Tensor`): (local_batch, dim), L2-normalised, row i paired with protein i.
        bank_embeds (`torch.Tensor`): (bank_size, dim), L2-normalised embeddings of the bank's texts (the same in
            every process).
        bank_targets (`torch.Tensor`): (local_batch, bank_size), each row a distribution over the bank: one-hot at
            the protein's own text, or spread over the statements of a multi-statement text.
        logit_scale (`torch.Tensor`): scalar log temperature (already clamped if clamping is wanted).
        gather (`bool`): gather the in-batch proteins and texts across processes for the text -> protein term.
        text_groups (`torch.Tensor`, *optional*): (local_batch,) text ids: identical texts are shared positives of
            the text -> protein term (see [`contrastive_loss`]).

    Returns:
        [`ContrastiveLossOutput`] whose `logits_per_protein` is (local_batch, bank_size).
    """
    if protein_embeds.shape != text_embeds.shape:
        raise ValueError(f"protein and text embeddings differ in shape: {protein_embeds.shape} vs {text_embeds.shape}")
    if bank_embeds.shape[-1] != protein_embeds.shape[-1]:
        raise ValueError(f"bank embeddings have dimension {bank_embeds.shape[-1]}, proteins "
                         f"{protein_embeds.shape[-1]}")
    if bank_targets.shape != (protein_embeds.shape[0], bank_embeds.shape[0]):
        raise ValueError(f"`bank_targets` must have shape {(protein_embeds.shape[0], bank_embeds.shape[0])}, got "
                         f"{tuple(bank_targets.shape)}")
    local_batch = protein_embeds.shape[0]
    all_protein, _, all_groups, offset, world_size = _gather_batch(protein_embeds, text_embeds, text_groups, gather)
    global_batch = all_protein.shape[0]
    scale = logit_scale.exp()
    logits_per_protein = scale * protein_embeds @ bank_embeds.t()  # (local_batch, bank_size)
    logits_per_text = scale * text_embeds @ all_protein.t()  # (local_batch, global_batch)
    labels = torch.arange(offset, offset + local_batch, device=protein_embeds.device)
    targets = bank_targets.to(logits_per_protein.dtype)
    loss_sum = F.cross_entropy(logits_per_protein, targets / targets.sum(1, keepdim=True), reduction="sum") + \
        _in_batch_cross_entropy(logits_per_text, labels, text_groups, all_groups)
    loss = loss_sum * (world_size / global_batch)
    return ContrastiveLossOutput(loss, logits_per_protein, logits_per_text, labels, all_groups, bank_targets)


def text_group_ids(text_input_ids: torch.Tensor, text_attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) int64 id per text row, equal for rows with identical tokens (padding ignored): a 64-bit polynomial hash
    of the token ids (wrapping integer arithmetic; a collision between distinct texts has probability ~2^-64).

    Args:
        text_input_ids (`torch.LongTensor` of shape `(batch, text_len)`): the unmasked text tokens.
        text_attention_mask (`torch.LongTensor` of shape `(batch, text_len)`, *optional*): 1 = real token.
    """
    ids = text_input_ids.long() + 1  # + 1: a real token never contributes 0
    if text_attention_mask is not None:
        ids = ids * text_attention_mask.long()
    # fixed odd multipliers per position (the same in every process and run)
    generator = torch.Generator().manual_seed(0x5EED)
    weights = torch.randint(1, 2**62, (ids.shape[1],), generator=generator, dtype=torch.long) * 2 + 1
    return (ids * weights.to(ids.device)).sum(1)


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy over the positions whose label is not `ignore_index`.

    With no scored position the loss is a zero that stays connected to `logits` (so every parameter still
    receives a gradient, which DDP requires), never NaN.

    Args:
        logits (`torch.Tensor`): (..., num_classes).
        labels (`torch.Tensor`): (...), class indices or `ignore_index`.

    Returns:
        `torch.Tensor`: scalar.
    """
    logits = logits.reshape(-1, logits.shape[-1]).float()
    labels = labels.reshape(-1)
    # sum / count instead of reduction="mean": no NaN for zero scored positions, and no host sync to check for it
    total = F.cross_entropy(logits, labels, ignore_index=ignore_index, reduction="sum")
    return total / (labels != ignore_index).sum().clamp(min=1)


def task_loss(problem_type: str, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss of a downstream task head, as transformers' heads compute it.

    Args:
        problem_type (`str`): `single_label_classification` (cross-entropy over class ids, -100 ignored),
            `multi_label_classification` (BCE with logits on multi-hot targets) or `regression` (MSE; NaN targets
            are not scored, e.g. a residue without a value).
        logits (`torch.Tensor`): (..., num_labels).
        labels (`torch.Tensor`): class ids (...), multi-hot (..., num_labels), or values.
    """
    if problem_type == "regression":
        prediction = logits.squeeze(-1) if logits.shape[-1] == 1 else logits
        target = labels.to(prediction.dtype).reshape(prediction.shape)
        valid = ~torch.isnan(target)
        return F.mse_loss(prediction[valid].float(), target[valid].float())
    if problem_type == "single_label_classification":
        return masked_cross_entropy(logits, labels.long())
    if problem_type == "multi_label_classification":
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    raise ValueError(f"unknown problem type {problem_type!r}")


def masked_accuracy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Fraction of scored positions (label != `ignore_index`) where the arg-max of `logits` is the label.

    Returns:
        `torch.Tensor`: scalar in [0, 1]; NaN when no position is scored.
    """
    labels = labels.reshape(-1)
    valid = labels != ignore_index
    correct = (logits.reshape(-1, logits.shape[-1]).argmax(-1) == labels) & valid
    return correct.sum().float() / valid.sum().float()


__all__ = [
    "ContrastiveLossOutput",
    "contrastive_loss",
    "gather_with_grad",
    "masked_accuracy",
    "masked_cross_entropy",
    "task_loss",
    "text_bank_loss",
    "text_group_ids",
]
