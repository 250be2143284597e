"""ProteinIndex: a FAISS index of ProtST embeddings with its ids and metadata, saved as a folder (or a Hub dataset).

This file is shipped to the Hub with saved models: it imports nothing from `protst_hf`. FAISS (`faiss-cpu`, or
`faiss-gpu` when present) is imported when an index is built, searched or loaded.

Example:

```python
>>> index = ProteinIndex.build(shards, kind="ivf", metadata=model_metadata(model, "protein"))
>>> index.save("swissprot-index")
>>> scores, ids = ProteinIndex.load("swissprot-index").search(text_embeddings, k=20)
```
"""

import hashlib
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .folder_protst import CARD_FILE, HubFolderMixin, atomic_open, model_display_name, size_category

INDEX_FILE, IDS_FILE, METADATA_FILE = "index.faiss", "ids.txt", "index_metadata.json"
KINDS = ("flat", "ivf", "ivfpq", "hnsw")


class MismatchedModelError(ValueError):
    """Queries embedded by another model (or another embedding kind) than the index."""


def model_fingerprint(model) -> str:
    """A short hash of the weights that map tower features to the shared space (both projections and
    `logit_scale`): equal for the same ProtST weights wherever they are loaded from, different otherwise."""
    protst = getattr(model, "protst", model)
    digest = hashlib.sha256()
    for name in ("protein_projection", "text_projection"):
        for tensor in getattr(protst, name).state_dict().values():
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
    digest.update(protst.logit_scale.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def model_metadata(model, embedding: str = "protein", normalized: bool = True) -> dict:
    """What an index or an embedding folder records about the model that produced its vectors."""
    config = getattr(model, "config", None)
    return {
        "model": getattr(config, "_name_or_path", "") or "",
        "revision": getattr(config, "_commit_hash", None),  # the Hub commit the weights came from, when they did
        "model_fingerprint": model_fingerprint(model),
        "embedding": embedding,
        "normalized": normalized,
    }


def _faiss():
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("ProteinIndex needs FAISS: pip install faiss-cpu (or faiss-gpu)") from err
    return faiss


class ProteinIndex(HubFolderMixin):
    """Inner-product search over L2-normalised embeddings (cosine), with ids and metadata. Saved as a folder
    (`index.faiss`, `ids.txt`, `index_metadata.json`: the marker, written last; and a card) by the folder protocol
    of `folder_protst`.

    Args:
        index: a FAISS index.
        ids (`list[str]`): the id of each vector, in insertion order.
        metadata (`dict`): model name and fingerprint, embedding kind, normalisation, index kind and parameters,
            and an optional conformal `threshold` (see [`calibrate_threshold`]).
    """

    MARKER, FORMAT_VERSION, CARD_TEMPLATE, KIND = METADATA_FILE, 1, "index_card.md", "index"

    def __init__(self, index, ids: list[str], metadata: dict):
        if index.ntotal != len(ids):
            raise ValueError(f"{index.ntotal} vectors but {len(ids)} ids")
        self.index, self.ids, self.metadata = index, list(ids), dict(metadata)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls,
        shards: Iterable[tuple[list[str], np.ndarray]],
        kind: str = "flat",
        metadata: dict | None = None,
        nlist: int | None = None,
        pq_subquantizers: int = 64,
        hnsw_neighbors: int = 32,
        nprobe: int = 16,
        ef_search: int = 64,
        train_size: int = 100_000,
        use_gpu: bool = False,
    ) -> "ProteinIndex":
        """Build from `(ids, vectors)` shards, one shard in memory at a time.

        Args:
            shards: e.g. [`iter_embedding_shards`] of a `protst embed` folder; vectors (n, d) float32, normalised.
            kind: `flat` (exact), `ivf` (IVF-Flat), `ivfpq` (IVF-PQ, compressed), `hnsw` (graph).
            nlist: IVF cells (default about 4 * sqrt(n) of the training sample).
            pq_subquantizers: IVF-PQ sub-quantizers (must divide the dimension).
            hnsw_neighbors: HNSW graph degree M.
            nprobe / ef_search: the default search settings saved with the index (IVF cells visited; HNSW
                candidate list size); `search` can override them per call.
            train_size: vectors drawn from the first shards to train IVF quantizers.
            use_gpu: add and search on all GPUs (faiss-gpu); `save` writes a CPU copy.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        faiss = _faiss()
        iterator = iter(shards)
        pending: list[tuple[list[str], np.ndarray]] = []
        seen = 0
        if kind in ("ivf", "ivfpq"):  # gather training vectors from the first shards (kept to be added after)
            for ids, vectors in iterator:
                pending.append((ids, vectors))
                seen += len(ids)
                if seen >= train_size:
                    break
        else:
            first = next(iterator, None)
            if first is not None:
                pending.append(first)
        if not pending:
            raise ValueError("no embeddings to index")
        dim = pending[0][1].shape[1]
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, hnsw_neighbors, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = max(40, 2 * hnsw_neighbors)
            index.hnsw.efSearch = ef_search
        else:
            train = np.concatenate([v for _, v in pending])[:train_size].astype(np.float32)
            # about 4 sqrt(n) cells, with the 39 training points per cell FAISS asks for
            nlist = nlist or max(1, min(int(4 * math.sqrt(len(train))), len(train) // 39))
            quantizer = faiss.IndexFlatIP(dim)
            if kind == "ivf":
                index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            else:
                if dim % pq_subquantizers:
                    raise ValueError(f"pq_subquantizers ({pq_subquantizers}) must divide the dimension ({dim})")
                index = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_subquantizers, 8, faiss.METRIC_INNER_PRODUCT)
            index.train(train)
            index.nprobe = min(nlist, nprobe)
        if use_gpu and getattr(faiss, "get_num_gpus", lambda: 0)() > 0 and kind != "hnsw":
            index = faiss.index_cpu_to_all_gpus(index)
        all_ids: list[str] = []
        for ids, vectors in _chain(pending, iterator):
            if vectors.shape[1] != dim:
                raise ValueError(f"a shard has dimension {vectors.shape[1]}, the index {dim}")
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
            all_ids.extend(ids)
        metadata = {**(metadata or {}), "kind": kind, "dim": dim, "count": len(all_ids)}
        if kind in ("ivf", "ivfpq"):
            metadata.update(nlist=index.nlist, nprobe=index.nprobe)
        if kind == "hnsw":
            metadata.update(hnsw_neighbors=hnsw_neighbors, ef_search=index.hnsw.efSearch)
        return cls(index, all_ids, metadata)

    def check_queries(self, metadata: dict) -> None:
        """Refuse queries from another model or embedding space (`model_metadata` of the query side)."""
        mine = self.metadata.get("model_fingerprint")
        theirs = metadata.get("model_fingerprint")
        if mine and theirs and mine != theirs:
            raise MismatchedModelError(
                f"this index holds embeddings of model {self.metadata.get('model')!r} (fingerprint {mine}); the "
                f"queries come from {metadata.get('model')!r} (fingerprint {theirs}): embed with the same model"
            )
        if self.metadata.get("normalized") is False or metadata.get("normalized") is False:
            raise MismatchedModelError("cosine search needs normalised (projected) embeddings on both sides")

    def search(
        self, queries: np.ndarray, k: int = 20, nprobe: int | None = None, ef_search: int | None = None,
        threshold: float | None = None,
    ) -> tuple[np.ndarray, list[list[str]]]:
        """Top-k by inner product. `nprobe` (IVF) and `ef_search` (HNSW) trade speed for recall; `threshold`
        (or the calibrated one stored in the metadata, when `threshold="calibrated"`) drops weaker hits.

        Returns:
            scores `(n, k)` (NaN where dropped or missing) and the ids per query (shorter lists when dropped).
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.index.d:
            raise ValueError(f"queries have dimension {queries.shape[1]}, the index {self.index.d}")
        faiss = _faiss()
        params = None  # per-call settings, leaving the index's defaults alone
        if nprobe is not None and hasattr(self.index, "nprobe"):
            params = faiss.SearchParametersIVF(nprobe=int(nprobe))
        if ef_search is not None and hasattr(self.index, "hnsw"):
            params = faiss.SearchParametersHNSW(efSearch=int(ef_search))
        if threshold == "calibrated":
            if "threshold" not in self.metadata:
                raise ValueError("this index has no calibrated threshold (see calibrate_threshold)")
            threshold = self.metadata["threshold"]
        k = min(k, len(self.ids))
        if params is None:
            scores, positions = self.index.search(queries, k)
        else:
            scores, positions = self.index.search(queries, k, params=params)
        scores = scores.astype(np.float32)
        result = []
        for row in range(len(queries)):
            keep = positions[row] >= 0
            if threshold is not None:
                keep &= scores[row] >= threshold
            scores[row, ~keep] = np.nan
            result.append([self.ids[p] for p in positions[row][keep]])
        return scores, result

    def vectors(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(stop - start, D) float32 stored vectors of positions `start:stop`: a view of the index's own memory for a
        flat index (no copy), reconstructed for the others."""
        faiss = _faiss()
        stop = len(self.ids) if stop is None else min(stop, len(self.ids))
        index = self.index
        if isinstance(index, faiss.IndexFlat) and index.ntotal:
            stored = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d)
            return np.asarray(stored).reshape(index.ntotal, index.d)[start:stop]
        return index.reconstruct_n(start, stop - start)

    def calibrate_threshold(self, queries: np.ndarray, relevant: list[set[str]], error_rate: float = 0.1,
                            k: int = 100) -> float:
        """Split-conformal score threshold: on calibration queries with known relevant ids, the best score of a
        relevant hit is at or above the threshold for at least `1 - error_rate` of new queries (exchangeable
        with these), so searching with `threshold="calibrated"` misses a relevant protein at most that often.
        Stored in the metadata with its target error rate."""
        scores, ids = self.search(queries, k=k)
        best = []
        for row, wanted in enumerate(relevant):
            hits = [scores[row, i] for i, found in enumerate(ids[row]) if found in wanted]
            best.append(max(hits) if hits else -np.inf)  # not retrieved at all counts as a miss
        best = np.sort(np.asarray(best))
        rank = int(math.floor(error_rate * (len(best) + 1)))
        if rank < 1:
            raise ValueError(f"an error rate of {error_rate} needs at least {math.ceil(1 / error_rate - 1)} "
                             f"calibration queries, got {len(best)}")
        threshold = float(best[rank - 1])
        if not np.isfinite(threshold):
            unreached = float(np.mean(~np.isfinite(best)))
            raise ValueError(f"{unreached:.1%} of the calibration queries have no relevant protein in the top {k}: "
                             f"a miss rate of {error_rate} cannot be reached by a threshold; search deeper (k) or "
                             "accept a higher error rate")
        self.metadata.update(threshold=threshold, threshold_error_rate=error_rate, threshold_queries=len(best))
        return threshold

    def save(self, folder: str | Path, card: bool = True) -> Path:
        """Write `index.faiss`, `ids.txt`, then `index_metadata.json` (the marker, last) and (unless `card=False`)
        the index card."""
        faiss = _faiss()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        index = self.index
        if getattr(faiss, "get_num_gpus", lambda: 0)() > 0 and not type(index).__name__.startswith("Index"):
            index = faiss.index_gpu_to_cpu(index)
        (folder / self.MARKER).unlink(missing_ok=True)  # an overwritten folder is unfinished until the marker
        faiss.write_index(index, str(folder / INDEX_FILE))
        with atomic_open(folder / IDS_FILE) as f:
            f.writelines(f"{i}\n" for i in self.ids)
        self.write_marker(folder, self.metadata, card=card)
        return folder

    @classmethod
    def card_variables(cls, folder: Path, marker: dict, repo_id: str) -> dict:
        """The index card's variables: what was embedded by which model, the index kind and its search settings,
        the calibrated threshold. The vector count comes from `ids.txt` (the FAISS file is not read)."""
        with open(folder / IDS_FILE) as f:
            count = sum(1 for _ in f)
        m = marker
        threshold = (f"{m['threshold']:.4f} (target miss rate {m['threshold_error_rate']}, split-conformal on "
                     f"{m['threshold_queries']} calibration queries)" if "threshold" in m else "not calibrated")
        return {"card_data": {"tags": ["protst", "faiss", "protein", "retrieval"],
                              "size_categories": [size_category(count)]},
                "count": f"{count:,}", "embedding": m.get("embedding", "protein"), "dim": m.get("dim"),
                "model": model_display_name(m.get("model") or "unknown"), "revision": m.get("revision") or "local",
                "fingerprint": m.get("model_fingerprint"),
                "kind": {"flat": "exact inner product (`IndexFlatIP`)", "ivf": "IVF-Flat",
                         "ivfpq": "IVF-PQ (compressed)", "hnsw": "HNSW graph"}.get(m.get("kind"), m.get("kind")),
                "settings": ", ".join(f"{k}={m[k]}" for k in ("nlist", "nprobe", "hnsw_neighbors", "ef_search")
                                      if k in m) or "exact",
                "threshold": threshold}

    def push_to_hub(self, repo_id: str, private: bool = False, token: str | None = None,
                    commit_message: str | None = None) -> str:
        """Save into a temporary folder and upload it to the Hub dataset repository `repo_id` as one commit."""
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            self.save(folder, card=False)
            return self.push_folder(folder, repo_id, private=private, token=token, commit_message=commit_message or
                                    f"Upload a {self.metadata.get('kind')} index of {len(self)} embeddings")

    @classmethod
    def load(cls, folder_or_repo: str | Path, revision: str | None = None) -> "ProteinIndex":
        """From a folder, or from a Hub dataset repository holding one (downloaded once, cached)."""
        folder = cls.resolve_folder(folder_or_repo, revision)
        metadata = cls.read_marker(folder)
        faiss = _faiss()
        index = faiss.read_index(str(folder / INDEX_FILE))
        ids = (folder / IDS_FILE).read_text().splitlines()
        if "nprobe" in metadata and hasattr(index, "nprobe"):
            index.nprobe = metadata["nprobe"]
        if "ef_search" in metadata and hasattr(index, "hnsw"):
            index.hnsw.efSearch = metadata["ef_search"]
        return cls(index, ids, metadata)


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


__all__ = ["CARD_FILE", "KINDS", "MismatchedModelError", "ProteinIndex", "model_display_name", "model_fingerprint",
           "model_metadata"]
