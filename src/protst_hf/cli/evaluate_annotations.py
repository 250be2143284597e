"""`protst evaluate-annotations`: GO predictions scored by the CAFA-evaluator (cafaeval): Fmax, weighted Fmax and
Smin per namespace, with the precision-recall plot."""

from __future__ import annotations

import argparse
import json
import sys

from ._common import evidence_parent, reports_errors

NAME = "evaluate-annotations"


def register(commands) -> None:
    evaluate = commands.add_parser(
        NAME, parents=[evidence_parent("with a GAF truth, the annotations that are true")],
        help="score GO predictions (protst annotate TSV or CAFA file) with the CAFA-evaluator",
        description="Score GO predictions as CAFA5 did, with cafaeval: predictions propagated with max over is_a and "
                    "part_of, precision over predicted proteins and recall over all (norm cafa), roots left out. "
                    "Weighted Fmax and Smin use information accretion: --ia, or computed from --reference's "
                    "annotations, or from the truth's.")
    evaluate.add_argument("predictions", help="`protst annotate` TSV or CAFA file (plain or gzipped)")
    evaluate.add_argument("--truth", required=True,
                          help="the true annotations: a GAF (filtered by --evidence; NOT rows left out) or a CAFA "
                               "ground-truth table (protein<TAB>GO id)")
    evaluate.add_argument("--go-obo", required=True, metavar="OBO", help="the Gene Ontology (go-basic.obo)")
    evaluate.add_argument("--ia", metavar="TSV", help="information accretion per term (term<TAB>value), e.g. CAFA5's "
                          "IA.txt")
    evaluate.add_argument("--reference", help="an annotation reference: information accretion computed from its "
                          "annotations (when no --ia)")
    evaluate.add_argument("--output", metavar="DIR", help="write results.json, cafaeval's tables and "
                          "precision_recall.png here")
    evaluate.set_defaults(handler=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..evaluation.cafa_evaluation import evaluate_go_predictions

    ia_from = None
    if args.reference and not args.ia:
        from ..annotation import AnnotationReference
        from ..annotation.fields import GO_NAMESPACES

        reference = AnnotationReference.load(args.reference)
        ia_from = reference.label_sets([f for f in GO_NAMESPACES if f in reference.field_names])
    result = evaluate_go_predictions(args.predictions, args.truth, args.go_obo, ia=args.ia, ia_from=ia_from,
                                     evidence=args.evidence, output_dir=args.output)
    print(f"{result['predictions']:,} predictions against {result['truth']['proteins']:,} proteins of {args.truth} "
          f"(ontology {result['ontology_version'] or 'unversioned'}; IA {result['ia']})")
    print(f"{'namespace':<20} {'proteins':>8} {'Fmax':>6} {'tau':>5} {'wFmax':>6} {'Smin':>7} {'coverage':>8}")
    for namespace, s in result["namespaces"].items():
        print(f"{namespace:<20} {s['proteins']:>8,} {s['fmax']:>6.3f} {s['threshold']:>5.2f} "
              f"{s.get('weighted_fmax', float('nan')):>6.3f} {s.get('smin', float('nan')):>7.3f} "
              f"{s['coverage']:>8.2f}")
    if not result["namespaces"]:
        print("no namespace scored: no prediction names a protein of the truth", file=sys.stderr)
        return 1
    if args.output:
        (Path(args.output) / "results.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"tables, precision_recall.png and results.json in {args.output}")
    return 0
