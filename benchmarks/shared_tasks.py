"""Benchmark tasks on this project's machine-local data (`../shared/data`: PEER, DeepLoc 2.0, the ESM TEM-1
mutants), which carry no redistribution licence: read in place, never shipped. `register()` adds them to the
package's task registry (`protst_hf.evaluation.tasks.TASKS`), so that `run_evaluation` and `load_task` take their
names; the package itself registers only tasks a user can load.

    import shared_tasks   # from a script in benchmarks/
    load_task(shared_tasks.SHARED_TASKS["peer_binloc"], data_root=shared_tasks.DATA)
    shared_tasks.register()   # then by name, e.g. in run_evaluation
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from protst_hf.evaluation.tasks import TASKS, Task, _from_rows, read_table

from .deeploc_data import CLASSES as DEEPLOC_CLASSES
from .deeploc_data import DATA, DEEPLOC, read_deeploc


def _peer_binary(task: Task, root: Path) -> dict:
    """PEER binary localization: the shared train and valid CSVs. Validation: 10% of train (set by load_task); the
    PEER valid split is the test split here (the PEER test split is not in ../shared)."""
    raw: dict = {"_skipped": Counter()}
    for split, name in (("train", "train"), ("test", "valid")):
        path = root / "peer_localization" / f"peer_binary_localization_{name}.csv"
        if not path.exists():
            raise FileNotFoundError(f"task {task.name}: {path} not found")
        rows = read_table(path)
        # the raw PEER lmdb holds a few exact duplicates: keep the first of each (counted in the report)
        seen, kept = set(), []
        for row in rows:
            if row["sequence"] not in seen:
                seen.add(row["sequence"])
                kept.append(row)
        raw["_skipped"][f"{split}: exact duplicate sequence (first kept)"] += len(rows) - len(kept)
        raw[split] = _from_rows(task, kept, str(path))
    return raw


def _deeploc2(task: Task, root: Path) -> dict:
    """DeepLoc 2.0 homology partitions: 0-2 train, 3 validation, 4 test (the file `deeploc_data.py` reads)."""
    if not DEEPLOC.exists():
        raise FileNotFoundError(f"task {task.name}: {DEEPLOC} not found")
    rows = read_deeploc()
    parts = {"train": ("0", "1", "2"), "validation": ("3",), "test": ("4",)}
    column = "membrane" if task.label_type == "single_label" else "label"
    out = {}
    for split, partitions in parts.items():
        chosen = [r for r in rows if r["partition"] in partitions]
        out[split] = ([r["sequence"] for r in chosen],
                      [str(int(float(r[column]))) if column == "membrane" and r[column] else r[column]
                       for r in chosen])
    return out


_TEM1_MATURE_OFFSET = 24  # ESM's BLAT_ECOLX numbering: the mature sequence starts at residue 24


def _beta_lactamase(task: Task, root: Path) -> dict:
    """TEM-1 single mutants of the ESM csv (fitness at 2500 ug/ml ampicillin), mutations applied to the mature
    sequence (the full-length P62593 of the variants FASTA without its 23-residue signal peptide); one random
    80/10/10 split (seed 0)."""
    folder = root / "beta_lactamase_esm"
    table, fasta = folder / "BLAT_ECOLX_Ranganathan2015.csv", folder / "P62593_variants.fasta"
    for path in (table, fasta):
        if not path.exists():
            raise FileNotFoundError(f"task {task.name}: {path} not found")
    from protst_hf.data.splits import read_sequences

    full = next(iter(read_sequences(fasta)))[1]
    header = next(iter(read_sequences(fasta)))[0]
    wild_type = list(_undo_mutation(full, header.split("|")[1].split("_")[-1])[23:])
    sequences, labels = [], []
    for row in read_table(table):
        mutant, fitness = row["mutant"], row["2500"]
        match = re.fullmatch(r"([A-Z])(\d+)([A-Z*])", mutant)
        position = int(match[2]) - _TEM1_MATURE_OFFSET if match else -1
        if not match or not 0 <= position < len(wild_type) or wild_type[position] != match[1]:
            sequences.append(None)  # counted as a bad sequence by _encode
            labels.append(fitness)
            continue
        variant = wild_type.copy()
        variant[position] = match[3]
        sequences.append("".join(variant))
        labels.append(fitness)
    order = np.random.default_rng(0).permutation(len(sequences))
    cuts = (int(0.8 * len(order)), int(0.9 * len(order)))
    parts = {"train": order[: cuts[0]], "validation": order[cuts[0]: cuts[1]], "test": order[cuts[1]:]}
    return {split: ([sequences[i] for i in sorted(rows)], [labels[i] for i in sorted(rows)])
            for split, rows in parts.items()}


def _undo_mutation(sequence: str, code: str) -> str:
    """The first FASTA record is itself a variant (`P20P` style, full-length numbering): restore its wild type."""
    match = re.fullmatch(r"([A-Z])(\d+)([A-Z])", code)
    if not match:
        return sequence
    position = int(match[2]) - 1
    return sequence[:position] + match[1] + sequence[position + 1:]


SHARED_TASKS = {task.name: task for task in [
    Task("peer_binloc", "single_label", ("accuracy", "mcc"),
         "PEER binary localization: train (10% held out for validation) / PEER valid as test",
         label_names=("0", "1"), loader=_peer_binary),
    Task("betalac_esm", "regression", ("spearman", "pearson"),
         "TEM-1 beta-lactamase single mutants (ESM csv, fitness at 2500 ug/ml), random 80/10/10",
         loader=_beta_lactamase),
    Task("deeploc2_membrane", "single_label", ("accuracy", "mcc"),
         "DeepLoc 2.0 membrane-bound vs soluble, homology partitions 0-2 / 3 / 4", label_names=("0", "1"),
         label_column=("membrane",), loader=_deeploc2),
    Task("deeploc2_subloc", "multi_label", ("f1_max", "auprc_micro"),
         "DeepLoc 2.0 localization, 10 classes, multi-label, homology partitions 0-2 / 3 / 4",
         label_names=DEEPLOC_CLASSES, loader=_deeploc2),

]}


def register() -> Path:
    """Add the tasks to the package's registry; returns their data root."""
    TASKS.update(SHARED_TASKS)
    return DATA


__all__ = ["DATA", "SHARED_TASKS", "register"]
