"""DeepLoc 2.0 proteins paired with their Swiss-Prot location keywords: real protein-text pairs for the learning
benchmarks (`deeploc_learning.py`, `studies/deeploc_recipe_sweep.py`).

Reads `../shared/data/deeploc2_swissprot` (DeepLoc 2.0's homology partitions 0-4) and
`../shared/data/swissprot_subcellular_keywords` (each protein's Swiss-Prot SUBCELLULAR LOCATION keywords). These
files carry no redistribution licence: they are read in place and what is built from them goes under `outputs/`
(git-ignored). Partitions 0-3 train; partition 4 (homology-separated by DeepLoc's own partitioning) is held out.

Each protein's text is `SUBCELLULAR LOCATION: <its keywords, joined by ". ">.`, the wording of Swiss-Prot and of
ProtDescribe's location field, laid out as the zero-shot prompts are (one text, no empty fields). Proteins without
keywords get their DeepLoc classes in Swiss-Prot's words (Extracellular is "Secreted").
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DEEPLOC = DATA / "deeploc2_swissprot" / "deeploc2_swissprot_filtered.csv"
KEYWORDS = DATA / "swissprot_subcellular_keywords" / "swissprot2020_subloc_keywords.csv"
# the 10 classes in PEER's label order: the order of the built-in `subcellular_location` label set (and of the
# `deeploc2_subloc` task of shared_tasks.py)
CLASSES = ("Cell membrane", "Cytoplasm", "Endoplasmic reticulum", "Golgi apparatus", "Lysosome/Vacuole",
           "Mitochondrion", "Nucleus", "Peroxisome", "Plastid", "Extracellular")
SWISSPROT_WORDS = {"Extracellular": "Secreted", "Lysosome/Vacuole": "Vacuole"}


def available() -> bool:
    return DEEPLOC.is_file() and KEYWORDS.is_file()


def read_deeploc() -> list[dict]:
    """The rows of DeepLoc 2.0's CSV (`accession`, `sequence`, `partition`, `label` (classes joined by `|`),
    `membrane`, `kingdom`, ...): the one reader of the file, for the pretraining pairs and the evaluation tasks."""
    with open(DEEPLOC, newline="") as f:
        return list(csv.DictReader(f))


def load(validation_size: int = 1000, seed: int = 0, held_out: int = 4) -> dict:
    """`train` (partitions 0-3) and `test` (partition 4) rows `{accession, sequence, text, labels}` (labels: class
    ids), and `validation`: a seeded random subset of the test rows for validation during training.

    `held_out=3` is the tuning split: train on partitions 0-2, test on partition 3; partition 4 is not read, so
    that choices made on it never see the partition the final table reports."""
    keywords = defaultdict(set)
    with open(KEYWORDS, newline="") as f:
        for row in csv.DictReader(f):
            keywords[row["accession"]].add(row["location"])
    splits = {"train": [], "test": []}
    for row in read_deeploc():
        classes = row["label"].split("|")
        words = sorted(keywords.get(row["accession"], ())) or sorted(
            ("Lysosome" if c == "Lysosome/Vacuole" and row["kingdom"] == "Metazoa" else SWISSPROT_WORDS.get(c, c))
            for c in classes)
        item = {"accession": row["accession"], "sequence": row["sequence"], "partition": int(row["partition"]),
                "text": "SUBCELLULAR LOCATION: " + ". ".join(words) + ".",
                "labels": [CLASSES.index(c) for c in classes]}
        partition = int(row["partition"])
        if partition == held_out:
            splits["test"].append(item)
        elif partition != 4:
            splits["train"].append(item)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(splits["test"]), min(validation_size, len(splits["test"])), replace=False))
    splits["validation"] = [splits["test"][i] for i in chosen]
    return splits


def majority_class(rows: list[dict]) -> int:
    """The most frequent class among the rows' labels (every label of a multi-label protein counts)."""
    return Counter(c for row in rows for c in row["labels"]).most_common(1)[0][0]


def write_dataset(splits: dict, folder: Path) -> Path:
    """`train` / `validation` parquet splits with `accession`, `sequence`, `text` (loadable by the pretraining loop),
    and `zero_shot.csv` (the validation proteins with their class ids, for zero-shot accuracy during training)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True, exist_ok=True)
    for name in ("train", "validation"):
        table = pa.Table.from_pylist([{k: r[k] for k in ("accession", "sequence", "text")} for r in splits[name]])
        pq.write_table(table, folder / "data" / f"{name}-00000-of-00001.parquet")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*.parquet\n"
        "  - split: validation\n    path: data/validation-*.parquet\n---\nDeepLoc 2.0 proteins with their Swiss-Prot "
        "location keywords (internal benchmark data from ../shared/data, not for redistribution).\n")
    with open(folder / "zero_shot.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sequence", "label"])
        for row in splits["validation"]:
            writer.writerow([row["sequence"], "|".join(map(str, row["labels"]))])
    return folder


def composition_features(sequences: list[str]) -> np.ndarray:
    """Amino-acid (20) and dipeptide (400) composition of each sequence: the classic localization baseline."""
    letters = "ACDEFGHIKLMNPQRSTVWY"
    index = {a: i for i, a in enumerate(letters)}
    out = np.zeros((len(sequences), 20 + 400), dtype=np.float32)
    for row, sequence in enumerate(sequences):
        codes = [index[a] for a in sequence if a in index]
        if not codes:
            continue
        codes = np.asarray(codes)
        out[row, :20] = np.bincount(codes, minlength=20) / len(codes)
        if len(codes) > 1:
            out[row, 20:] = np.bincount(codes[:-1] * 20 + codes[1:], minlength=400) / (len(codes) - 1)
    return out


def probe(train_features: np.ndarray, train_rows: list[dict], test_features: np.ndarray) -> np.ndarray:
    """Predicted classes of the package's linear probe (`evaluation.baselines.linear_probe`: softmax regression on
    standardised features, a protein with several locations spreading its target over them), its L2 penalty chosen
    by accuracy on the last training partition (3, or 2 on the tuning split) when trained on the others: the same
    probe for composition features and for frozen model features."""
    from protst_hf.evaluation.baselines import linear_probe

    targets = np.zeros((len(train_rows), len(CLASSES)), dtype=np.float32)
    for row, r in enumerate(train_rows):
        targets[row, r["labels"]] = 1
    tuning = max(r["partition"] for r in train_rows)  # 3 when training on 0-3, 2 on the tuning split
    held_out = np.array([r["partition"] == tuning for r in train_rows])
    return linear_probe(train_features, targets, test_features, l2_grid=PROBE_L2, held_out=held_out,
                        epochs=PROBE_EPOCHS).argmax(1)


# Adam's weight decay on the mean loss: 1e-2 .. 1e-4 span scikit-learn's C = 0.01 .. 1 at this data size (C * N ~ 1 /
# decay); 40 epochs over ~17.5k proteins (about 1,400 steps) reach the optimum of a 420-feature softmax regression
PROBE_L2 = (1e-2, 1e-3, 1e-4)
PROBE_EPOCHS = 40


__all__ = ["CLASSES", "available", "composition_features", "load", "majority_class", "probe", "write_dataset"]
