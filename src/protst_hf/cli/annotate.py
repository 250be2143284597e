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
    annotate.add_argument("--field", required=True, nargs="+",
                          help="e.g. molecular_function, subcellular_location; several, or all: every field of the "
                               "reference, each protein embedded and searched once for all of them")
    annotate.add_argument("--output", required=True, help="long TSV: id, label_id, name, score, evidence; with "
                          "several fields, a path with {field} in it (one file per field, e.g. out.{field}.tsv)")
    annotate.add_argument("--cafa", help="also write the CAFA submission file (GO fields; {field} as for --output)")
    annotate.add_argument("--min-score", type=float, default=0.01, help="scores written (default >= 0.01)")
    annotate.add_argument("--top-k", type=int, default=1500, help="labels per protein at most (CAFA's 1500)")
    annotate.add_argument("--chunk-size", type=int, default=1000, help="proteins searched and scored at a time")
    annotate.set_defaults(handler=run)


def outputs(path: str | None, fields: list[str], flag: str) -> dict[str, str | None]:
    """Each field's output file: `path` itself for one field, `path` with `{field}` filled in for several."""
    if path is None or len(fields) == 1:
        return {field: path if path is None else path.replace("{field}", field) for field in fields}
    if "{field}" not in path:
        raise ValueError(f"{flag} {path!r}: with {len(fields)} fields, put {{field}} in the path (one file per "
                         "field, e.g. out.{field}.tsv)")
    return {field: path.replace("{field}", field) for field in fields}


@reports_errors
def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from ..annotation import AnnotationReference, AnnotationTable
    from ..models.protst.fasta_protst import ProteinRecords
    from ..models.protst.inference_protst import prepare_for_inference

    reference = AnnotationReference.load(args.reference)
    fields = reference.fields(args.field)
    tables, cafas = outputs(args.output, fields, "--output"), outputs(args.cafa, fields, "--cafa")
    for field in fields:
        if cafas[field] and reference.field(field)[0].single_label:
            raise ValueError(f"--cafa writes GO predictions; {field!r} is a single-label field")
    model, processor, _state = load_model(args.model or reference.manifest["model"])
    reference.check_model(model)  # the weights as saved, before any inference cast
    prepare_for_inference(model, packed=True, precision=args.precision)
    records = ProteinRecords(args.input)
    with ExitStack() as files:
        writers = {field: files.enter_context(AnnotationTable(tables[field], *reference.field(field)[:2],
                                                               min_score=args.min_score, top_k=args.top_k,
                                                               cafa=cafas[field])) for field in fields}
        for ids, scored in reference.annotate_fields(model, processor, records, fields, chunk_size=args.chunk_size,
                                                     threads=args.threads, check_model=False):
            for field, (scores, evidence, bins) in scored.items():
                writers[field].write(ids, scores, evidence, bins)
        if not records.read:  # raised inside the writers: no output is left
            raise records.no_protein_error()
    if records.problems:
        print(f"skipped {len(records.problems)} input record(s): " + "; ".join(records.problems[:5]), file=sys.stderr)
    for field in fields:
        print(f"{writers[field].rows} scores of {field} written to {tables[field]}"
              + (f" and {cafas[field]}" if cafas[field] else ""))
    return 0
