"""A small real task for the evaluation tests: Swiss-Prot sample proteins labelled secreted or not."""

import numpy as np

from protst_hf.evaluation.tasks import Task, TaskData, TaskSplit
from protst_hf.resources import demo_rows


def located():
    """The package's Swiss-Prot sample entries that have a location (67): a real annotation to learn."""
    return [r for r in demo_rows() if r.get("subloc")]


def toy_task(rows=None) -> TaskData:
    """Real Swiss-Prot sample proteins; label: secreted or not, from their SUBCELLULAR LOCATION text."""
    usable = located()
    sequences = [r["sequence"][:300] for r in usable]
    labels = np.asarray([int("Secreted" in r["subloc"]) for r in usable])
    split = {"train": slice(0, 40), "validation": slice(40, 52), "test": slice(52, 67)}
    task = Task("toy", "single_label", ("accuracy", "mcc"), "secreted or not", label_names=("no", "yes"))
    return TaskData(task, {k: TaskSplit(sequences[s], labels[s]) for k, s in split.items()}, ["no", "yes"], {})

