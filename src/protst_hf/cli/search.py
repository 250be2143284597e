"""`protst search`: text -> protein search over an index (`ProteinTextRetrievalPipeline`), printed as rank, id,
score."""

from __future__ import annotations

import argparse

from ._common import model_parent, precision_parent, reports_errors

NAME = "search"


def register(commands) -> None:
    search = commands.add_parser(NAME, help="text -> protein search over an index", parents=[
        model_parent(required=False, help="defaults to the model recorded in the index"),
        precision_parent(("auto", "float32", "bfloat16"), "float32",
                         "text tower precision (default float32; auto = bf16 where native)")])
    search.add_argument("queries", nargs="+")
    search.add_argument("--index", required=True, help="index folder or Hub dataset id")
    search.add_argument("--top-k", type=int, default=20)
    search.add_argument("--field", help="word the queries as the model's training texts worded this field, e.g. "
                        "molecular_function ('ATP binding' -> 'MOLECULAR FUNCTION: ATP binding.')")
    search.add_argument("--nprobe", type=int)
    search.add_argument("--ef-search", type=int)
    search.add_argument("--calibrated", action="store_true", help="drop hits below the index's conformal threshold")
    search.add_argument("--annotations", help="TSV id<TAB>text, or a ProtDescribe folder/parquet")
    search.set_defaults(handler=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    from ..embedding.annotations import load_annotations
    from ..models import pipeline
    from ..models.protst.index_protst import ProteinIndex

    index = ProteinIndex.load(args.index)
    name = args.model or index.metadata.get("model")
    if not name:
        raise ValueError("the index records no model: pass --model")
    search = pipeline("protein-text-retrieval", model=name, precision=args.precision)
    results = search(list(args.queries), index=index, top_k=args.top_k, nprobe=args.nprobe,
                     ef_search=args.ef_search, threshold="calibrated" if args.calibrated else None, field=args.field)
    annotations = load_annotations(args.annotations)
    for query, hits in zip(args.queries, results):
        print(f"# {query}")
        for rank, hit in enumerate(hits, start=1):
            note = f"\t{annotations[hit['id']]}" if hit["id"] in annotations else ""
            print(f"{rank}\t{hit['id']}\t{hit['score']:.4f}{note}")
    return 0
