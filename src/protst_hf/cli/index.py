"""`protst index build`: a FAISS index over an embedding folder."""

from __future__ import annotations

import argparse

from ._common import push, push_parent, reports_errors

NAME = "index"


def register(commands) -> None:
    index = commands.add_parser(NAME, help="index operations")
    index_commands = index.add_subparsers(dest="index_command", required=True)
    build = index_commands.add_parser("build", help="build a FAISS index from an embedding folder",
                                      parents=[push_parent("index")])
    build.add_argument("--embeddings", required=True)
    build.add_argument("--output", required=True)
    build.add_argument("--kind", choices=("flat", "ivf", "ivfpq", "hnsw"), default="flat")
    build.add_argument("--nlist", type=int)
    build.add_argument("--hnsw-neighbors", type=int, default=32)
    build.add_argument("--pq-subquantizers", type=int, default=64)
    build.set_defaults(handler=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    from ..embedding.shards import build_index

    index = build_index(args.embeddings, kind=args.kind, nlist=args.nlist, hnsw_neighbors=args.hnsw_neighbors,
                        pq_subquantizers=args.pq_subquantizers)
    index.save(args.output)
    print(f"indexed {len(index)} {index.metadata.get('embedding', '')} embeddings ({args.kind}) into {args.output}")
    push(args.output, args.push_to_hub, args.private)
    return 0
