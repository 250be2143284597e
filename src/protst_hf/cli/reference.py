"""`protst reference build`: an annotation reference from downloaded GO files (UniProtKB, or FASTA + GAF, with
go-basic.obo), a ProtDescribe build (GO) or labelled parquet splits."""

from __future__ import annotations

import argparse
import sys

from ._common import (
    evidence_parent,
    load_model,
    model_parent,
    precision_parent,
    quiet_parent,
    reports_errors,
    threads_parent,
)

NAME = "reference"


def register(commands) -> None:
    reference = commands.add_parser(NAME, help="annotation references (homology + embeddings + text)")
    reference_commands = reference.add_subparsers(dest="reference_command", required=True)
    build = reference_commands.add_parser(
        "build", help="build an annotation reference from UniProtKB or FASTA + GAF files with go-basic.obo, a "
                      "ProtDescribe build (GO) or labelled parquet splits",
        parents=[model_parent(), precision_parent(), threads_parent(), quiet_parent(),
                 evidence_parent("with --uniprot / --gaf, the annotations that become labels")],
        description="Embed the reference split's proteins (split over the processes under `accelerate launch -m "
                    "protst_hf.cli reference build ...`; a killed build resumes), index them, store their labels and "
                    "the label prompts' embeddings, and fit the fusion of homology, embedding neighbours, zero-shot "
                    "text and label frequencies on the fit split (never the test split).")
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument("--uniprot", nargs="+", metavar="FILE",
                        help="UniProtKB files (uniprot_sprot.dat.gz, or XML; plain or gzipped): the proteins and the "
                             "GO terms of their DR GO lines, filtered by --evidence")
    source.add_argument("--fasta", metavar="FILE", help="proteins (plain or gzipped FASTA; `sp|ACC|NAME` headers "
                        "give the accession), labelled by --gaf")
    source.add_argument("--dataset", help="a ProtDescribe folder or parquet splits")
    build.add_argument("--gaf", metavar="FILE", help="with --fasta: GO annotations (GAF 2.1 / 2.2, plain or gzipped, "
                       "e.g. GOA's goa_uniprot_all.gaf.gz), matched by column 2 to the FASTA accessions")
    build.add_argument("--output", required=True, help="the reference folder")
    build.add_argument("--go-obo", metavar="OBO", help="the Gene Ontology (go-basic.obo, plain or gzipped)")
    build.add_argument("--go-terms", metavar="TSV", help="or GO term names (go_id, name, namespace) ...")
    build.add_argument("--go-graph", metavar="TSV", help="... with the GO graph (child, parent, relation)")
    build.add_argument("--namespaces", nargs="*", help="GO fields (default: all three)")
    build.add_argument("--class-column", help="a single-label field instead of GO: the column of class names "
                       "(several joined by |)")
    build.add_argument("--field", help="the name of that field (default: the column's)")
    build.add_argument("--label-set", help="the classes and prompts of a built-in label set (e.g. "
                       "subcellular_location); default: the column's classes in the model's template")
    build.add_argument("--template", help="prompt template with {} for every field built (default: the model's "
                       "recorded template of each field)")
    build.add_argument("--reference-split", default="train",
                       help="the split(s) of the reference proteins, e.g. train or train+test (the whole corpus but "
                            "the fit split)")
    build.add_argument("--fit-split", default="cross",
                       help="the split the fusion is fitted on (apart from the reference split), or cross (default): "
                            "reference proteins cross-fitted over 5 folds of their MMseqs2 clusters (the dataset's "
                            "`cluster` column; clustered at 30%% identity when it has none), each annotated against "
                            "the reference without its fold, so no labelled split is held out")
    build.add_argument("--fit-proteins", type=int, default=5000,
                       help="cross-fitting: reference proteins drawn to fit on (default 5000)")
    build.add_argument("--neighbours", type=int, default=10, help="k of the embedding-space transfer")
    build.add_argument("--max-hits", type=int, default=10, help="MMseqs2 hits kept per query")
    build.add_argument("--search-iterations", type=int, default=1,
                       help="MMseqs2 --num-iterations; above 1 a profile search, which finds more distant hits but "
                            "transferred GO terms worse (benchmarks/studies/go_fusion_alternatives.py)")
    build.add_argument("--no-prior-correction", action="store_true",
                       help="single-label fields: keep the fused class distribution as fitted for accuracy, without "
                            "the class-prior correction chosen by macro F1 on the fit split (it makes rare classes "
                            "predicted more often, at a small cost in accuracy)")
    build.add_argument("--shard-size", type=int, default=10_000,
                       help="proteins per embedding shard (resumed and split over processes by shard)")
    build.add_argument("--limit", type=int, help="the first N proteins of each split (a smoke run)")
    build.set_defaults(handler=run)


def go_files_inputs(args: argparse.Namespace, model):
    """The reference's proteins and GO fields from downloaded files (`--uniprot`, or `--fasta` with `--gaf`), and
    the report of what was kept and dropped."""
    from ..annotation.fields import GO_NAMESPACES, reference_inputs
    from ..data.go_evidence import parse_evidence
    from ..data.go_labels import go_rows_from_gaf, go_rows_from_uniprot
    from ..data.go_obo import load_ontology
    from ..models.protst.prompts_protst import field_template, model_training_texts

    if args.class_column:
        raise ValueError("--uniprot / --fasta build GO fields; --class-column takes a --dataset")
    if args.fit_split != "cross":
        raise ValueError("--uniprot / --fasta have no splits: the fusion is cross-fitted on the reference proteins "
                         "(leave --fit-split at cross), or build a ProtDescribe dataset with splits first")
    if args.fasta and not args.gaf:
        raise ValueError("--fasta needs --gaf (the GO annotations of its proteins)")
    if args.gaf and not args.fasta:
        raise ValueError("--gaf goes with --fasta (the sequences of its proteins)")
    evidence = parse_evidence(args.evidence)  # an unknown code is refused before any file is read
    ontology = load_ontology(args.go_obo, args.go_terms, args.go_graph)
    if args.uniprot:
        rows, report = go_rows_from_uniprot(args.uniprot, ontology, evidence)
    else:
        rows, report = go_rows_from_gaf(args.fasta, args.gaf, ontology, evidence)
    if not rows:
        raise ValueError("no protein kept a GO annotation:\n" + report.summary())
    rows = rows[:args.limit] if args.limit else rows
    record = model_training_texts(model)
    namespaces = args.namespaces or list(GO_NAMESPACES)
    inputs = reference_inputs(rows, None, ontology=ontology, namespaces=namespaces,
                              templates={n: args.template or field_template(record, n) for n in namespaces})
    return inputs, report


def inputs_from(args: argparse.Namespace, model):
    """The reference's proteins, fields and fit split from the dataset the flags name ([`reference_inputs`]), and
    the version of the GO ontology its fields come from (None for the TSV tables and single-label fields)."""
    from ..annotation.fields import GO_NAMESPACES, load_reference_rows, reference_inputs
    from ..models.protst.prompts_protst import field_template, label_set_prompts, model_training_texts

    if args.gaf:
        raise ValueError("--gaf goes with --fasta (the sequences of its proteins), not with --dataset")
    cross_fit = args.fit_split == "cross"
    if not cross_fit and set(args.reference_split.split("+")) & set(args.fit_split.split("+")):
        raise ValueError(f"the fit split {args.fit_split!r} must be apart from the reference split "
                         f"{args.reference_split!r}")
    required = ["accession", "sequence"] + ([args.class_column] if args.class_column else [])
    optional = ("cluster",) if args.class_column else ("go_terms", "cluster")  # GO terms; clusters to cross-fit
    rows = load_reference_rows(args.dataset, args.reference_split, required, optional, args.limit)
    fit_rows = None if cross_fit else load_reference_rows(args.dataset, args.fit_split, required, optional, args.limit)
    record = model_training_texts(model)
    if args.class_column is None:
        if not (args.go_obo or (args.go_terms and args.go_graph)):
            raise ValueError("a GO reference needs the ontology: --go-obo go-basic.obo (or --go-terms with "
                             "--go-graph); or give --class-column for a single-label field")
        from ..data.go_obo import load_ontology

        namespaces = args.namespaces or list(GO_NAMESPACES)
        ontology = load_ontology(args.go_obo, args.go_terms, args.go_graph)
        return reference_inputs(rows, fit_rows, ontology=ontology, namespaces=namespaces, templates={
            n: args.template or field_template(record, n) for n in namespaces}), ontology.version
    field = args.field or args.class_column
    if args.label_set:
        classes, prompts = label_set_prompts(args.label_set)
        return reference_inputs(rows, fit_rows, class_column=args.class_column, field_name=field, classes=classes,
                                prompts=prompts), None
    return reference_inputs(rows, fit_rows, class_column=args.class_column, field_name=field,
                            template=args.template or field_template(record, field)), None


@reports_errors
def run(args: argparse.Namespace) -> int:
    from ..annotation.build import ReferenceBuildArguments, build_reference
    from ..models.protst.index_protst import model_fingerprint
    from ..models.protst.inference_protst import prepare_for_inference

    model, processor, state = load_model(args.model)
    fingerprint = model_fingerprint(model)  # of the weights as saved, before any inference cast
    prepare_for_inference(model, packed=True, precision=args.precision)
    if args.dataset:
        inputs, version = inputs_from(args, model)
        sources = {"ontology_version": version} if version else None
    else:
        inputs, labels = go_files_inputs(args, model)
        sources = labels.to_dict()
        if state.is_main_process and not args.quiet:
            print(labels.summary(), file=sys.stderr)
    settings = ReferenceBuildArguments(
        neighbours=args.neighbours, max_hits=args.max_hits, search_iterations=args.search_iterations,
        prior_correction=not args.no_prior_correction, fit_proteins=args.fit_proteins, threads=args.threads,
        shard_size=args.shard_size, progress=not args.quiet)
    summary = build_reference(args.output, model, processor, inputs.proteins, inputs.fields, inputs.validation,
                              inputs.validation_labels, settings, clusters=inputs.clusters, model_name=args.model,
                              fingerprint=fingerprint, rank=state.process_index, world_size=state.num_processes,
                              wait=state.wait_for_everyone, report=inputs.left_out, sources=sources)
    if state.is_main_process:
        skipped = inputs.skipped + inputs.skipped_validation
        print(f"reference of {len(inputs.proteins)} proteins written to {args.output} in "
              f"{summary['seconds'] / 60:.1f} min ({len(inputs.skipped)} reference and "
              f"{len(inputs.skipped_validation)} validation record(s) skipped"
              + (": " + "; ".join(skipped[:5]) if skipped else "") + ")")
    return 0
