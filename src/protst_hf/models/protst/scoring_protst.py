"""Zero-shot scoring: the zero-shot classifier ([`ZeroShotClassifier`], the one place a zero-shot score is made),
the built-in label sets, class logits from label prompts, the prior that turns ProtST's scores into posteriors, the
record of a model's training texts, and temperature calibration.

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .inference_protst import embed_texts_cached
from .texts_protst import key_statements, key_units, resolve_field, statement_field, text_field

# written beside the weights by the pretraining loop: how often each distinct training text occurred
TRAINING_TEXTS_FILE = "training_texts.json"
# texts kept in the file, most frequent first (the rest are counted, not listed)
MAX_RECORDED_TEXTS = 100_000


def write_training_texts(folder: str | Path, counts: Counter, objective: str, text_unit: str = "text") -> Path:
    """Record the training texts' counts in `folder/training_texts.json` ([`training_text_record`]); returns the
    path written."""
    path = Path(folder) / TRAINING_TEXTS_FILE
    path.write_text(json.dumps(training_text_record(counts, objective, text_unit), ensure_ascii=False) + "\n")
    return path


def training_text_record(counts: Mapping[str, int], objective: str, text_unit: str = "text") -> dict:
    """The record of a model's training texts, as a saved model keeps it (`training_texts.json`): what the prior,
    the multi-label count, the prompt pooling of `"auto"` and the templates of `field=` are read from.

    Layout: `{"format": 1, "objective": "in_batch" | "text_bank", "text_unit": "text" | "statement", "rows": N,
    "distinct_texts": U, "texts": {text: count, ...} (the `MAX_RECORDED_TEXTS` most frequent), "omitted_rows": rows
    whose text is not listed, "templates": {field: template}}`. Texts are recorded by their key
    (`texts_protst.text_key`: a text made of ProtDescribe fields is the JSON of its fields). With
    `text_unit="statement"` (each protein was paired with one statement of its text per step) the record counts
    statements: `texts` maps each single statement to the number of rows that state it, which is a label's training
    frequency (CAFA's naive predictor for GO terms).

    `objective` says what the model's protein -> text scores estimate: `in_batch` (the original's InfoNCE over the
    batch's texts) learns log p(t | x) - log p(t), so the prior must be added back; `text_bank` learns log p(t | x).
    `templates` names the prompt template of every topic the training texts state ("MOLECULAR FUNCTION: ATP
    binding." -> `{"molecular_function": "MOLECULAR FUNCTION: {}."}`; the statements of every field of a
    four-field text, "SUBCELLULAR LOCATION: Nucleus." -> `"subcellular_location"`): what `field=` of the zero-shot and
    retrieval pipelines looks up, so that a label is worded as training worded it.

    Args:
        counts: training rows per text key.
        objective: `"in_batch"` or `"text_bank"`.
        text_unit: `"text"` or `"statement"` (the pretraining argument).
    """
    counts = Counter(counts)
    rows = sum(counts.values())
    if text_unit == "statement":
        statement_rows = Counter()
        for key, count in counts.items():
            for part in key_units(key):
                statement_rows[part] += count
        counts = statement_rows
    top = counts.most_common(MAX_RECORDED_TEXTS)
    templates = {}
    for key in counts:
        for part in key_statements(key):
            name = statement_field(part)
            if name is not None:
                templates.setdefault(name, f"{part.partition(': ')[0]}: {{}}.")
    record = {"format": 1, "objective": objective, "text_unit": text_unit, "rows": rows,
              "distinct_texts": len(counts), "texts": dict(top),
              "omitted_rows": rows - sum(c for _, c in top) if text_unit == "text" else None,
              "templates": dict(sorted(templates.items()))}
    return record


def field_template(record: Mapping | None, field: str) -> str:
    """The prompt template of a text field that a model's training texts used ([`write_training_texts`]):
    `"molecular_function"` (or its ProtDescribe column `"go_function"`) -> `"MOLECULAR FUNCTION: {}."`.

    Args:
        record: the model's training-text record ([`read_training_texts`]), None when it has none.
        field: a field by name, ProtDescribe column or heading (`texts_protst.resolve_field`).

    Raises:
        `ValueError` naming the fields the model has and suggesting a template of the field's own kind.
    """
    templates = (record or {}).get("templates") or {}
    name = resolve_field(field)
    if name not in templates:
        have = ", ".join(sorted(templates)) or "none recorded"
        known = text_field(name)
        example = known.template if known is not None and known.heading else "SUBCELLULAR LOCATION: {}."
        called = f"{field!r}" if name == field else f"{field!r} ({name!r})"
        raise ValueError(f"this model records no text field {called} (its training texts' fields: {have}); give "
                         f"a template instead, e.g. {example!r}")
    return templates[name]


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


def normalise_statement(text: str) -> str:
    """A statement as statements are matched: lower case, spaces collapsed, no final period."""
    return " ".join(text.lower().split()).rstrip(".")


def statements(key: str) -> list[str]:
    """The normalised single statements of a recorded training text (its key, `texts_protst.key_statements`):
    "SUBCELLULAR LOCATION: Cytoplasm. Nucleus." -> ["subcellular location: cytoplasm", "subcellular location:
    nucleus"]. The one matching of training texts to class prompts (the prior, and whatever groups texts by
    class)."""
    return [normalise_statement(part) for part in key_statements(key)]


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


def model_file(source: str | Path | None, filename: str) -> Path | None:
    """A file of a model, `source` being its local folder or its Hub id (downloaded and cached); None when the model
    has no such file (or `source` is empty). The one lookup of a model's side files: its training-text record and
    the label sets shipped beside Hub code.

    Args:
        source: the model's folder or Hub repository id (`model.config._name_or_path`).
        filename: the file's path inside the folder, e.g. `"training_texts.json"` or `"label_sets/x.tsv"`.
    """
    if not source:
        return None
    local = Path(source) / filename
    if local.is_file() or Path(source).exists():
        return local if local.is_file() else None
    from transformers.utils import cached_file

    try:
        found = cached_file(str(source), filename, _raise_exceptions_for_missing_entries=False)
    except OSError:
        return None
    return Path(found) if found else None


def model_training_texts(model) -> dict | None:
    """The training-text record of a loaded model ([`read_training_texts`] of its folder or Hub repository's
    `training_texts.json`), None when it has none."""
    path = model_file(getattr(model.config, "_name_or_path", "") or "", TRAINING_TEXTS_FILE)
    return read_training_texts(path) if path is not None else None


def label_sets_directory(model=None) -> Path:
    """Where the built-in label sets are: beside this file (installed package or Hub code), else in the model's
    folder or Hub repository (downloaded and cached)."""
    here = Path(__file__).parent / "label_sets"
    if here.is_dir() or model is None:
        return here
    source = getattr(model.config, "_name_or_path", "") or ""
    paths = [model_file(source, f"label_sets/{name}") for name in label_set_files()]
    if any(p is None for p in paths):
        raise ValueError(f"the model {source!r} ships no label sets (label_sets/)")
    return paths[0].parent


def resolve_labels(candidate_labels=None, hypothesis_template: str | None = None, label_set: str | None = None,
                   template: str | None = None, directory: Path | None = None,
                   default_template: str = "SUBCELLULAR LOCATION: {}.") -> tuple[list[str], list[list]]:
    """(display names, the prompts of each class) of labels as a user gives them.

    Args:
        candidate_labels: label names (a list, or one string of comma-separated names), each put into the template
            (one prompt each); or a mapping of label names to their prompts (a string or a list each, verbatim).
        hypothesis_template: the template of labels given by name (`"{}"` marks the label).
        label_set: a built-in label set instead ([`LABEL_SETS`]), read from `directory` (default: the package's).
        template: the template of a model's text field (`field=`, see [`field_template`]), instead of
            `hypothesis_template`.
        default_template: the template when neither is given (the original's recommended prompt).
    """
    if template is not None:
        if hypothesis_template is not None:
            raise ValueError("give `field` or `hypothesis_template`, not both")
        if label_set is not None or isinstance(candidate_labels, Mapping):
            raise ValueError("`field` words candidate labels given by name; a label set or labels given with "
                             "their prompts take none")
        hypothesis_template = template
    if label_set is not None:
        if candidate_labels is not None:
            raise ValueError("give `candidate_labels` or `label_set`, not both")
        return label_set_prompts(label_set, directory or LABEL_SETS_DIRECTORY)
    if candidate_labels is None:
        raise ValueError("give `candidate_labels` (a list of label names) or `label_set` "
                         f"(one of {sorted(LABEL_SETS)})")
    if isinstance(candidate_labels, Mapping):
        if hypothesis_template is not None:
            raise ValueError("labels given with their prompts take no `hypothesis_template`")
        prompts = [[p] if isinstance(p, str) else list(p) for p in candidate_labels.values()]
        if not prompts or any(not group for group in prompts):
            raise ValueError("every label given as a mapping needs at least one prompt")
        return [str(name) for name in candidate_labels], prompts
    if isinstance(candidate_labels, str):
        candidate_labels = [c.strip() for c in candidate_labels.split(",") if c.strip()]
    if not candidate_labels:
        raise ValueError("`candidate_labels` is empty")
    template = hypothesis_template if hypothesis_template is not None else default_template
    if "{}" not in template:
        raise ValueError(f"`hypothesis_template` needs a '{{}}' for the label: {template!r}")
    return list(candidate_labels), [[template.format(label)] for label in candidate_labels]


def prompt_key(prompts: Sequence[Sequence]) -> tuple:
    """A hashable key of prompt groups (strings or mappings of ProtDescribe fields): what caches key on."""
    return tuple(tuple(t if isinstance(t, str) else tuple(sorted(t.items())) for t in group) for group in prompts)


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
    "ZeroShotClassifier",
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
    "label_sets_directory",
    "model_file",
    "model_training_texts",
    "prompt_key",
    "resolve_labels",
    "normalise_statement",
    "read_training_texts",
    "resolve_pooling",
    "resolve_prior",
    "statement_counts",
    "statements",
    "text_log_prior",
    "training_text_record",
    "write_training_texts",
    "zero_shot_logit_scale",
]
