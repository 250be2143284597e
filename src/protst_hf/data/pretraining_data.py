"""Pretraining data: ProtDescribe loading, row validation (the processor's `clean_protein`), length-grouped (or
token-budget) batches that are a pure function of (seed, epoch), sharded across processes, and collated with masks
keyed by the batch."""

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..models.protst.processing_protst import clean_protein
from ..models.protst.texts_protst import TEXT_FIELDS, text_key
from .collator import ProtSTDataCollatorForPretraining
from .texts import TEXT_SOURCES, row_text

logger = logging.getLogger(__name__)


def load_pairs(source: str, config: str | None = None, split: str = "train", streaming: bool = False):
    """A ProtDescribe split from a folder written by `protst build-protdescribe`, a Hub dataset id, or parquet
    file(s) (`*.parquet`, globs allowed).

    A local folder is read through the parquet files its card's `configs` name (or `data/<split>-*.parquet`
    without a card), so that the `datasets` cache is keyed by those files: `load_dataset(folder)` keys it by the
    folder's name and layout, and two different folders named alike would load the same cached rows."""
    from datasets import load_dataset

    if source.endswith(".parquet") or "*" in source:
        return load_dataset("parquet", data_files={split: source}, split=split, streaming=streaming)
    folder = Path(source)
    if folder.is_dir():
        files = local_split_files(folder, config, split)
        return load_dataset("parquet", data_files={split: files}, split=split, streaming=streaming)
    return load_dataset(source, config, split=split, streaming=streaming)


def local_split_files(folder: Path, config: str | None, split: str) -> list[str]:
    """The absolute parquet files of `split` in a local dataset folder: from the card's `configs` (the named
    config, else the default one), else `data/<split>-*.parquet`. A clear error when none match."""
    from huggingface_hub import metadata_load

    readme = folder / "README.md"
    configs = (metadata_load(readme) or {}).get("configs", []) if readme.is_file() else []
    if config is not None:
        chosen = [entry for entry in configs if entry.get("config_name") == config]
        if configs and not chosen:
            raise ValueError(f"{folder}: no config {config!r} in its card (has "
                             f"{[entry.get('config_name') for entry in configs]})")
    else:
        chosen = [entry for entry in configs if entry.get("default")] or \
            [entry for entry in configs if entry.get("config_name") == "default"] or configs[:1]
    patterns = [f"data/{split}-*.parquet"]
    if chosen:
        data_files = chosen[0].get("data_files", [])
        if isinstance(data_files, str):
            data_files = [{"split": "train", "path": data_files}]
        patterns = [path for entry in data_files if entry.get("split") == split
                    for path in ([entry["path"]] if isinstance(entry["path"], str) else entry["path"])]
    files = sorted({str(path.resolve()) for pattern in patterns for path in folder.glob(pattern)})
    if not files:
        raise ValueError(f"{folder}: no parquet files for split {split!r} (looked for {patterns})")
    return files


def _text_columns(fields: tuple[str, ...]) -> tuple[str, ...]:
    """The columns a row's text can come from ([`row_text`]): `text`, the fields, the GO name columns."""
    return tuple(dict.fromkeys((*TEXT_SOURCES, *fields)))


def count_texts(dataset, indices, fields: tuple[str, ...] = TEXT_FIELDS) -> tuple[Counter, list[str]]:
    """How often each text ([`text_key`]) occurs among the rows `indices` of a map-style split, and the key of
    each of those rows in order."""
    columns = [c for c in _text_columns(fields) if c in dataset.column_names]
    keys = [text_key(row_text(row, fields)) for row in dataset.select_columns(columns).select(list(indices))]
    return Counter(keys), keys


def usable(sequence: str | None, texts: list[str | None]) -> str | None:
    """`None` when a row can be trained on, else the reason it cannot (counted, never dropped silently)."""
    if not isinstance(sequence, str) or not "".join(sequence.split()).rstrip("*"):
        return "empty sequence"
    try:
        clean_protein(sequence)
    except ValueError:
        return "invalid residue in sequence"
    if not any(t for t in texts):
        return "no text"
    return None


@dataclass
class RowIndex:
    """The usable rows of a map-style split with their lengths, and what was excluded, by reason."""

    indices: np.ndarray
    lengths: np.ndarray
    excluded: dict[str, int] = field(default_factory=dict)


def index_rows(dataset, fields: tuple[str, ...] = TEXT_FIELDS) -> RowIndex:
    columns = [c for c in ("sequence", *_text_columns(fields)) if c in dataset.column_names]
    if "sequence" not in columns:
        raise ValueError(f"the dataset has no `sequence` column (columns: {dataset.column_names})")
    text_columns = [c for c in columns if c != "sequence"]
    indices, lengths, excluded = [], [], {}
    for start in range(0, len(dataset), 10_000):
        chunk = dataset.select_columns(columns)[start : start + 10_000]
        for offset, sequence in enumerate(chunk["sequence"]):
            reason = usable(sequence, [chunk[c][offset] for c in text_columns])
            if reason is None:
                indices.append(start + offset)
                lengths.append(len("".join(sequence.split())))
            else:
                excluded[reason] = excluded.get(reason, 0) + 1
    return RowIndex(np.asarray(indices, dtype=np.int64), np.asarray(lengths, dtype=np.int64), excluded)


def make_batches(
    lengths: np.ndarray,
    batch_size: int,
    seed: int,
    epoch: int,
    max_tokens: int | None = None,
    group_by_length: bool = True,
    crop_length: int | None = None,
    megabatch_factor: int = 50,
) -> list[np.ndarray]:
    """Batches of positions into `lengths` for one epoch: a pure function of its arguments.

    Positions are shuffled with (seed, epoch); with `group_by_length`, megabatches of `megabatch_factor` batches
    are sorted by length and cut into batches (similar lengths together, little padding), whose order is then
    shuffled. With `max_tokens`, a batch holds as many sequences as fit `max_tokens` padded tokens (BOS/EOS
    included) instead of a fixed `batch_size`. The batch with the most padded tokens goes first, so that a batch
    too large for memory fails at once rather than hours in.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    tokens = np.minimum(lengths, crop_length) + 2 if crop_length else lengths + 2
    if not group_by_length:
        groups = [order]
    else:
        size = (max_tokens // max(int(np.median(tokens)), 1) if max_tokens else batch_size) * megabatch_factor
        groups = [order[i : i + size] for i in range(0, len(order), max(size, 1))]
    batches = []
    for group in groups:
        if group_by_length:
            group = group[np.argsort(-tokens[group], kind="stable")]
        if max_tokens is None:
            batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
            continue
        current, longest = [], 0
        for position in group:
            longest_if_added = max(longest, tokens[position])
            if current and longest_if_added * (len(current) + 1) > max_tokens:
                batches.append(np.asarray(current))
                current, longest_if_added = [], tokens[position]
            current.append(position)
            longest = longest_if_added
        if current:
            batches.append(np.asarray(current))
    if group_by_length and len(batches) > 1:
        heaviest = int(np.argmax([tokens[b].max() * len(b) for b in batches]))
        rest = [b for i, b in enumerate(batches) if i != heaviest]
        batches = [batches[heaviest]] + [rest[i] for i in rng.permutation(len(rest))]
    return batches


def shard(batches: list, rank: int, world_size: int) -> list[tuple[int, object]]:
    """(global index, batch) pairs of one process: every `world_size`-th batch, the tail cut so that every
    process gets the same number (collectives in DDP / DeepSpeed must line up)."""
    usable_count = (len(batches) // world_size) * world_size
    return [(i, batches[i]) for i in range(rank, usable_count, world_size)]


class CollatedBatches(torch.utils.data.Dataset):
    """Item i is batch i of this process's shard, collated with masks keyed by (epoch, global batch index)."""

    def __init__(self, dataset, rows: RowIndex, batches: list[tuple[int, np.ndarray]],
                 collator: ProtSTDataCollatorForPretraining, epoch: int, fields: tuple[str, ...] = TEXT_FIELDS):
        self.dataset, self.rows, self.batches = dataset, rows, batches
        self.collator, self.epoch, self.fields = collator, epoch, fields

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, item: int) -> dict:
        global_index, positions = self.batches[item]
        records = self.dataset.select(self.rows.indices[positions].tolist())
        features = [{"sequence": r["sequence"], "text": row_text(r, self.fields)} for r in records]
        batch = self.collator(features, batch_key=(self.epoch, global_index))
        batch["row_ids"] = [str(r.get("accession", i)) for r, i in zip(records, self.rows.indices[positions])]
        batch["row_positions"] = [int(p) for p in positions]  # positions in `rows.indices` (the text bank's rows)
        return batch


def batch_loader(dataset: CollatedBatches, num_workers: int = 0) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(dataset, batch_size=None, shuffle=False, num_workers=num_workers,
                                       persistent_workers=False)


def streaming_batches(
    stream, collator: ProtSTDataCollatorForPretraining, batch_size: int, rank: int, world_size: int, epoch: int,
    buffer_batches: int = 50, fields: tuple[str, ...] = TEXT_FIELDS, skip: int = 0, excluded: dict | None = None,
) -> Iterator[dict]:
    """Length-grouped batches from a streaming dataset: buffers of `buffer_batches` batches are sorted by length
    and cut; every process reads the same stream and keeps its share, so the order is reproducible. The first
    `skip` batches of this process are not collated (resume)."""
    excluded = excluded if excluded is not None else {}
    buffer, buffer_index, produced = [], 0, 0

    def flush(rows, index, final):
        nonlocal produced
        lengths = np.asarray([len(r["sequence"]) for r in rows])
        order = np.argsort(-lengths, kind="stable")
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        rng = np.random.default_rng([collator.seed, epoch, index])
        batches = [batches[i] for i in rng.permutation(len(batches))]
        for global_index, positions in shard(batches, rank, world_size) if final else \
                [(i, b) for i, b in enumerate(batches) if i % world_size == rank]:
            produced += 1
            if produced <= skip:
                continue
            features = [{"sequence": rows[p]["sequence"], "text": row_text(rows[p], fields)} for p in positions]
            batch = collator(features, batch_key=(epoch, index * 1_000_000 + global_index))
            batch["row_ids"] = [str(rows[p].get("accession", "")) for p in positions]
            yield batch

    for row in stream:
        reason = usable(row.get("sequence"), [row.get(f) for f in _text_columns(fields)])
        if reason is not None:
            excluded[reason] = excluded.get(reason, 0) + 1
            continue
        buffer.append(row)
        if len(buffer) == buffer_batches * batch_size * world_size:
            yield from flush(buffer, buffer_index, final=False)
            buffer, buffer_index = [], buffer_index + 1
    if buffer:
        yield from flush(buffer, buffer_index, final=True)


__all__ = ["CollatedBatches", "RowIndex", "batch_loader", "count_texts", "index_rows", "load_pairs", "make_batches",
           "shard", "streaming_batches", "usable"]
