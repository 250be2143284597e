"""`protst search`: text queries, or the proteins of a FASTA file (plain, gzipped or standard input), searched over an
index (`ProteinTextRetrievalPipeline`), printed as rank, id, score under a `# query` line."""

from __future__ import annotations

import argparse
import sys

from ._common import model_parent, precision_parent, reports_errors

NAME = "search"


def register(commands) -> None:
    search = commands.add_parser(NAME, help="text or protein queries searched over an index", parents=[
        model_parent(required=False, help="defaults to the model recorded in the index"),
        precision_parent(("auto", "float32", "bfloat16"), "float32",
                         "towers' precision (default float32; auto = bf16 where native)")])
    search.add_argument("queries", nargs="*", help="text queries (e.g. 'ATP binding')")
    search.add_argument("--proteins", metavar="FASTA", help="protein queries instead: a FASTA file (plain or "
                        "gzipped), or - for standard input; over an index of protein embeddings they find the nearest "
                        "proteins, over one of text embeddings the nearest texts")
    search.add_argument("--chunk-size", type=int, default=256, help="protein queries read and searched at a time")
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
    from ..models.protst.fasta_protst import ProteinRecords, iter_chunks
    from ..models.protst.index_protst import ProteinIndex

    if bool(args.queries) == bool(args.proteins):
        raise ValueError("give text queries or --proteins FASTA, not both or neither")
    index = ProteinIndex.load(args.index)
    name = args.model or index.metadata.get("model")
    if not name:
        raise ValueError("the index records no model: pass --model")
    search = pipeline("protein-text-retrieval", model=name, precision=args.precision)
    options = {"index": index, "top_k": args.top_k, "nprobe": args.nprobe, "ef_search": args.ef_search,
               "threshold": "calibrated" if args.calibrated else None, "field": args.field}
    annotations = load_annotations(args.annotations)
    if args.queries:
        _print(zip(args.queries, search(list(args.queries), **options)), annotations)
        return 0
    direction = f"protein-to-{index.metadata.get('embedding', 'protein')}"
    records = ProteinRecords(args.proteins)
    for chunk in iter_chunks(records, args.chunk_size):
        _print(zip((i for i, _ in chunk), search(chunk, direction=direction, **options)), annotations)
    if records.problems:
        print(f"skipped {len(records.problems)} FASTA record(s): " + "; ".join(records.problems[:5]), file=sys.stderr)
    if not records.read:
        raise records.no_protein_error()
    return 0


def _print(results, annotations: dict) -> None:
    for query, hits in results:
        print(f"# {query}")
        for rank, hit in enumerate(hits, start=1):
            found = hit.get("id", hit.get("text"))
            note = f"\t{annotations[found]}" if found in annotations else ""
            print(f"{rank}\t{found}\t{hit['score']:.4f}{note}")
