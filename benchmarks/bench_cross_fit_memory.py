"""Memory of the annotation reference's cross-fit neighbour search, at two reference sizes, beside the previous
implementation in the same run.

    python -m benchmarks.bench_cross_fit_memory [--sizes 20000 100000] [--dim 512] [--proteins 5000]

A synthetic reference per size (random residues, random unit embeddings of `--dim`, 10,000 per shard, a flat FAISS
index, clusters of three consecutive rows) is searched as `build_reference` searches it when it cross-fits: 5 folds,
`--proteins` drawn, each against the other folds' proteins. Each variant runs in a fresh process that first loads the
reference's index (what the build holds anyway); the figure is the process's peak resident memory above that point
(the peak is reset after the index is loaded).

- protst-hf: `annotation.search.cross_fit_lookup` (the index's stored vectors scanned a block at a time with the
  excluded rows masked, only the drawn rows' embeddings and sequences read, target FASTA streamed).
- baseline: the implementation before 2026-12-07 (every embedding concatenated in memory, every sequence in a dict,
  per fold a copy of the targets' embeddings and a (queries x targets) cosine matrix, `topk`).

MMseqs2 runs in its own process in both and is replaced by an empty search here (`--with-mmseqs` runs it), so the
figures are the Python process's own. The neighbours found are compared: the same rows, cosines within float32.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .hardware import describe

FOLDS, NEIGHBOURS = 5, 10
AMINO = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8)


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024


def peak_mib() -> float:
    """The process's peak resident memory since the last [`reset_peak`] (Linux's VmHWM)."""
    with open("/proc/self/status") as f:
        return int(f.read().split("VmHWM:")[1].split()[0]) / 1024


def reset_peak() -> None:
    """Start the peak over from the current resident memory (Linux: `echo 5 > /proc/self/clear_refs`), so that the
    index's loading, which peaks above what it keeps, is not counted."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def make_reference(folder: Path, size: int, dim: int) -> None:
    """A reference folder with what the cross-fit reads: proteins.fasta, embeddings/ (npy shards) and index/."""
    from protst_hf.models.protst.index_protst import ProteinIndex

    rng = np.random.default_rng(size)
    (folder / "embeddings").mkdir(parents=True)
    with open(folder / "proteins.fasta", "w") as out:
        for row in range(size):
            out.write(f">{row}\n{AMINO[rng.integers(0, 20, rng.integers(50, 300))].tobytes().decode()}\n")
    shards = []
    for index, start in enumerate(range(0, size, 10_000)):
        vectors = rng.standard_normal((min(10_000, size - start), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        np.save(folder / "embeddings" / f"embeddings-{index:05d}.npy", vectors)
        ids = [str(r) for r in range(start, start + len(vectors))]
        (folder / "embeddings" / f"ids-{index:05d}.txt").write_text("".join(f"{i}\n" for i in ids))
        shards.append((ids, vectors))
    (folder / "embeddings" / "manifest.json").write_text(json.dumps({"format": "npy", "shards": len(shards),
                                                                      "normalized": True}))
    ProteinIndex.build(shards).save(folder / "index", card=False)


def baseline_neighbours(folder: Path, draws) -> tuple[np.ndarray, np.ndarray]:
    """The neighbour search of the cross-fit as it was before 2026-12-07 (its MMseqs2 part aside)."""
    import torch

    from protst_hf.data.splits import read_sequences
    from protst_hf.embedding.shards import iter_embedding_shards

    embeddings = np.concatenate([vectors for _, vectors in iter_embedding_shards(folder / "embeddings")])
    sequences = dict(read_sequences(folder / "proteins.fasta"))  # noqa: F841 - held, as the old code held it
    similarities, neighbours = [], []
    for queries, targets in draws:
        k = min(NEIGHBOURS, len(targets))
        cosines = torch.from_numpy(embeddings[queries]) @ torch.from_numpy(embeddings[targets]).T
        values, places = cosines.topk(k, dim=1)
        similarities.append(values.numpy())
        neighbours.append(targets[places.numpy()])
    return np.concatenate(similarities), np.concatenate(neighbours)


def child(variant: str, folder: Path, proteins: int, with_mmseqs: bool) -> dict:
    from protst_hf.annotation import search
    from protst_hf.models.protst.index_protst import ProteinIndex

    index = ProteinIndex.load(folder / "index")
    size = len(index)
    clusters = [row // 3 for row in range(size)]
    reset_peak()
    base = rss_mib()
    started = time.perf_counter()
    if variant == "protst-hf":
        if not with_mmseqs:
            search.mmseqs_hits = lambda *args, **kwargs: {}
        settings = {"neighbours": NEIGHBOURS, "max_hits": 10, "sensitivity": 7.5, "search_iterations": 1}
        rows, lookup = search.cross_fit_lookup(folder, index, settings, clusters, proteins, FOLDS, workdir=folder)
        similarities, neighbours = lookup.similarities, lookup.rows
    else:
        draws = search.cross_fit_folds(clusters, proteins, FOLDS)
        similarities, neighbours = baseline_neighbours(folder, draws)
    seconds = time.perf_counter() - started
    np.save(folder / f"{variant}-rows.npy", neighbours)
    np.save(folder / f"{variant}-cosines.npy", similarities)
    return {"base_mib": base, "extra_peak_mib": peak_mib() - base, "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--proteins", type=int, default=5000)
    parser.add_argument("--with-mmseqs", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), args.proteins, args.with_mmseqs)))
        return 0
    print(describe(), flush=True)
    lines = ["| reference proteins | protst-hf: extra peak | baseline: extra peak | ratio | same neighbours | "
             "max cosine difference | seconds (protst-hf / baseline) |", "|---|---|---|---|---|---|---|"]
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "reference"
            make_reference(folder, size, args.dim)
            result = {}
            for variant in ("protst-hf", "baseline"):
                command = [sys.executable, "-m", "benchmarks.bench_cross_fit_memory", "--child", variant, str(folder),
                           "--proteins", str(args.proteins)] + (["--with-mmseqs"] if args.with_mmseqs else [])
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                result[variant] = json.loads(done.stdout.strip().splitlines()[-1])
            rows = [np.load(folder / f"{v}-rows.npy") for v in ("protst-hf", "baseline")]
            cosines = [np.load(folder / f"{v}-cosines.npy") for v in ("protst-hf", "baseline")]
            same = float(np.mean([set(a) == set(b) for a, b in zip(*rows)]))
            ours, theirs = result["protst-hf"], result["baseline"]
            lines.append(f"| {size:,} | {ours['extra_peak_mib']:.0f} MiB | {theirs['extra_peak_mib']:.0f} MiB | "
                         f"{theirs['extra_peak_mib'] / max(ours['extra_peak_mib'], 1):.1f}x less | {same:.4f} | "
                         f"{np.abs(cosines[0] - cosines[1]).max():.1e} | {ours['seconds']:.1f} / "
                         f"{theirs['seconds']:.1f} |")
            print(lines[-1], flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
