"""Zero-shot scoring: the built-in label sets, class logits from label prompts, the prior that turns ProtST's scores
into posteriors, and temperature calibration.

Why a prior: the original's contrastive loss (InfoNCE over the batch's texts) learns, at its optimum, a score
s(x, t) = log p(t | x) - log p(t) + const, a density ratio: a frequent text is a negative as often as it is a
positive, so the scores forget how common each text is. Adding log p(class) back (Bayes' rule) gives the posterior
up to a constant. A model trained against a bank of every training text (`contrastive_text_bank`) learns
log p(t | x) itself and needs no prior. The prior is estimated from the training texts that a model folder
records (`training_texts.json`), without any label.

This file is shipped to the Hub with saved models (the pipelines import it): it imports its siblings only.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from .processing_protst import is_heading, text_parts

# written beside the weights by the pretraining loop: how often each distinct training text occurred
TRAINING_TEXTS_FILE = "training_texts.json"
# texts kept in the file, most frequent first (the rest are counted, not listed)
MAX_RECORDED_TEXTS = 100_000


def write_training_texts(folder: str | Path, counts: Counter, objective: str, text_unit: str = "text") -> Path:
    """Record the training texts' counts in `folder/training_texts.json`.

    Layout: `{"format": 1, "objective": "in_batch" | "text_bank", "text_unit": "text" | "statement", "rows": N,
    "distinct_texts": U, "texts": {text: count, ...} (the `MAX_RECORDED_TEXTS` most frequent), "omitted_rows": rows
    whose text is not listed, "templates": {field: template}}`. A text made of ProtDescribe fields is recorded as
    the JSON of its fields (sorted keys). With `text_unit="statement"` (each protein was paired with one statement
    of its text per step) the record counts statements: `texts` maps each single statement to the number of rows
    that state it, which is a label's training frequency (CAFA's naive predictor for GO terms).

    `objective` says what the model's protein -> text scores estimate: `in_batch` (the original's InfoNCE over the
    batch's texts) learns log p(t | x) - log p(t), so the prior must be added back; `text_bank` learns log p(t | x).
    `templates` names the prompt template of every topic the training texts state ("MOLECULAR FUNCTION: ATP
    binding." -> `{"molecular_function": "MOLECULAR FUNCTION: {}."}`): what `field=` of the zero-shot and retrieval
    pipelines looks up, so that a label is worded as training worded it.
    """
    rows = sum(counts.values())
    if text_unit == "statement":
        statement_rows = Counter()
        for key, count in counts.items():
            for part in dict.fromkeys(text_parts(key)) if not key.startswith("{") else (key,):
                statement_rows[part] += count
        counts = statement_rows
    top = counts.most_common(MAX_RECORDED_TEXTS)
    templates = {}
    for key in counts:
        for part in text_parts(key) if not key.startswith("{") else ():
            heading, colon, _ = part.partition(": ")
            if colon and is_heading(heading):
                templates.setdefault(heading.lower().replace(" ", "_"), f"{heading}: {{}}.")
    record = {"format": 1, "objective": objective, "text_unit": text_unit, "rows": rows,
              "distinct_texts": len(counts), "texts": dict(top),
              "omitted_rows": rows - sum(c for _, c in top) if text_unit == "text" else None,
              "templates": dict(sorted(templates.items()))}
    path = Path(folder) / TRAINING_TEXTS_FILE
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def field_template(record: Mapping | None, field: str) -> str:
    """The prompt template of a text field (`"molecular_function"` -> `"MOLECULAR FUNCTION: {}."`) that a model's
    training texts used ([`write_training_texts`]); a clear `ValueError` naming the fields it has."""
    templates = (record or {}).get("templates") or {}
    if field not in templates:
        have = ", ".join(sorted(templates)) or "none recorded"
        raise ValueError(f"this model records no text field {field!r} (its training texts' fields: {have}); give "
                         "a template instead, e.g. 'MOLECULAR FUNCTION: {}.'")
    return templates[field]


# name -> (file, text column, template, display-name file). A column of several `|`-separated values gives each class
# several prompts, whose embeddings are averaged (prompt ensembling, as CLIP's zero-shot classifiers).
LABEL_SETS = {
    # the 10 DeepLoc classes as Swiss-Prot words them ("Secreted", "Endoplasmic reticulum membrane", ...), which
    # is how ProtST's pretraining texts (ProtDescribe's SUBCELLULAR LOCATION field) name locations
    "subcellular_location": ("subloc_swissprot.tsv", "keywords", "SUBCELLULAR LOCATION: {}.", "subloc_swissprot.tsv"),
    # the original's prompts (ProtST's subloc_name.tsv): the DeepLoc class names, one prompt each
    "subcellular_location_protst": ("subloc_name.tsv", "name", "SUBCELLULAR LOCATION: {}.", "subloc_name.tsv"),
    "subcellular_location_description": ("subloc_template.tsv", "description", "{}", "subloc_name.tsv"),
    "reaction": ("reaction_template.tsv", "name", "{}", "reaction_name.tsv"),
    "reaction_description": ("reaction_template.tsv", "description", "{}", "reaction_name.tsv"),
}
LABEL_SETS_DIRECTORY = Path(__file__).parent / "label_sets"


def label_set_files() -> list[str]:
    """The files of `label_sets/` that the built-in sets read."""
    return sorted({entry[0] for entry in LABEL_SETS.values()} | {entry[3] for entry in LABEL_SETS.values()})


def label_set_prompts(name: str, directory: Path = LABEL_SETS_DIRECTORY) -> tuple[list[str], list[list[str]]]:
    """(display names, the prompts of each class) of a built-in label set read from `directory`."""
    if name not in LABEL_SETS:
        raise ValueError(f"unknown label set {name!r}; built-in sets: {sorted(LABEL_SETS)}")
    filename, column, template, names_file = LABEL_SETS[name]

    def read(file):
        with open(Path(directory) / file, newline="") as f:
            return list(csv.DictReader(f, delimiter="\t"))

    prompts = [[template.format(value.strip()) for value in row[column].split("|") if value.strip()]
               if column == "keywords" else [template.format(row[column].strip())] for row in read(filename)]
    names = [row["name"].strip() for row in read(names_file)]
    return names, prompts


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
        logits = torch.full((protein_embeds.shape[0], num_classes), float("-inf"), device=per_prompt.device)
        for c in range(num_classes):
            logits[:, c] = per_prompt[:, owner == c].logsumexp(-1)
    if log_prior is not None:
        logits = logits + log_prior.to(logits.device, logits.dtype)
    return logits


def normalise_statement(text: str) -> str:
    """A statement as statements are matched: lower case, spaces collapsed, no final period."""
    return " ".join(text.lower().split()).rstrip(".")


def statements(key: str) -> list[str]:
    """The normalised single statements of a recorded training text (a string, or the JSON of ProtDescribe fields):
    "SUBCELLULAR LOCATION: Cytoplasm. Nucleus." -> ["subcellular location: cytoplasm", "subcellular location:
    nucleus"]. The one matching of training texts to class prompts (the prior, and whatever groups texts by
    class)."""
    texts = [key]
    if key.startswith("{"):
        try:
            fields = json.loads(key)
            texts = [v for v in fields.values() if isinstance(v, str) and v] if isinstance(fields, dict) else [key]
        except json.JSONDecodeError:
            pass
    return [normalise_statement(part) for text in texts for part in text_parts(text)]


def statement_counts(record: Mapping) -> Counter:
    """How many training rows state each single statement (normalised: lower case, spaces collapsed, no final
    period), from a [`read_training_texts`] record: "SUBCELLULAR LOCATION: Cytoplasm. Nucleus." counts once for
    "...: cytoplasm" and once for "...: nucleus"."""
    counts = Counter()
    for key, count in record["texts"].items():
        for statement in set(statements(key)):
            counts[statement] += int(count)
    return counts


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


def resolve_pooling(pooling: str, record: Mapping | None) -> str:
    """`"auto"` -> `"logsumexp"` for a model trained against a text bank (its logits are log p(t | x) + const, so a
    class named by several texts is as likely as those texts together), else `"mean"` (CLIP's prompt ensembling,
    which suits density-ratio scores); `mean` and `logsumexp` are returned as given."""
    if pooling not in PROMPT_POOLINGS:
        raise ValueError(f"prompt_pooling must be one of {', '.join(PROMPT_POOLINGS)}, got {pooling!r}")
    if pooling == "auto":
        return "logsumexp" if record is not None and record.get("objective") == "text_bank" else "mean"
    return pooling


def read_training_texts(path: str | Path) -> dict:
    """The record written by [`write_training_texts`]; a clear `ValueError` on a damaged file."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot be read as training-text statistics ({err})") from err
    if not isinstance(record, dict) or record.get("format") != 1 or not isinstance(record.get("texts"), dict):
        raise ValueError(f"{path}: not a training_texts.json of format 1")
    return record


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: the mean gap between confidence and accuracy over equal-width confidence bins, weighted by bin size."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, steps: int = 200) -> float:
    """Temperature scaling (Guo et al., 2017): the T > 0 minimising the NLL of softmax(logits / T) on a
    labelled validation set, within [0.01, 100]. Stored as `model.config.zero_shot_temperature` (see
    `ZeroShotProteinClassificationPipeline.calibrate`), the zero-shot pipeline divides by it."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    labels = torch.as_tensor(labels, dtype=torch.long)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    if not 1e-2 <= temperature <= 1e2:
        warnings.warn(f"fitted temperature {temperature:.3g} clipped to [0.01, 100]: the logits rank the labels "
                      "no better than chance (T -> infinity) or perfectly separate them (T -> 0)", stacklevel=2)
        temperature = min(max(temperature, 1e-2), 1e2)
    return temperature


__all__ = [
    "auto_prior",
    "LABEL_SETS",
    "MAX_RECORDED_TEXTS",
    "PRIORS",
    "PROMPT_POOLINGS",
    "TRAINING_TEXTS_FILE",
    "class_log_prior",
    "class_logits",
    "expected_calibration_error",
    "fit_temperature",
    "label_probabilities",
    "label_set_files",
    "expected_label_count",
    "field_template",
    "label_set_prompts",
    "normalise_statement",
    "read_training_texts",
    "resolve_pooling",
    "resolve_prior",
    "statement_counts",
    "statements",
    "text_log_prior",
    "write_training_texts",
    "zero_shot_logit_scale",
]
