"""Benchmark task registry: what each task predicts, how it is scored, and where its splits come from.

A `Task` names its label type (`single_label`, `multi_label`, `regression`), its metrics (the first selects the
model), and its source: a Hub dataset id (`datasets.load_dataset`, splits train / validation / test), local files
per split (CSV, TSV, parquet or FASTA), or a loader function for data that needs work (a random split of one file,
homology partitions, mutations applied to a wild type). `load_task` returns the splits as `TaskSplit`s and a
report of every row it did not keep and why; nothing is dropped silently.

Sequences are cleaned by the processor's own check (`clean_protein`), so a task never holds a sequence the model
would refuse later: whitespace removed (the `mila-intel/ProtST-*` sets store residues space-separated), upper-cased,
a trailing `*` removed; a row whose sequence is empty or holds a character other than the 20 standard residues and
B, Z, U, O, X is skipped and counted.

Tasks given as local files read them under a data root when their paths are relative: `data_root=`,
`protst evaluate --data-root`, or the environment variable `PROTST_DATA_ROOT`. The registry holds tasks a user can
load (the paper's benchmarks: a Hub dataset, or files you pass); loaders of machine-local data (this project's
`../shared/data`) live with the benchmarks that read them (`benchmarks/shared_tasks.py`) and add themselves with
`TASKS.update(...)`.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..models.protst.processing_protst import clean_protein

_SPLIT_ALIASES = {"train": "train", "training": "train", "valid": "validation", "validation": "validation",
                  "val": "validation", "dev": "validation", "test": "test", "testing": "test"}
SEQUENCE_COLUMNS = ("sequence", "prot_seq", "primary", "seq", "aa_seq", "protein")
LABEL_COLUMNS = ("label", "labels", "target", "localization", "fitness", "score", "log_fluorescence",
                 "stability_score", "tm", "y")


@dataclass
class Task:
    """One benchmark.

    Args:
        name: registry key, used on the command line.
        label_type: `single_label` (class ids), `multi_label` (sets of classes) or `regression`.
        metrics: metric names of `protst_hf.evaluation.metrics`; the first selects the model on validation.
        description: one line for tables and cards.
        label_names: class names (classification); inferred from the training split when None.
        hub_id: a Hub dataset with train / validation / test splits.
        files: split -> file (relative paths are resolved against `data_root`).
        loader: `loader(task, data_root) -> dict[split, (sequences, raw labels)]` for data that needs work (an
            optional `"_skipped"` entry counts rows it left out, by reason).
        sequence_column / label_column: column names to try, in order.
        label_separator: multi-label classes in one cell are joined by it.
        crop: training crop of the full / LoRA protocols (the original: 550); `FinetuneArguments.crop` overrides it.
        paper: reference numbers from the ProtST paper, shown beside results.
    """

    name: str
    label_type: str
    metrics: tuple[str, ...]
    description: str
    label_names: tuple[str, ...] | None = None
    hub_id: str | None = None
    files: dict[str, str] | None = None
    loader: Callable | None = None
    sequence_column: tuple[str, ...] = SEQUENCE_COLUMNS
    label_column: tuple[str, ...] = LABEL_COLUMNS
    label_separator: str = "|"
    crop: int = 550
    paper: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if self.label_type not in ("single_label", "multi_label", "regression"):
            raise ValueError(f"task {self.name}: unknown label_type {self.label_type!r}")

    @property
    def problem_type(self) -> str:
        return {"single_label": "single_label_classification", "multi_label": "multi_label_classification",
                "regression": "regression"}[self.label_type]


@dataclass
class TaskSplit:
    """Sequences and encoded labels of one split: class ids `(N,)`, multi-hot `(N, C)` or floats `(N,)`."""

    sequences: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.sequences)

    def subset(self, rows) -> TaskSplit:
        rows = np.asarray(rows, dtype=np.int64)
        return TaskSplit([self.sequences[i] for i in rows], self.labels[rows])


@dataclass
class TaskData:
    task: Task
    splits: dict[str, TaskSplit]
    label_names: list[str] | None
    report: dict

    @property
    def num_labels(self) -> int:
        return 1 if self.task.label_type == "regression" else len(self.label_names)


def clean_sequence(sequence) -> str | None:
    """The residues of `sequence` as the processor reads them ([`clean_protein`]), or None when it would refuse it."""
    try:
        return clean_protein(sequence)
    except ValueError:
        return None


def read_table(path: str | Path) -> list[dict]:
    """Rows of a CSV / TSV / parquet file, or of a FASTA file as `{"id", "sequence", "label"}` where the label is
    the header's last `|`-separated field (the ESM variant files: `>index|name|fitness`)."""
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    if suffix in (".parquet",):
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if suffix in (".fasta", ".fa", ".faa"):
        from ..data.splits import read_sequences

        rows = []
        for header, sequence in read_sequences(path):
            fields = header.split("|")
            rows.append({"id": fields[0], "sequence": sequence, "label": fields[-1] if len(fields) > 1 else None})
        return rows
    with open(path, newline="", encoding="utf-8-sig") as f:
        dialect = "excel-tab" if suffix in (".tsv", ".tab") else "excel"
        return list(csv.DictReader(f, dialect=dialect))


def _column(rows: list[dict], candidates: tuple[str, ...], what: str, where: str) -> str:
    present = rows[0].keys() if rows else ()
    for name in candidates:
        if name in present:
            return name
    raise KeyError(f"{where}: no {what} column among {list(present)} (tried {list(candidates)})")


def _from_rows(task: Task, rows: list[dict], where: str) -> tuple[list, list]:
    if not rows:
        return [], []
    sequence_column = _column(rows, task.sequence_column, "sequence", where)
    label_column = _column(rows, task.label_column, "label", where)
    return [r[sequence_column] for r in rows], [r[label_column] for r in rows]


def _from_hub(task: Task) -> dict[str, tuple[list, list]]:
    import datasets

    loaded = datasets.load_dataset(task.hub_id)
    out = {}
    for split_name, split in loaded.items():
        split_key = _SPLIT_ALIASES.get(split_name)
        if split_key is None:
            continue
        rows = split.to_list()
        out[split_key] = _from_rows(task, rows, f"{task.hub_id}[{split_name}]")
    return out


def _encode(task: Task, raw: dict[str, tuple[list, list]]) -> TaskData:
    """Clean sequences, parse labels, and count every row left out (bad sequence, missing or bad label)."""
    skipped: Counter = Counter(raw.pop("_skipped", {}))  # what a loader left out, by reason
    parsed: dict[str, tuple[list[str], list]] = {}
    for split, (sequences, labels) in raw.items():
        keep_sequences, keep_labels = [], []
        for sequence, label in zip(sequences, labels):
            clean = clean_sequence(sequence)
            if clean is None:
                skipped[f"{split}: empty sequence or a character that is not a residue"] += 1
                continue
            value = _parse_label(task, label)
            if value is None:
                skipped[f"{split}: missing or unparsable label"] += 1
                continue
            keep_sequences.append(clean)
            keep_labels.append(value)
        parsed[split] = (keep_sequences, keep_labels)

    label_names = None
    if task.label_type != "regression":
        label_names = list(task.label_names) if task.label_names else None
        if label_names is None:
            seen = set()
            for _, labels in parsed.values():
                for value in labels:
                    seen.update(value if task.label_type == "multi_label" else [value])
            label_names = sorted(seen, key=_natural_key)
        index = {str(name): i for i, name in enumerate(label_names)}
    splits = {}
    for split, (sequences, labels) in parsed.items():
        if task.label_type == "regression":
            encoded = np.asarray(labels, dtype=np.float32)
        elif task.label_type == "single_label":
            keep = [i for i, v in enumerate(labels) if str(v) in index]
            skipped[f"{split}: label not among the task's classes"] += len(labels) - len(keep)
            sequences, labels = [sequences[i] for i in keep], [labels[i] for i in keep]
            encoded = np.asarray([index[str(v)] for v in labels], dtype=np.int64)
        else:
            encoded = np.zeros((len(labels), len(label_names)), dtype=np.float32)
            for row, value in enumerate(labels):
                unknown = [v for v in value if str(v) not in index]
                skipped[f"{split}: label not among the task's classes (row kept, label dropped)"] += bool(unknown)
                encoded[row, [index[str(v)] for v in value if str(v) in index]] = 1
        splits[split] = TaskSplit(sequences, encoded)
    report = {"rows": {split: len(s) for split, s in splits.items()},
              "skipped": {reason: n for reason, n in sorted(skipped.items()) if n}}
    return TaskData(task, splits, label_names, report)


def _natural_key(value):
    text = str(value)
    return (0, int(text), "") if text.lstrip("-").isdigit() else (1, 0, text)


def _parse_label(task: Task, label):
    if label is None or (isinstance(label, float) and np.isnan(label)) or label == "":
        return None
    if task.label_type == "regression":
        try:
            value = float(label)
        except (TypeError, ValueError):
            return None
        return None if np.isnan(value) else value
    if task.label_type == "multi_label":
        if isinstance(label, (list, tuple, np.ndarray)):
            return [str(v) for v in label]
        return [v.strip() for v in str(label).split(task.label_separator) if v.strip()]
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    return str(label)


def split_off(split: TaskSplit, fraction: float, seed: int) -> tuple[TaskSplit, TaskSplit]:
    """A seeded random `fraction` of `split` as a second split (for sources without a validation split)."""
    order = np.random.default_rng(seed).permutation(len(split))
    cut = int(round(len(split) * fraction))
    return split.subset(np.sort(order[cut:])), split.subset(np.sort(order[:cut]))


def load_task(task: str | Task, data_root: str | Path | None = None, files: dict[str, str] | None = None,
              seed: int = 0) -> TaskData:
    """Load a registered (or given) task's splits.

    Args:
        task: a registry name or a `Task`.
        data_root: where relative `files` and the loaders of local tasks look (default: `$PROTST_DATA_ROOT`).
        files: split -> file, overriding the task's source (use it for a task whose data you have locally).
        seed: seed of the random validation split, where a source has none.

    Raises:
        FileNotFoundError: a local file is absent (with the task's description of where the data come from).
    """
    task = TASKS[task] if isinstance(task, str) else task

    def root() -> Path:
        return Path(data_root) if data_root else default_data_root()

    if files or task.files:
        raw = {}
        for split, name in (files or task.files).items():
            path = Path(name) if Path(name).is_absolute() else root() / name
            if not path.exists():
                raise FileNotFoundError(f"task {task.name}: {path} not found ({task.description})")
            raw[_SPLIT_ALIASES.get(split, split)] = _from_rows(task, read_table(path), str(path))
    elif task.loader is not None:
        raw = task.loader(task, root())
    elif task.hub_id:
        raw = _from_hub(task)
    else:
        raise FileNotFoundError(f"task {task.name} has no public source here: pass its files "
                                f"(`files={{'train': ..., 'validation': ..., 'test': ...}}`; {task.description})")
    data = _encode(task, raw)
    if "validation" not in data.splits:
        data.splits["train"], data.splits["validation"] = split_off(data.splits["train"], 0.1, seed)
        data.report["validation"] = f"10% of train, random (seed {seed}): the source has no validation split"
        data.report["rows"] = {split: len(s) for split, s in data.splits.items()}
    missing = [s for s in ("train", "test") if s not in data.splits]
    if missing:
        raise ValueError(f"task {task.name}: no {' / '.join(missing)} split in its source")
    data.report["duplicates_across_splits"] = _overlap(data.splits)
    return data


def _overlap(splits: dict[str, TaskSplit]) -> dict[str, int]:
    """Test / validation sequences that also occur in train (reported, not removed: benchmarks define splits)."""
    train = set(splits["train"].sequences)
    return {split: sum(s in train for s in splits[split].sequences) for split in splits if split != "train"}


def default_data_root() -> Path:
    """`$PROTST_DATA_ROOT`: where local tasks find their files when no `data_root` is given."""
    import os

    env = os.environ.get("PROTST_DATA_ROOT")
    if not env:
        raise FileNotFoundError("local tasks need their data folder: pass data_root= (protst evaluate --data-root) or "
                                "set PROTST_DATA_ROOT")
    return Path(env)


_PEER = "PEER / TorchDrug split; export it as CSV (sequence,label) per split and pass `files`"
_DEEPFRI = ("DeepFRI nrPDB split (chain ids + annotation TSV); its train/valid sequences are not public in one "
            "file: export them with the labels as CSV (sequence,label with classes joined by '|') and pass `files`")

TASKS: dict[str, Task] = {task.name: task for task in [
    # the paper's 11 benchmarks
    Task("binloc", "single_label", ("accuracy", "mcc"), "binary localization (membrane / soluble), DeepLoc 1.0",
         hub_id="mila-intel/ProtST-BinaryLocalization", paper={"accuracy": 0.925}),
    Task("subloc", "single_label", ("accuracy", "mcc"), "subcellular localization, 10 classes, DeepLoc 1.0",
         hub_id="mila-intel/ProtST-SubcellularLocalization"),
    Task("betalac", "regression", ("spearman", "pearson"), "beta-lactamase fitness (PEER)", files=None),
    Task("aav", "regression", ("spearman", "pearson"), f"AAV capsid fitness, FLIP two_vs_many ({_PEER})"),
    Task("thermostability", "regression", ("spearman", "pearson"), f"FLIP meltome human_cell ({_PEER})"),
    Task("fluorescence", "regression", ("spearman", "pearson"), f"GFP fluorescence, TAPE ({_PEER})"),
    Task("stability", "regression", ("spearman", "pearson"), f"designed-protein stability, TAPE ({_PEER})"),
    Task("ec", "multi_label", ("f1_max", "auprc_micro"), f"Enzyme Commission numbers ({_DEEPFRI})",
         paper={"f1_max": 0.878}),
    Task("go_bp", "multi_label", ("f1_max", "auprc_micro"), f"GO biological process ({_DEEPFRI})",
         paper={"f1_max": 0.482}),
    Task("go_mf", "multi_label", ("f1_max", "auprc_micro"), f"GO molecular function ({_DEEPFRI})",
         paper={"f1_max": 0.668}),
    Task("go_cc", "multi_label", ("f1_max", "auprc_micro"), f"GO cellular component ({_DEEPFRI})",
         paper={"f1_max": 0.487}),
]}


__all__ = ["TASKS", "Task", "TaskData", "TaskSplit", "clean_sequence", "load_task", "read_table",
           "split_off"]
