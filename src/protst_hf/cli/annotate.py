"""`protst annotate`: fused annotation of a FASTA file (plain, gzipped or standard input) against a reference."""

from __future__ import annotations

import argparse
import sys

from ._common import load_model, model_parent, precision_parent, reports_errors, threads_parent

NAME = "annotate"


def register(commands) -> None:
    annotate = commands.add_parser(NAME, help="annotate proteins against a reference: homology, embedding "
                                   "neighbours, zero-shot text and label frequencies, fused", parents=[
                                       model_parent(False, "default: the model the reference was embedded with"),
                                       precision_parent(), threads_parent()])
    annotate.add_argument("input", help="FASTA file (plain or gzipped), or - for standard input")
    annotate.add_argument("--reference", required=True, help="a reference folder (`protst reference build`)")
    annotate.add_argument("--field", required=True, help="e.g. molecular_function, subcellular_location")
    annotate.add_argument("--output", required=True, help="long TSV: id, label_id, name, score, evidence")
    annotate.add_argument("--cafa", help="also write the CAFA submission file (GO fields)")
    annotate.add_argument("--min-score", type=float, default=0.01, help="scores written (default >= 0.01)")
    annotate.add_argument("--top-k", type=int, default=1500, help="labels per protein at most (CAFA's 1500)")
    annotate.add_argument("--chunk-size", type=int, default=1000, help="proteins searched and scored at a time")
    annotate.set_defaults(handler=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    from ..annotation import AnnotationReference, write_annotations
    from ..models.protst.fasta_protst import ProteinRecords
    from ..models.protst.inference_protst import prepare_for_inference

    reference = AnnotationReference.load(args.reference)
    labels, fusion, _info = reference.field(args.field)
    if args.cafa and labels.single_label:
        raise ValueError(f"--cafa writes GO predictions; {labels.name!r} is a single-label field")
    model, processor, _state = load_model(args.model or reference.manifest["model"])
    reference.check_model(model)  # the weights as saved, before any inference cast
    prepare_for_inference(model, packed=True, precision=args.precision)
    records = ProteinRecords(args.input)

    def results():
        yield from reference.annotate(model, processor, records, labels.name, chunk_size=args.chunk_size,
                                      threads=args.threads, check_model=False)
        if not records.read:  # raised inside the writer: no output is left
            raise records.no_protein_error()

    written = write_annotations(args.output, results(), labels, fusion, min_score=args.min_score, top_k=args.top_k,
                                cafa=args.cafa)
    if records.problems:
        print(f"skipped {len(records.problems)} input record(s): " + "; ".join(records.problems[:5]), file=sys.stderr)
    print(f"{written} scores of {labels.name} written to {args.output}" + (f" and {args.cafa}" if args.cafa else ""))
    return 0
