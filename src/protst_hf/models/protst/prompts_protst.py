"""What zero-shot labels are worded with: the record of a model's training texts (`training_texts.json`: how often
each distinct text occurred, and the template each field was worded with), the built-in label sets, and the
resolution of a call's labels into prompts. Plain data, as open_clip keeps its zero-shot metadata apart from the
classifier.

This file is shipped to the Hub with saved models (the pipelines import it): it imports its siblings only.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

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


__all__ = ["LABEL_SETS", "LABEL_SETS_DIRECTORY", "MAX_RECORDED_TEXTS", "TRAINING_TEXTS_FILE", "field_template",
           "label_set_files", "label_set_prompts", "label_sets_directory", "model_file", "model_training_texts",
           "normalise_statement", "prompt_key", "read_training_texts", "resolve_labels", "statement_counts",
           "statements", "training_text_record", "write_training_texts"]
