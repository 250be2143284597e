"""The `protst` command: thin wrappers over the library.

    protst build-protdescribe [INPUT...] [--builtin-sample] --output DIR [--split mmseqs --identity 0.5]
                              [--leakage-against FILE...]
                              [--push-to-hub ORG/NAME]
"""

import argparse
import json
import sys


def _build_protdescribe(args: argparse.Namespace) -> int:
    from .data.protdescribe import build_protdescribe
    from .data.splits import MMseqsNotFound

    inputs = list(args.inputs)
    if args.builtin_sample:
        from .resources import UNIPROT_SAMPLE

        inputs.append(UNIPROT_SAMPLE)
    if not inputs:
        print("error: give UniProt files, or --builtin-sample", file=sys.stderr)
        return 2
    try:
        report = build_protdescribe(
            inputs, args.output, split=args.split, identity=args.identity, coverage=args.coverage,
            ratios=tuple(args.split_ratios), seed=args.seed, leakage_against=args.leakage_against or (),
            leakage_identity=args.leakage_identity, remove_leaking=args.remove_leaking,
            with_original=not args.no_original, rows_per_shard=args.rows_per_shard, release=args.release,
            threads=args.threads, progress=not args.quiet,
        )
    except (MMseqsNotFound, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    parse = report["parse"]
    print(f"read {parse['records_read']} entries ({report['build_records_per_second']:.0f}/s overall), "
          f"wrote {report['rows']['written']} to {args.output}")
    for reason, count in {**parse["skipped"], **{f"file {k}": v for k, v in parse["skipped_files"].items()}}.items():
        print(f"  skipped {reason}: {count}")
    print(f"  exact duplicates removed: {report['rows']['exact_duplicates']}; without text: "
          f"{report['rows']['no_description_text']}")
    print("  field coverage: " + json.dumps(report["field_coverage"]))
    for path, item in report["leakage"].items():
        print(f"  leakage of {path} at >= {item['identity']:.0%} identity: {item['fraction_with_hit']}")
    if args.push_to_hub:
        from .hub.push import MissingTokenError, push_folder

        try:
            url = push_folder(args.output, args.push_to_hub, repo_type="dataset", private=args.private)
        except MissingTokenError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"pushed: {url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="protst", description="ProtST on the Hugging Face stack")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build-protdescribe", help="build ProtDescribe from UniProtKB XML or flat files")
    build.add_argument("inputs", nargs="*", help="UniProtKB files (.xml, .dat, plain or .gz)")
    build.add_argument("--builtin-sample", action="store_true",
                       help="add the 250-entry Swiss-Prot sample shipped with the package (no download)")
    build.add_argument("--output", required=True, help="output folder (parquet shards, card, build report)")
    build.add_argument("--split", choices=("mmseqs", "random", "none"), default="mmseqs",
                       help="mmseqs: homology-aware (needs MMseqs2); random: explicit fallback; none: all train")
    build.add_argument("--identity", type=float, default=0.5, help="MMseqs2 clustering identity (default 0.5)")
    build.add_argument("--coverage", type=float, default=0.8, help="MMseqs2 clustering coverage (default 0.8)")
    build.add_argument("--split-ratios", type=float, nargs=3, default=(0.98, 0.01, 0.01),
                       metavar=("TRAIN", "VALIDATION", "TEST"))
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--leakage-against", nargs="*", metavar="FILE", help="benchmark FASTA/CSV files")
    build.add_argument("--leakage-identity", type=float, default=0.5)
    build.add_argument("--remove-leaking", action="store_true", help="drop rows hit by a benchmark protein")
    build.add_argument("--no-original", action="store_true", help="skip the `original` (TSV columns) config")
    build.add_argument("--rows-per-shard", type=int, default=100_000)
    build.add_argument("--release", help="UniProt release to state in the card, e.g. 2024_06")
    build.add_argument("--threads", type=int, help="MMseqs2 threads")
    build.add_argument("--push-to-hub", metavar="ORG/NAME", help="push the built dataset to this Hub repository")
    build.add_argument("--private", action="store_true", help="create the Hub repository private")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(handler=_build_protdescribe)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
