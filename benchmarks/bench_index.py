"""ProteinIndex search: latency and recall@10 of IVF / HNSW against exact brute force, and the memory of building
from shards, one run.

    python -m benchmarks.bench_index [--n 1000000] [--dim 512] [--data clustered uniform] [--skip_hnsw]

The database is `--n` L2-normalised `--dim`-d vectors written as a `protst embed` folder (npy shards of 100k with
ids and a manifest), in one of two distributions:

- `clustered`: 10,000 random centres, each point its centre plus Gaussian noise of the same norm (cosine about
  0.7 to its centre): neighbourhoods exist, as in real embeddings, where proteins come in families.
- `uniform`: i.i.d. Gaussian directions, the worst case for any approximate index: every point is nearly
  equidistant from a query, so "the" 10 nearest neighbours are barely nearer than the next thousand.

Queries are 1,000 fresh points of the same distribution. The baseline is exact inner-product search over all
vectors (FAISS `IndexFlatIP`, the brute force a flat index does); recall@10 is the share of its top 10 that the
approximate index returns. Latency: one query at a time (median ms over 200 queries) and a batch of 1,000 (ms per
query). Memory: peak resident memory of a process building an IVF-PQ index from the shards with
`ProteinIndex.build(iter_embedding_shards(...))`, against one that loads every vector first (`np.concatenate`) and
builds the same index.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARD = 100_000


def write_database(folder: Path, n: int, dim: int, data: str, seed: int = 0) -> np.ndarray:
    """Shards in the `protst embed` layout; returns 1,000 queries from the same distribution."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(10_000, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(count: int) -> np.ndarray:
        if data == "uniform":
            x = rng.normal(size=(count, dim)).astype(np.float32)
        else:
            noise = rng.normal(size=(count, dim)).astype(np.float32) / np.sqrt(dim)
            x = centres[rng.integers(0, len(centres), count)] + noise
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    shards = 0
    for start in range(0, n, SHARD):
        count = min(SHARD, n - start)
        np.save(folder / f"embeddings-{shards:05d}.npy", draw(count))
        (folder / f"ids-{shards:05d}.txt").write_text("".join(f"P{i}\n" for i in range(start, start + count)))
        shards += 1
    manifest = {"model": "benchmark", "model_fingerprint": "none", "embedding": "protein", "normalized": True,
                "format": "npy", "shards": shards, "shard_size": SHARD}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return draw(1000)


def latency(index, queries: np.ndarray, **settings) -> tuple[float, float, list[list[str]]]:
    """(median ms for one query at a time, ms per query in a batch of all, ids of the batch)."""
    single = []
    for query in queries[:200]:
        start = time.perf_counter()
        index.search(query[None], k=10, **settings)
        single.append(time.perf_counter() - start)
    start = time.perf_counter()
    _, ids = index.search(queries, k=10, **settings)
    batch = (time.perf_counter() - start) / len(queries)
    return 1000 * float(np.median(single)), 1000 * batch, ids


def recall(found: list[list[str]], exact: list[list[str]]) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


MEMORY_SCRIPT = """
import resource, sys, time
import numpy as np
from protst_hf import ProteinIndex
from protst_hf.embedding.shards import iter_embedding_shards
folder, mode = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if mode == "shards":
    index = ProteinIndex.build(iter_embedding_shards(folder), kind="ivfpq")
else:
    ids, vectors = zip(*iter_embedding_shards(folder))
    everything = np.concatenate(vectors)
    del vectors
    index = ProteinIndex.build([(sum(ids, []), everything)], kind="ivfpq")
print(len(index), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - start)
"""


def memory(folder: Path, mode: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(folder), mode], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[1]), float(out[2])


def main() -> None:
    from .hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--data", nargs="+", default=["clustered", "uniform"], choices=["clustered", "uniform"])
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--ef_search", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--skip_hnsw", action="store_true", help="HNSW takes longest to build")
    parser.add_argument("--skip_memory", action="store_true")
    args = parser.parse_args()

    import faiss

    from protst_hf import ProteinIndex
    from protst_hf.embedding.shards import iter_embedding_shards

    print(f"{args.n:,} x {args.dim} vectors, 1,000 queries, FAISS {faiss.__version__}, "
          f"{faiss.omp_get_max_threads()} threads")
    for data in args.data:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "embeddings"
            queries = write_database(folder, args.n, args.dim, data)
            print(f"\n## {data}")
            start = time.perf_counter()
            flat = ProteinIndex.build(iter_embedding_shards(folder), kind="flat")
            print(f"flat (exact brute force): built in {time.perf_counter() - start:.0f} s")
            exact_single, exact_batch, exact = latency(flat, queries)
            header = f"{'recall@10':>10}{'1 query ms':>12}{'speed-up':>10}{'batch ms/q':>12}{'speed-up':>10}"
            print(f"  {'index':<28}{header}")
            print(f"  {'flat (exact)':<28}{1.0:>10.3f}{exact_single:>12.2f}{1.0:>10.1f}{exact_batch:>12.3f}"
                  f"{1.0:>10.1f}")
            del flat
            kinds = [("ivf", "nprobe", args.nprobe)]
            if not args.skip_hnsw:
                kinds.append(("hnsw", "ef_search", args.ef_search))
            for kind, knob, values in kinds:
                start = time.perf_counter()
                index = ProteinIndex.build(iter_embedding_shards(folder), kind=kind)
                extra = f", nlist {index.metadata['nlist']}" if kind == "ivf" else ""
                print(f"{kind}: built in {time.perf_counter() - start:.0f} s{extra}")
                for value in values:
                    single, batch, found = latency(index, queries, **{knob: value})
                    name = f"{kind} {knob}={value}"
                    print(f"  {name:<28}{recall(found, exact):>10.3f}{single:>12.2f}{exact_single / single:>10.1f}"
                          f"{batch:>12.3f}{exact_batch / batch:>10.1f}")
                del index
            if not args.skip_memory and data == args.data[0]:
                shards_mb, shards_s = memory(folder, "shards")
                loaded_mb, loaded_s = memory(folder, "concatenate")
                raw = args.n * args.dim * 4 / 2**20
                print(f"IVF-PQ build, peak resident memory ({raw:,.0f} MiB of vectors): from shards {shards_mb:,.0f} "
                      f"MiB ({shards_s:.0f} s); all loaded first {loaded_mb:,.0f} MiB ({loaded_s:.0f} s); "
                      f"ratio {loaded_mb / shards_mb:.1f}x")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nthis process's peak resident memory: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
