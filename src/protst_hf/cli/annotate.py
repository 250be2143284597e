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
    annotate.add_argument("--output", required=True, help="long TSV: id, label_id, name, score, evidence shares, "
                          "supporting reference protein; with several fields, a path with {field} in it (one file "
                          "per field, e.g. out.{field}.tsv)")
    annotate.add_argument("--cafa", help="also write the CAFA submission file (GO fields; {field} as for --output)")
    annotate.add_argument("--gaf", help="also write a GAF 2.2 file (GO fields: evidence IEA, the reference in the "
                          "DB:Reference column, the supporting protein in With/From; {field} as for --output)")
    annotate.add_argument("--report", metavar="HTML", help="also write a self-contained HTML report: summary, where "
                          "the evidence came from, and a searchable table of the proteins with each label's evidence")
    annotate.add_argument("--report-terms", type=int, default=20, help="labels per protein and field in the report "
                          "(default 20; the TSV holds all)")
    annotate.add_argument("--min-score", type=float, default=0.01, help="scores written (default >= 0.01)")
    annotate.add_argument("--threshold", metavar="auto|SCORE",
                          help="keep only the labels scoring at least this; auto: each field's Fmax-optimal "
                               "threshold from the reference's cross-fit (recorded at build time)")
    annotate.add_argument("--leaves", action="store_true",
                          help="only the most specific labels: none that is an ancestor of another kept label")
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
    from ..annotation import AnnotationReference, AnnotationReport, annotate_to_files
    from ..models.protst.fasta_protst import ProteinRecords
    from ..models.protst.folder_protst import model_display_name
    from ..models.protst.inference_protst import prepare_for_inference

    reference = AnnotationReference.load(args.reference)
    fields = reference.fields(args.field)
    tables, cafas = outputs(args.output, fields, "--output"), outputs(args.cafa, fields, "--cafa")
    gafs = outputs(args.gaf, fields, "--gaf")
    thresholds = {field: threshold(reference, field, args.threshold) for field in fields}
    for field in fields:
        for flag, paths in (("--cafa", cafas), ("--gaf", gafs)):
            if paths[field] and reference.field(field)[0].single_label:
                raise ValueError(f"{flag} writes GO predictions; {field!r} is a single-label field")
    header = {"reference": model_display_name(args.reference), "model": model_display_name(
        reference.manifest["model"]), "ontology": reference.ontology_version}
    model, processor, _state = load_model(args.model or reference.manifest["model"])
    reference.check_model(model)  # the weights as saved, before any inference cast
    prepare_for_inference(model, packed=True, precision=args.precision)
    records = ProteinRecords(args.input)
    report = AnnotationReport(args.report, header, args.report_terms) if args.report else None
    rows = annotate_to_files(reference, model, processor, records, fields, tables, cafas, gafs, thresholds, report,
                             header, chunk_size=args.chunk_size, threads=args.threads, min_score=args.min_score,
                             top_k=args.top_k, leaves=args.leaves)
    if records.problems:
        print(f"skipped {len(records.problems)} input record(s): " + "; ".join(records.problems[:5]), file=sys.stderr)
    for field in fields:
        extra = [p for p in (cafas[field], gafs[field]) if p]
        kept = f" (threshold {thresholds[field]:.2f})" if thresholds[field] is not None else ""
        print(f"{rows[field]} scores of {field}{kept} written to {tables[field]}"
              + (f" and {' and '.join(extra)}" if extra else ""))
    if report is not None:
        print(f"report of {records.read} proteins written to {report.write(skipped=records.problems)}")
    return 0


def threshold(reference, field: str, value: str | None) -> float | None:
    """The score a field's labels must reach: none, a number, or `auto` (the Fmax-optimal threshold the build
    recorded from its cross-fit)."""
    if value is None:
        return None
    if value == "auto":
        return reference.fitted_threshold(field)
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"--threshold takes auto or a score, got {value!r}") from None
