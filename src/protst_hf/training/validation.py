"""Validation during pretraining, reported so that it cannot mislead:

- retrieval between the validation proteins and their texts, each recall beside uniform chance and the frequency
  baseline (texts ranked by how often they occur in training), plus macro recalls that no protein-blind ranking can
  win (see `protst_hf.evaluation.retrieval_metrics`);
- masked-prediction accuracies on fixed masks, beside the unigram baseline (always predicting the most frequent
  residue, or text token, of the masked positions);
- when label texts are given, zero-shot classification: accuracy (a prediction is right when it is one of the
  protein's labels), balanced accuracy, the majority class, and the histogram of predictions;
- the mean cosine between the validation proteins' pooled tower features and between their embeddings: when it
  nears 1, every protein looks alike (collapse), whatever the losses say.

Every process embeds its share of the validation set with the same number of forward passes (ZeRO-3 needs that);
the shares are gathered in order.
"""

from __future__ import annotations

import csv
import math
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.texts import row_text
from ..evaluation.metrics import zero_shot_report
from ..evaluation.retrieval_metrics import retrieval_metrics
from ..models.protst.inference_protst import embed_proteins, embed_texts
from ..models.protst.modeling_protst import apply_head
from ..models.protst.prompts_protst import label_set_prompts, training_text_record
from ..models.protst.texts_protst import text_key
from ..models.protst.zero_shot_protst import ZeroShotClassifier

VALIDATION_EPOCH = 2**31 - 1  # the batch-key epoch of the fixed validation masks


@dataclass
class ZeroShotSet:
    """Proteins with their class labels and one or more label texts per class (prompt ensembles are averaged)."""

    sequences: list[str]
    labels: list[list[int]]
    class_names: list[str]
    prompts: list[list[str]]

    @classmethod
    def from_files(cls, path: str, labels: str | None = None, label_set: str | None = None) -> ZeroShotSet:
        """Proteins from a CSV with `sequence` and `label` (class ids or names; several joined by `|`), and the
        label texts of a built-in label set or of a file (ProtST's `subloc_name.tsv` layout, or one per line)."""
        if label_set:
            names, prompts = label_set_prompts(label_set)
        elif labels:
            lines = Path(labels).read_text().splitlines()
            if lines and lines[0].split("\t")[:2] == ["id", "name"]:
                rows = [line.split("\t") for line in lines[1:] if line.strip()]
                names, prompts = [r[1].strip() for r in rows], [[r[1]] for r in rows]
            else:
                names = [line for line in lines if line.strip()]
                prompts = [[t] for t in names]
        else:
            raise ValueError("a zero-shot file needs its label texts: --zero_shot_label_set or --zero_shot_labels")
        index = {name.lower(): i for i, name in enumerate(names)}
        sequences, label_ids = [], []
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                ids = []
                for value in str(row["label"]).split("|"):
                    value = value.strip()
                    ids.append(int(value) if value.isdigit() else index[value.lower()])
                sequences.append(row["sequence"])
                label_ids.append(ids)
        return cls(sequences, label_ids, list(names), prompts)


class PretrainingValidator:
    """Computes the validation metrics of a [`Pretrainer`] run (all processes call `evaluate`)."""

    def __init__(self, trainer, rows, zero_shot: ZeroShotSet | None, train_text_counts: Counter,
                 unigram: dict[str, float]):
        self.trainer, self.rows, self.zero_shot = trainer, rows, zero_shot
        self.train_text_counts, self.unigram = train_text_counts, unigram

    @torch.no_grad()
    def evaluate(self) -> dict:
        trainer = self.trainer
        batch_size = max(trainer.args.per_device_batch_size, 8)
        texts = [row_text(row) for row in self.rows]
        proteins, raw = self._gathered_proteins(self.rows["sequence"], batch_size)
        text_embeds = self._gathered(lambda share: embed_texts(trainer.unwrapped.protst, trainer.processor,
                                                               [texts[i] for i in share], batch_size=batch_size),
                                     len(texts))
        keys = [text_key(t) for t in texts]
        metrics = retrieval_metrics(proteins, text_embeds, texts=keys, train_text_counts=self.train_text_counts)
        metrics["protein_feature_mean_cosine"] = mean_cosine(raw)
        metrics["protein_embedding_mean_cosine"] = mean_cosine(proteins)
        metrics.update(self._masked_accuracy(batch_size))
        metrics.update({f"{k}_unigram_baseline": v for k, v in self.unigram.items()})
        if self.zero_shot is not None:
            metrics.update(self._zero_shot(batch_size))
        return metrics

    def _gathered(self, embed, n: int) -> torch.Tensor:
        """`embed(positions)` on this process's share of n items (padded to equal shares), gathered in order."""
        accelerator = self.trainer.accelerator
        world = accelerator.num_processes
        per_process = math.ceil(n / world)
        share = [min(i, n - 1) for i in range(accelerator.process_index * per_process,
                                              (accelerator.process_index + 1) * per_process)]
        with accelerator.autocast():
            local = embed(share).to(accelerator.device)
        gathered = accelerator.gather(local) if world > 1 else local
        order = torch.arange(world * per_process).view(world, per_process).flatten()[:n]
        return gathered[order].cpu()

    def _gathered_proteins(self, sequences: list[str], batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised embeddings and raw pooled features of `sequences` (their first `eval_max_length` residues)."""
        trainer = self.trainer
        protst, max_length = trainer.unwrapped.protst, trainer.data_args.eval_max_length

        def embed(share):
            # max_tokens=None: the number of forward passes depends on the share's size alone
            raw = embed_proteins(protst, trainer.processor, [sequences[i] for i in share], batch_size=batch_size,
                                 max_tokens=None, project=False, normalize=False, max_length=max_length)
            projected = apply_head(protst.protein_projection, raw.to(trainer.accelerator.device))
            return torch.cat([torch.nn.functional.normalize(projected.float(), dim=-1).cpu(), raw], dim=-1)

        both = self._gathered(embed, len(sequences))
        dim = protst.config.projection_dim
        return both[:, :dim], both[:, dim:]

    @torch.no_grad()
    def _masked_accuracy(self, batch_size: int) -> dict:
        """Masked-prediction accuracies and loss on fixed masks (keyed by `VALIDATION_EPOCH`) of the validation set."""
        trainer = self.trainer
        accelerator, rows = trainer.accelerator, self.rows
        totals: dict[str, float] = {}
        n, world = len(rows), accelerator.num_processes
        batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
        batches += [batches[-1]] * (-len(batches) % world)  # equal counts; the repeats are weighted out below
        seen = set()
        for index in range(accelerator.process_index, len(batches), world):
            features = [{"sequence": rows[i]["sequence"][: trainer.data_args.eval_max_length],
                         "text": row_text(rows[i])} for i in batches[index]]
            batch = trainer.collator(features, batch_key=(VALIDATION_EPOCH, index))
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with accelerator.autocast():
                output = trainer.model(**batch)
            weight = 0.0 if tuple(batches[index]) in seen else float(len(batches[index]))
            seen.add(tuple(batches[index]))
            for name in ("loss", "mlm_accuracy", "mmp_protein_accuracy", "mmp_text_accuracy"):
                value = getattr(output, name)
                if value is not None and torch.isfinite(value):
                    totals[name] = totals.get(name, 0.0) + weight * float(value)
            totals["_weight"] = totals.get("_weight", 0.0) + weight
        keys = sorted(totals)
        values = torch.tensor([totals[k] for k in keys], device=accelerator.device)
        if world > 1:
            values = accelerator.reduce(values, reduction="sum")
        result = dict(zip(keys, values.tolist()))
        weight = max(result.pop("_weight"), 1.0)
        return {name: v / weight for name, v in result.items()}

    @torch.no_grad()
    def _zero_shot(self, batch_size: int) -> dict:
        trainer, zero_shot = self.trainer, self.zero_shot
        proteins, _ = self._gathered_proteins(zero_shot.sequences, batch_size)
        protst = trainer.unwrapped.protst
        with trainer.accelerator.autocast():
            prompt_embeds = embed_texts(protst, trainer.processor, [t for group in zero_shot.prompts for t in group])
        record = training_text_record(trainer.text_counts, run_objective(protst.config), trainer.data_args.text_unit) \
            if trainer.text_counts else None

        def classify(prior: str) -> ZeroShotClassifier:
            return zero_shot_classifier(protst, zero_shot, record, prompt_embeds, prior)

        predictions = classify("auto").logits(proteins).argmax(-1).numpy()
        report = zero_shot_report(predictions, zero_shot.labels, zero_shot.class_names)
        out = {"zero_shot_accuracy": report["accuracy"], "zero_shot_balanced_accuracy": report["balanced_accuracy"],
               "zero_shot_majority_baseline": report["majority_accuracy"],
               "zero_shot_balanced_chance": 1 / len(report["per_class_recall"])}
        with_prior = classify("training") if record is not None else None
        if with_prior is not None and with_prior.log_prior is not None:  # the training texts' class prior added
            prior_report = zero_shot_report(with_prior.logits(proteins).argmax(-1).numpy(), zero_shot.labels,
                                            zero_shot.class_names)
            out["zero_shot_accuracy_with_prior"] = prior_report["accuracy"]
            out["zero_shot_balanced_accuracy_with_prior"] = prior_report["balanced_accuracy"]
        out.update({f"zero_shot_predicted/{name}": count / len(predictions)
                    for name, count in report["prediction_histogram"].items()})
        return out


def run_objective(config) -> str:
    """What a run's protein -> text scores estimate (the record's `objective`): `text_bank` or `in_batch`."""
    return "text_bank" if config.contrastive_text_bank else "in_batch"


def zero_shot_classifier(protst, zero_shot: ZeroShotSet, record: dict | None, prompt_embeds: torch.Tensor,
                         prior: str = "auto") -> ZeroShotClassifier:
    """The classifier validation scores `zero_shot` with: the one the zero-shot pipeline builds for the exported
    model (whose `training_texts.json` is `record`), from the prompts' embeddings computed by every process.

    Args:
        protst: the `ProtSTModel` being trained.
        zero_shot: the validation proteins' classes and prompts.
        record: the run's training-text record ([`training_text_record`]), None without one.
        prompt_embeds: (prompts, D) normalised embeddings of the prompts, in order.
        prior: `"auto"` (the pipeline's default) or `"training"`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a prior that cannot be estimated is reported by its absence
        return ZeroShotClassifier.build(protst, None, zero_shot.class_names, zero_shot.prompts, record, prior=prior,
                                        temperature=1.0, prompt_embeds=prompt_embeds)


def mean_cosine(x: torch.Tensor) -> float:
    """Mean cosine similarity between distinct rows of x (N, D): near 1 when every row points the same way."""
    x = torch.nn.functional.normalize(x.double(), dim=-1)
    n = x.shape[0]
    if n < 2:
        return float("nan")
    total = x.sum(0)
    return float((total @ total - n) / (n * (n - 1)))


def unigram_baselines(collator, rows, eval_max_length: int, batch_size: int = 32, limit: int = 2000) -> dict:
    """Accuracy of always predicting the most frequent residue (and text token) at masked positions, measured on
    the validation masks: the floor that masked-prediction accuracy must beat to show any learning."""
    protein_counts, text_counts = Counter(), Counter()
    protein_masked = text_masked = 0
    n = min(len(rows), limit)
    for index, start in enumerate(range(0, n, batch_size)):
        features = [{"sequence": rows[i]["sequence"][:eval_max_length], "text": row_text(rows[i])}
                    for i in range(start, min(start + batch_size, n))]
        batch = collator(features, batch_key=(VALIDATION_EPOCH, index))
        protein = batch["protein_labels"][batch["protein_labels"] != -100]
        text = batch["text_labels"][batch["text_labels"] != -100]
        protein_counts.update(protein.tolist())
        text_counts.update(text.tolist())
        protein_masked += protein.numel()
        text_masked += text.numel()
    out = {}
    if protein_masked:
        out["mlm_accuracy"] = out["mmp_protein_accuracy"] = protein_counts.most_common(1)[0][1] / protein_masked
    if text_masked:
        out["mmp_text_accuracy"] = text_counts.most_common(1)[0][1] / text_masked
    return out


def selection_metric(name: str, zero_shot: bool) -> str:
    """The metric that picks the best checkpoint: `auto` is zero-shot balanced accuracy when label texts are
    given, else the macro retrieval recall; neither can be won by ranking texts by frequency."""
    if name != "auto":
        return name
    return "zero_shot_balanced_accuracy" if zero_shot else "macro_mean_recall"


__all__ = ["PretrainingValidator", "VALIDATION_EPOCH", "ZeroShotSet", "mean_cosine", "run_objective",
           "selection_metric", "unigram_baselines", "zero_shot_classifier"]
