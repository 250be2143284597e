"""ProtDescribe, ProtST's pretraining set, built from raw UniProtKB into parquet shards with a dataset card.

Two passes in bounded memory: the first streams the UniProt files through the parsers, cleans each record into a
row, drops exact duplicates and writes all rows to a work file (plus a FASTA for MMseqs2); the split is then
computed (MMseqs2 clusters, or random when asked); the second pass routes the rows into `data/<split>-*.parquet`.

Example:

```python
>>> report = build_protdescribe(["uniprot_sprot.xml.gz"], "protdescribe", split="mmseqs", identity=0.5)
>>> from datasets import load_dataset
>>> dataset = load_dataset("protdescribe")  # train / validation / test
```
"""

import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features, List, Value

from .dataset_card import render_dataset_card
from .splits import SPLIT_NAMES, assign_splits, mmseqs_cluster, mmseqs_search, read_sequences, write_fasta
from .texts import GO_TEXT_COLUMNS
from .uniprot import ParseReport, UniProtInputError, UniProtRecord, clean_text, iter_uniprot

TEXT_COLUMNS = ("prot_name", "function", "subloc", "similarity")
# the texts a row is kept, deduplicated and counted by: UniProt's, and the GO term names per namespace
# (`texts.GO_TEXT_COLUMNS`, filled by the GO reader, `gene_ontology.py`; empty in a UniProt build)
DESCRIPTION_COLUMNS = TEXT_COLUMNS + GO_TEXT_COLUMNS

PROTDESCRIBE_FEATURES = Features(
    {
        "accession": Value("string"),
        "entry_name": Value("string"),
        "organism": Value("string"),
        "taxon_id": Value("int64"),
        "sequence": Value("string"),
        "length": Value("int32"),
        "prot_name": Value("string"),
        "function": Value("string"),
        "subloc": Value("string"),
        "similarity": Value("string"),
        "go_function": Value("string"),
        "go_process": Value("string"),
        "go_component": Value("string"),
        "location_terms": List(Value("string")),
        "go_terms": List(Value("string")),
        "ec_numbers": List(Value("string")),
        "keywords": List(Value("string")),
        "cluster": Value("int64"),
    }
)

# The columns of the original ProtST TSV (`mila-intel/ProtDescribe`), in its order, text as UniProt exports it
ORIGINAL_FEATURES = Features(
    {name: Value("string") for name in ("Sequence", "ProteinName", "Function", "SubcellularLocation", "Similarity")}
)


def protdescribe_row(record: UniProtRecord) -> dict:
    """A ProtDescribe row: UniProt-style texts with their topic prefixes, evidence tags and citations removed."""
    return {
        "accession": record.accession,
        "entry_name": record.entry_name,
        "organism": record.organism,
        "taxon_id": record.taxon_id,
        "sequence": record.sequence,
        "length": len(record.sequence),
        "prot_name": clean_text(record.protein_names),
        "function": clean_text(" ".join(record.function)),
        "subloc": clean_text(" ".join(record.subcellular_location)),
        "similarity": clean_text(" ".join(record.similarity)),
        **{column: "" for column in GO_TEXT_COLUMNS},
        "location_terms": record.location_terms,
        "go_terms": record.go_terms,
        "ec_numbers": record.ec_numbers,
        "keywords": record.keywords,
        "cluster": -1,  # set when the split is made
    }


def original_row(record: UniProtRecord) -> dict:
    """A row of the original TSV's columns, texts as UniProt's TSV export writes them (evidence kept)."""
    return {
        "Sequence": record.sequence,
        "ProteinName": record.protein_names,
        "Function": " ".join(record.function),
        "SubcellularLocation": " ".join(record.subcellular_location),
        "Similarity": " ".join(record.similarity),
    }


class ShardedParquetWriter:
    """Rows -> `<folder>/<name>-00000-of-0000N.parquet`, a new shard every `rows_per_shard` rows."""

    def __init__(self, folder: Path, name: str, features: Features, rows_per_shard: int = 100_000):
        self.folder, self.name, self.features = folder, name, features
        self.schema = features.arrow_schema
        self.rows_per_shard = rows_per_shard
        self.paths: list[Path] = []
        self.rows = 0
        self._writer = None
        self._buffer: list[dict] = []
        self._in_shard = 0
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, row: dict) -> None:
        self._buffer.append(row)
        self.rows += 1
        if len(self._buffer) >= 10_000:
            self._flush()

    def _flush(self) -> None:
        while self._buffer:
            if self._writer is None:
                path = self.folder / f"{self.name}-{len(self.paths):05d}.parquet.tmp"
                self.paths.append(path)
                self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
                self._in_shard = 0
            take = min(len(self._buffer), self.rows_per_shard - self._in_shard)
            chunk, self._buffer = self._buffer[:take], self._buffer[take:]
            self._writer.write_table(pa.Table.from_pylist(chunk, schema=self.schema))
            self._in_shard += take
            if self._in_shard >= self.rows_per_shard:
                self._writer.close()
                self._writer = None

    def close(self) -> list[Path]:
        """Finish and give the shards their final `-of-N` names (a crashed build leaves only `.tmp` files)."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
        if not self.paths:  # an empty split still gets a (zero-row) file, so every declared split loads
            path = self.folder / f"{self.name}-00000.parquet.tmp"
            pq.write_table(self.schema.empty_table(), path, compression="zstd")
            self.paths.append(path)
        final = []
        for index, path in enumerate(self.paths):
            target = self.folder / f"{self.name}-{index:05d}-of-{len(self.paths):05d}.parquet"
            path.rename(target)
            final.append(target)
        return final


def build_protdescribe(
    inputs: Iterable[str | Path],
    output_dir: str | Path,
    with_original: bool = True,
    **options,
) -> dict:
    """Build ProtDescribe from UniProtKB files into `output_dir` and return the build report.

    Args:
        inputs: UniProtKB XML or flat files, plain or gzipped.
        output_dir: written: `data/{train,validation,test}-*.parquet`, `original/train-*.parquet` (the
            original TSV's columns), `README.md` (dataset card), `build_report.json`.
        with_original: also write the `original` config.
        options: the split, leakage, shard and progress options of [`build_from_rows`] (`split="mmseqs"`,
            `identity=0.5`, `coverage=0.8`, `ratios=(0.98, 0.01, 0.01)`, `seed`, `leakage_against`, ...).

    Raises:
        `UniProtInputError` (a `ValueError`): an input is missing, a directory, empty, not UniProtKB, or damaged (a
            gzip or XML file cut short); the message names the file and how many entries were read before the
            damage. Nothing is written then: the build happens in a staging folder renamed into place at the end.
    """
    inputs = [Path(p) for p in inputs]
    for path in inputs:  # before anything is written
        if path.is_dir():
            raise UniProtInputError(f"{path} is a directory, not a UniProt file")
        if not path.exists():
            raise UniProtInputError(f"{path} does not exist")
    return build_from_rows(lambda report: _uniprot_rows(inputs, report, with_original), output_dir,
                           with_original=with_original, **options)


def build_from_rows(
    read,
    output_dir: str | Path,
    split: str = "mmseqs",
    identity: float = 0.5,
    coverage: float = 0.8,
    ratios: tuple[float, float, float] = (0.98, 0.01, 0.01),
    seed: int = 0,
    leakage_against: Iterable[str | Path] = (),
    leakage_identity: float = 0.5,
    remove_leaking: bool = False,
    with_original: bool = False,
    rows_per_shard: int = 100_000,
    release: str | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> dict:
    """The build behind [`build_protdescribe`] for any source of rows: `read(report)` yields `(row, original_row or
    None)` pairs (rows of `PROTDESCRIBE_FEATURES`) and fills `report` (a dict) with `inputs`, `parse` (a report
    with `to_dict()`, whose `records_read`, `skipped`, `recovered` ... the card shows, and `summary()`), and
    optionally `newest_entry_date`, `kind` (what the records are, for messages) and `details` (entries added to the
    build report as they are). Deduplication, the split, leakage, the shards, the card and the report are the same
    for every source.

    Args:
        split: `"mmseqs"` (homology-aware, needs MMseqs2), `"random"` (whole groups of identical sequences), or
            `"none"` (everything in train).
        identity, coverage: MMseqs2 clustering thresholds (`--min-seq-id`, `-c`).
        ratios: train / validation / test fractions of rows.
        seed: split seed.
        leakage_against: benchmark FASTA/CSV files; for each, the fraction of its proteins with a hit at or above
            `leakage_identity` in each split is reported.
        remove_leaking: drop the rows hit by any benchmark protein (counted per split).
        with_original: also write the `original` config (from the rows' original values).
        rows_per_shard: rows per parquet shard.
        release: UniProt release to state in the card (e.g. "2024_06"); the newest entry date is always reported.
        threads: MMseqs2 threads.
        progress: show a progress bar with records/s."""
    if split not in ("mmseqs", "random", "none"):
        raise ValueError(f"split must be 'mmseqs', 'random' or 'none', got {split!r}")
    started = time.perf_counter()
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not (output_dir / "build_report.json").is_file():
        raise ValueError(f"{output_dir} exists and holds something else than a ProtDescribe build: choose an empty or "
                         "new folder (a build replaces its output folder as a whole)")
    # everything is written into a staging folder beside the output and renamed into place at the end: an
    # interrupted or failed build leaves no output folder (and an earlier build at the same place untouched)
    staging = output_dir.with_name(f".{output_dir.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    work = staging / ".work"
    work.mkdir(parents=True)
    try:
        rows = _read_rows(read, staging, work, with_original, rows_per_shard, progress)
        group_ids, assignment, split_info = _split(rows["groups"], split, identity, coverage, ratios, seed, work,
                                                   threads)
        leakage, removed = _leakage(leakage_against, work, assignment, leakage_identity, threads, remove_leaking)
        written, coverage_counts = _write_splits(staging, work, group_ids, assignment, removed, rows_per_shard)
        shutil.rmtree(work)
        report = _build_report(rows, written, coverage_counts, split_info, leakage, assignment, removed, release,
                               time.perf_counter() - started)
        (staging / "build_report.json").write_text(json.dumps(report, indent=2) + "\n")
        render_dataset_card(report, with_original=with_original).save(staging / "README.md")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if output_dir.exists():
        shutil.rmtree(output_dir)
    staging.rename(output_dir)
    return report


def _uniprot_rows(inputs: list[Path], report: dict, with_original: bool):
    """(row, original row) of every UniProt record; fails on an input that is not UniProtKB or is damaged, after
    counting what was read."""
    parse_report = ParseReport()
    report["inputs"] = [str(p) for p in inputs]
    report["parse"] = parse_report
    report["kind"] = "UniProt"
    newest = None
    for path in inputs:
        for record in iter_uniprot(path, parse_report):
            if record.modified and (newest is None or record.modified > newest):
                newest = report["newest_entry_date"] = record.modified
            yield protdescribe_row(record), original_row(record) if with_original else None
        bad = parse_report.damaged_files.get(str(path)) or parse_report.skipped_files.get(str(path))
        if bad:
            raise UniProtInputError(f"{path}: {bad}")


def _read_rows(read, staging: Path, work: Path, with_original: bool, rows_per_shard: int, progress: bool) -> dict:
    """First pass: take the rows of `read` (see [`build_from_rows`]), drop exact duplicates and rows without
    text, and write the rows (plus a FASTA for MMseqs2) into `work`."""
    source: dict = {}
    counts = {"parsed": 0, "no_description_text": 0, "exact_duplicates": 0}
    examples: dict[str, list[str]] = {"no_description_text": [], "exact_duplicates": []}
    seen: set[bytes] = set()
    sequence_groups: dict[bytes, int] = {}
    groups: list[int] = []
    all_rows = ShardedParquetWriter(work, "rows", PROTDESCRIBE_FEATURES, rows_per_shard=1 << 62)
    original = ShardedParquetWriter(staging / "original", "train", ORIGINAL_FEATURES, rows_per_shard) \
        if with_original else None
    bar = _progress(progress)
    try:
        with open(work / "rows.fasta", "w") as fasta:
            for row, original_values in read(source):
                counts["parsed"] += 1
                if bar is not None and counts["parsed"] % 500 == 0:
                    bar.update(500)
                if not any(row[c] for c in DESCRIPTION_COLUMNS):
                    _count(counts, examples, "no_description_text", row["accession"])
                    continue
                if original is not None and original_values is not None:
                    original.write(original_values)
                texts = (row[c] or "" for c in DESCRIPTION_COLUMNS)
                key = hashlib.blake2b("\x00".join([row["sequence"], *texts]).encode(), digest_size=16).digest()
                if key in seen:
                    _count(counts, examples, "exact_duplicates", row["accession"])
                    continue
                seen.add(key)
                sequence_key = hashlib.blake2b(row["sequence"].encode(), digest_size=16).digest()
                groups.append(sequence_groups.setdefault(sequence_key, len(sequence_groups)))
                fasta.write(f">{len(groups) - 1}\n{row['sequence']}\n")
                all_rows.write(row)
        if bar is not None:
            bar.update(counts["parsed"] % 500)
    finally:
        if bar is not None:
            bar.close()
    all_rows.close()
    original_rows = original.rows if original is not None else 0
    if original is not None:
        original.close()
    if not groups:
        raise UniProtInputError(f"no usable {source.get('kind', 'input')} records in {source['inputs']}:\n"
                                f"{source['parse'].summary()}")
    return {"inputs": source["inputs"], "parse": source["parse"].to_dict(), "counts": counts, "examples": examples,
            "groups": groups, "newest_entry": source.get("newest_entry_date"), "original_rows": original_rows,
            "details": source.get("details", {})}


def _split(groups: list[int], split: str, identity: float, coverage: float, ratios, seed: int, work: Path,
           threads) -> tuple[np.ndarray, np.ndarray, dict]:
    """The group of each row (MMseqs2 cluster, or identical sequences) and its split: whole groups go to one."""
    num_rows = len(groups)
    split_info = {"method": split, "seed": seed, "ratios": list(ratios)}
    group_ids = np.asarray(groups, dtype=np.int64)
    if split == "mmseqs":
        members = mmseqs_cluster(work / "rows.fasta", identity, coverage, threads, workdir=work)
        representatives: dict[str, int] = {}
        group_ids = np.array([representatives.setdefault(members[str(i)], len(representatives))
                              for i in range(num_rows)], dtype=np.int64)
        split_info.update(identity=identity, coverage=coverage, clusters=len(representatives))
    if split == "none":
        assignment = np.zeros(num_rows, dtype=np.int8)
    else:
        assignment = assign_splits(group_ids, ratios, seed)
        if split == "random":
            split_info["groups"] = "identical sequences"
    return group_ids, assignment, split_info


def _write_splits(staging: Path, work: Path, group_ids: np.ndarray, assignment: np.ndarray, removed: np.ndarray,
                  rows_per_shard: int) -> tuple[dict, dict]:
    """Second pass: route the rows to `data/<split>-*.parquet`; returns rows written per split and field
    coverage counts."""
    writers = {name: ShardedParquetWriter(staging / "data", name, PROTDESCRIBE_FEATURES, rows_per_shard)
               for name in SPLIT_NAMES}
    coverage_counts = {c: 0 for c in (*DESCRIPTION_COLUMNS, "location_terms", "go_terms", "ec_numbers", "keywords")}
    index = 0
    for shard in sorted(work.glob("rows-*.parquet")):
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=10_000):
            for row in batch.to_pylist():
                if not removed[index]:
                    row["cluster"] = int(group_ids[index])
                    writers[SPLIT_NAMES[assignment[index]]].write(row)
                    for column in coverage_counts:
                        coverage_counts[column] += bool(row[column])
                index += 1
    written = {}
    for name, writer in writers.items():
        written[name] = writer.rows
        writer.close()
    return written, coverage_counts


def _build_report(rows: dict, written: dict, coverage_counts: dict, split_info: dict, leakage: dict,
                  assignment: np.ndarray, removed: np.ndarray, release: str | None, elapsed: float) -> dict:
    total_written = sum(written.values())
    return {
        "inputs": rows["inputs"],
        "uniprot_release": release or _stated_release(rows["inputs"]),
        "newest_entry_date": rows["newest_entry"],
        "parse": rows["parse"],
        "rows": {
            **rows["counts"],
            "rows_after_deduplication": len(rows["groups"]),
            "removed_for_leakage": {n: int(((assignment == i) & removed).sum()) for i, n in enumerate(SPLIT_NAMES)},
            "written": written,
            "original_config_rows": rows["original_rows"],
        },
        "examples": rows["examples"],
        "field_coverage": {c: round(n / max(total_written, 1), 4) for c, n in coverage_counts.items()},
        "split": split_info,
        "leakage": leakage,
        "elapsed_seconds": round(elapsed, 2),
        "build_records_per_second": round(rows["parse"]["records_read"] / max(elapsed, 1e-9), 1),
        **rows["details"],
    }


def _stated_release(files: list[str]) -> str | None:
    """The release named by a `reldate.txt` next to an input, as UniProt's FTP folders ship it."""
    for path in files:
        reldate = Path(path).parent / "reldate.txt"
        if reldate.is_file():
            match = re.search(r"Release (\d{4}_\d{2})", reldate.read_text(errors="replace"))
            if match:
                return match.group(1)
    return None


def _count(counts: dict, examples: dict, key: str, accession: str) -> None:
    counts[key] += 1
    if len(examples[key]) < 5:
        examples[key].append(accession)


def _progress(enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(desc="UniProt records", unit=" rec", unit_scale=True, smoothing=0.1)


def _leakage(files, work: Path, assignment: np.ndarray, identity: float, threads, remove: bool):
    """Per benchmark file: fraction of its proteins with a hit >= `identity` in each split; rows to remove."""
    removed = np.zeros(len(assignment), dtype=bool)
    report = {}
    for path in files:
        query = work / "benchmark.fasta"
        pairs = ((f"q{i}", sequence) for i, (_, sequence) in enumerate(read_sequences(path)) if sequence)
        count = write_fasta(query, pairs)
        hits = mmseqs_search(query, work / "rows.fasta", identity=identity, threads=threads, workdir=work)
        hit_proteins = {name: set() for name in SPLIT_NAMES}
        for query_id, target, _ in hits:
            row = int(target)
            hit_proteins[SPLIT_NAMES[assignment[row]]].add(query_id)
            if remove:
                removed[row] = True
        ids = {name: len(proteins) for name, proteins in hit_proteins.items()}
        report[str(path)] = {
            "proteins": count,
            "identity": identity,
            "proteins_with_hit": ids,
            "fraction_with_hit": {name: round(n / max(count, 1), 4) for name, n in ids.items()},
            "rows_hit": len({int(t) for _, t, _ in hits}),
        }
    return report, removed


__all__ = [
    "DESCRIPTION_COLUMNS",
    "GO_TEXT_COLUMNS",
    "ORIGINAL_FEATURES",
    "PROTDESCRIBE_FEATURES",
    "ShardedParquetWriter",
    "build_from_rows",
    "build_protdescribe",
    "original_row",
    "protdescribe_row",
]
