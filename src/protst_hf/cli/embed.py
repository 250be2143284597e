"""`protst embed`: a FASTA (or text) file into resumable embedding shards, split over `accelerate launch`'s
processes."""

from __future__ import annotations

import argparse

from ._common import load_model, model_parent, precision_parent, quiet_parent, reports_errors

NAME = "embed"


def register(commands) -> None:
    embed = commands.add_parser(NAME, help="embed a FASTA (or text) file into resumable shards",
                                parents=[model_parent(), precision_parent(), quiet_parent()])
    embed.add_argument("input", help="FASTA file (or, with --texts, one text per line / id<TAB>text)")
    embed.add_argument("--output", required=True)
    embed.add_argument("--texts", action="store_true", help="embed texts (for a text index) instead of proteins")
    embed.add_argument("--raw", action="store_true", help="raw mean-pooled tower features, not projected")
    embed.add_argument("--shard-size", type=int, default=10_000)
    embed.add_argument("--batch-size", type=int, default=64, help="at most this many records per forward pass")
    embed.add_argument("--max-tokens", type=int, help="at most this many padded protein tokens per forward pass "
                       "(default 1024 on CPU, 16384 on GPU)")
    embed.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                       help="autocast precision of the towers (shards are float32)")
    embed.add_argument("--padded", action="store_true",
                       help="run the protein tower on padded batches (default: packed, the same numbers faster)")
    embed.add_argument("--format", choices=("npy", "parquet"), default="npy")
    embed.set_defaults(handler=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    from ..embedding.shards import embed_file
    from ..models.protst.inference_protst import prepare_for_inference

    model, processor, state = load_model(args.model)
    prepare_for_inference(model, packed=not args.padded, precision=args.precision)
    summary = embed_file(args.input, model, processor, args.output, texts=args.texts, project=not args.raw,
                         shard_size=args.shard_size, batch_size=args.batch_size, max_tokens=args.max_tokens,
                         dtype=args.dtype, fmt=args.format,
                         rank=state.process_index, world_size=state.num_processes, wait=state.wait_for_everyone,
                         progress=not args.quiet)
    state.wait_for_everyone()  # the manifest is written before any process reports success
    rate = f"{summary['per_second']:.1f}/s" if summary["per_second"] else "-"
    print(f"process {state.process_index}: wrote shards {summary['written']} ({summary['records']} records, "
          f"{rate}), already complete: {summary['skipped_complete']}; {len(summary['problems'])} input record(s) "
          "skipped" + (": " + "; ".join(summary["problems"][:5]) if summary["problems"] else ""))
    return 0
