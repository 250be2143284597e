"""Embeddings at scale: `protst embed` writes resumable shards, `protst index build` indexes them.

Embedding folders hold shards of a fixed number of input records, each written as `embeddings-NNNNN.npy` (or
`shard-NNNNN.parquet`) plus `ids-NNNNN.txt`, the ids file last: a shard whose ids file exists is complete, so a
restarted run skips it and produces identical files. Under `accelerate launch`, process r takes shards r, r + n,
r + 2n, ... `manifest.json` records the model (name and weight fingerprint), the embedding kind, and the skipped
input records; it is the folder's marker, written last ([`EmbeddingFolder`]: the folder protocol of the index and
the annotation reference).
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..models.protst.fasta_protst import iter_fasta, open_text
from ..models.protst.folder_protst import HubFolderMixin, atomic_open, model_display_name, size_category
from ..models.protst.index_protst import ProteinIndex, model_metadata
from ..models.protst.inference_protst import embed_proteins, embed_texts

MANIFEST = "manifest.json"


class EmbeddingFolder(HubFolderMixin):
    """An embedding folder's protocol: `manifest.json` is its marker, written by the main process once every shard
    of its own is written."""

    MARKER, FORMAT_VERSION, CARD_TEMPLATE, KIND = MANIFEST, 1, "embeddings_card.md", "embedding folder"
    RESUME_HINT = "Rerun the same `protst embed` command to finish it."

    @classmethod
    def card_variables(cls, folder: Path, marker: dict, repo_id: str) -> dict:
        count = 0
        for index in range(marker["shards"]):
            with open(folder / f"ids-{index:05d}.txt") as f:
                count += sum(1 for _ in f)
        return {"card_data": {"tags": ["protst", "protein", "embeddings"], "size_categories": [size_category(count)]},
                "count": f"{count:,}", "embedding": marker.get("embedding", "protein"),
                "model": model_display_name(marker.get("model") or "unknown"),
                "fingerprint": marker.get("model_fingerprint"), "normalized": marker.get("normalized", True),
                "format": marker["format"], "shards": marker["shards"], "dtype": marker.get("dtype", "float32"),
                "skipped": len(marker.get("skipped_records", []))}


def _records(path: str | Path, texts: bool) -> Iterator[tuple[str, str | None, str]]:
    """`("record", id, content)` / `("problem", None, why)` from a FASTA file, or from a text file (one text per
    line, or `id<TAB>text`)."""
    with open_text(path) as f:  # plain, gzipped or standard input
        if not texts:
            yield from iter_fasta(f)
            return
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            identifier, tab, text = line.partition("\t")
            yield ("record", identifier, text) if tab else ("record", str(number), line)


def embed_file(
    input_path: str | Path, model, processor, output_dir: str | Path,
    texts: bool = False, project: bool = True,
    shard_size: int = 10_000, batch_size: int = 64, max_tokens: int | None = None,
    dtype: str | None = None, fmt: str = "npy",
    rank: int = 0, world_size: int = 1, wait: Callable[[], None] = lambda: None,
    progress: bool = True,
) -> dict:
    """Embed every record of `input_path` into sharded files under `output_dir` (see the module docstring).

    Args:
        model: a ProtST model (its protein and text towers and projections are used).
        texts: the input is a text file (protein -> text retrieval over a text index) instead of FASTA.
        project: projected, L2-normalised embeddings (for search) or raw mean-pooled tower features.
        batch_size / max_tokens: at most this many records and (proteins) padded tokens per forward pass; records
            are grouped by length. `max_tokens` defaults to 1,024 on CPU, 16,384 on GPU (`default_max_tokens`).
        dtype: `bfloat16` / `float16`: the towers under autocast (GPU, or CPUs with bf16 units); default float32.
        fmt: `npy` (+ ids text file) or `parquet` (columns `id`, `embedding`).
        rank, world_size, wait: this process, the processes and a barrier (`wait_for_everyone`): the main
            process writes the manifest once every process wrote its shards (float32 whatever `dtype`).

    Returns:
        this process's summary: shards written and skipped, records embedded, proteins (or texts) per second.
    """
    if fmt not in ("npy", "parquet"):
        raise ValueError(f"fmt must be 'npy' or 'parquet', got {fmt!r}")
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(desc="embedding", unit=" texts" if texts else " proteins", unit_scale=True)
    summary = {"written": [], "skipped_complete": [], "records": 0, "problems": [], "seconds": 0.0}
    shard, index = [], 0

    def flush():
        nonlocal shard, index
        mine, done = index % world_size == rank, (output / f"ids-{index:05d}.txt").exists()
        if mine and done:
            summary["skipped_complete"].append(index)
        elif mine:
            start = time.perf_counter()
            vectors = _embed(model, processor, [c for _, c in shard], texts, project, batch_size, max_tokens, dtype)
            _write_shard(output, index, [i for i, _ in shard], vectors, fmt)
            summary["seconds"] += time.perf_counter() - start
            summary["written"].append(index)
            summary["records"] += len(shard)
            if bar is not None:
                bar.update(len(shard))
        shard, index = [], index + 1

    for kind, identifier, content in _records(input_path, texts):
        if kind == "problem":
            summary["problems"].append(content)
            continue
        shard.append((identifier, content))
        if len(shard) == shard_size:
            flush()
    if shard:
        flush()
    if bar is not None:
        bar.close()
    summary["shards"] = index
    summary["per_second"] = summary["records"] / summary["seconds"] if summary["seconds"] else None
    wait()
    if rank == 0:
        metadata = model_metadata(model, "text" if texts else "protein", normalized=project)
        EmbeddingFolder.write_marker(output, {**metadata, "input": str(input_path), "format": fmt, "shards": index,
                                              "shard_size": shard_size, "dtype": dtype or "float32",
                                              "skipped_records": summary["problems"]})
    return summary


def _embed(model, processor, contents, texts, project, batch_size, max_tokens=None, dtype=None) -> np.ndarray:
    """(N, D) float32 embeddings of one shard, in input order, by the shared embedding loops."""
    if texts:
        vectors = embed_texts(model, processor, contents, batch_size=batch_size, project=project, normalize=project,
                              dtype=dtype)
    else:
        vectors = embed_proteins(model, processor, contents, batch_size=batch_size, max_tokens=max_tokens or "auto",
                                 project=project, normalize=project, dtype=dtype)
    return vectors.numpy()


def _write_shard(output: Path, index: int, ids: list[str], vectors: np.ndarray, fmt: str) -> None:
    """Data first, then the ids file (the completion mark), each written atomically ([`atomic_open`])."""
    if fmt == "npy":
        with atomic_open(output / f"embeddings-{index:05d}.npy", "wb") as f:
            np.save(f, vectors)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
        with atomic_open(output / f"shard-{index:05d}.parquet", "wb") as f:
            pq.write_table(pa.table({"id": ids, "embedding": column}), f)
    with atomic_open(output / f"ids-{index:05d}.txt") as f:
        f.writelines(f"{i}\n" for i in ids)


def iter_embedding_shards(folder: str | Path) -> Iterator[tuple[list[str], np.ndarray]]:
    """`(ids, vectors)` per complete shard, in order, one shard in memory at a time; `folder` may be a Hub dataset
    repository holding an embedding folder."""
    folder = EmbeddingFolder.resolve_folder(folder)
    manifest = EmbeddingFolder.read_marker(folder)
    for index in range(manifest["shards"]):
        ids_file = folder / f"ids-{index:05d}.txt"
        if not ids_file.exists():
            raise FileNotFoundError(f"shard {index} of {folder} is incomplete: rerun `protst embed` to finish it")
        ids = ids_file.read_text().splitlines()
        if manifest["format"] == "npy":
            vectors = np.load(folder / f"embeddings-{index:05d}.npy", mmap_mode="r")
        else:
            import pyarrow.parquet as pq

            column = pq.read_table(folder / f"shard-{index:05d}.parquet", columns=["embedding"])["embedding"]
            vectors = column.combine_chunks().flatten().to_numpy().reshape(len(ids), -1)
        yield ids, np.asarray(vectors, dtype=np.float32)


def build_index(embeddings: str | Path, kind: str = "flat", **kwargs) -> ProteinIndex:
    """A `ProteinIndex` over an embedding folder (or a Hub dataset repository holding one), carrying its manifest's
    model metadata."""
    embeddings = EmbeddingFolder.resolve_folder(embeddings)
    manifest = EmbeddingFolder.read_marker(embeddings)
    keys = ("model", "revision", "model_fingerprint", "embedding", "normalized")
    metadata = {k: manifest[k] for k in keys if k in manifest}
    if not metadata.get("normalized", True):
        raise ValueError("index projected (normalised) embeddings: raw pooled features are not in the shared space")
    return ProteinIndex.build(iter_embedding_shards(embeddings), kind=kind, metadata=metadata, **kwargs)


__all__ = ["MANIFEST", "EmbeddingFolder", "build_index", "embed_file", "iter_embedding_shards"]
