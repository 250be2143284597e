"""`protst build-protdescribe`: ProtDescribe from UniProtKB files (or GO-labelled proteins: an annotation table,
FASTA + GAF, UniProt GO lines; with go-basic.obo) as a `datasets` folder."""

from __future__ import annotations

import argparse
import json
import sys

from ._common import evidence_parent, push, push_parent, quiet_parent, reports_errors, threads_parent

NAME = "build-protdescribe"


def register(commands) -> None:
    build = commands.add_parser(NAME, help="build ProtDescribe from UniProtKB XML or flat files",
                                parents=[threads_parent(), quiet_parent(), push_parent("built dataset"),
                                         evidence_parent("with --gaf / --go-from-uniprot, the annotations kept")])
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
    build.add_argument("--go-obo", metavar="OBO",
                       help="a GO build: the Gene Ontology (go-basic.obo, plain or gzipped) for the texts; the input "
                            "is a GO annotation table (accession, sequence, go_mf, go_bp, go_cc), or a FASTA file "
                            "with --gaf, or UniProt files with --go-from-uniprot")
    build.add_argument("--go-terms", metavar="TSV",
                       help="or the ontology as GO term names (go_id, name, namespace) ...")
    build.add_argument("--go-graph", metavar="TSV", help="... with the GO graph (child, parent, relation)")
    build.add_argument("--gaf", metavar="FILE", help="a GO build from a FASTA input: its GO annotations (GAF 2.1 / "
                       "2.2, plain or gzipped), filtered by --evidence")
    build.add_argument("--go-from-uniprot", action="store_true",
                       help="a GO build from UniProt inputs: the GO terms of their DR GO lines, filtered by "
                            "--evidence")
    build.add_argument("--go-propagate-texts", action="store_true",
                       help="a GO build: texts name every term a protein has under the true-path rule (annotated "
                            "terms and their is_a / part_of ancestors, roots excluded), not only the annotated ones")
    build.set_defaults(handler=run)


def _go_annotations(args: argparse.Namespace, inputs: list, ontology):
    """A GO build's input: the annotation table as it is, or labelled rows from FASTA + GAF or UniProt files (with
    the report of what the evidence filter kept and dropped, printed)."""
    from ..data.go_evidence import parse_evidence
    from ..data.go_labels import go_rows_from_gaf, go_rows_from_uniprot

    if args.gaf and args.go_from_uniprot:
        raise ValueError("--gaf labels a FASTA input, --go-from-uniprot UniProt inputs: give one")
    if not (args.gaf or args.go_from_uniprot):
        return inputs[0], None
    evidence = parse_evidence(args.evidence)
    if args.gaf:
        rows, report = go_rows_from_gaf(inputs[0], args.gaf, ontology, evidence)
    else:
        rows, report = go_rows_from_uniprot(inputs, ontology, evidence)
    if not args.quiet:
        print(report.summary(), file=sys.stderr)
    return rows, report.to_dict()


@reports_errors
def run(args: argparse.Namespace) -> int:
    from ..data.protdescribe import build_protdescribe

    inputs = list(args.inputs)
    if args.builtin_sample:
        from ..resources import UNIPROT_SAMPLE

        inputs.append(UNIPROT_SAMPLE)
    if not inputs:
        raise ValueError("give UniProt files, or --builtin-sample")
    common = dict(split=args.split, identity=args.identity, coverage=args.coverage, ratios=tuple(args.split_ratios),
                  seed=args.seed, leakage_against=args.leakage_against or (), leakage_identity=args.leakage_identity,
                  remove_leaking=args.remove_leaking, rows_per_shard=args.rows_per_shard, release=args.release,
                  threads=args.threads, progress=not args.quiet)
    if args.go_obo or args.go_terms or args.go_graph or args.gaf or args.go_from_uniprot:
        from ..data.gene_ontology import build_go_protdescribe
        from ..data.go_obo import load_ontology

        if args.builtin_sample or (len(inputs) != 1 and not args.go_from_uniprot):
            raise ValueError("a GO build takes one annotation table (or one FASTA with --gaf, or UniProt files with "
                             "--go-from-uniprot) and the ontology (--go-obo, or --go-terms and --go-graph)")
        ontology = load_ontology(args.go_obo, args.go_terms, args.go_graph)
        annotations, label_report = _go_annotations(args, inputs, ontology)
        report = build_go_protdescribe(annotations, ontology, args.output, propagate_texts=args.go_propagate_texts,
                                       label_report=label_report, **common)
    else:
        report = build_protdescribe(inputs, args.output, with_original=not args.no_original, **common)
    parse = report["parse"]
    print(f"read {parse['records_read']} entries ({report['build_records_per_second']:.0f}/s overall), "
          f"wrote {report['rows']['written']} to {args.output}")
    for reason, count in {**parse["skipped"], **{f"file {k}": v for k, v in parse["skipped_files"].items()}}.items():
        print(f"  skipped {reason}: {count}")
    for reason, count in parse.get("recovered", {}).items():
        print(f"  kept, {reason}: {count}")
    print(f"  exact duplicates removed: {report['rows']['exact_duplicates']}; without text: "
          f"{report['rows']['no_description_text']}")
    print("  field coverage: " + json.dumps(report["field_coverage"]))
    for path, item in report["leakage"].items():
        print(f"  leakage of {path} at >= {item['identity']:.0%} identity: {item['fraction_with_hit']}")
    push(args.output, args.push_to_hub, args.private)
    return 0
