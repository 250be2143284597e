"""`protst classify`: zero-shot classification of a FASTA file (plain, gzipped or standard input), streamed in
chunks into a TSV."""

from __future__ import annotations

import argparse
import sys

from ._common import model_parent, precision_parent, quiet_parent, reports_errors

NAME = "classify"


def register(commands) -> None:
    classify = commands.add_parser(NAME, help="zero-shot classification of a FASTA file into a TSV",
                                   parents=[model_parent(), precision_parent(), quiet_parent()])
    classify.add_argument("input", help="FASTA file (plain or gzipped), or - for standard input")
    classify.add_argument("--output", required=True, help="TSV: id, label, score, then each label's probability; "
                          "with --multi-label, --top-k or over 100 labels one row per protein and label (id, label, "
                          "score), best first")
    classify.add_argument("--label-set", help="a built-in label set: subcellular_location, reaction, ...")
    classify.add_argument("--labels", help="comma-separated label names, put into --template")
    classify.add_argument("--labels-file", help="a file of labels: one name per line, or ID<TAB>NAME per line (e.g. "
                          "GO:0005524<TAB>ATP binding: the output names the id)")
    classify.add_argument("--field", help="word the labels as the model's training texts worded this field, e.g. "
                          "molecular_function, biological_process, cellular_component (GO), subcellular_location "
                          "(the templates recorded in the model's training_texts.json); instead of --template")
    classify.add_argument("--multi-label", action="store_true",
                          help="independent per-label scores (the probability that each label applies, as GO terms "
                               "do) instead of a distribution over the labels; the output is long: id, label, score")
    classify.add_argument("--top-k", type=int, help="labels kept per protein, best first, in the long output "
                          "(default: all, at most 1500)")
    classify.add_argument("--template", help="prompt template with {} for the label (default "
                          "'SUBCELLULAR LOCATION: {}.')")
    classify.add_argument("--prior", default="auto",
                          help="class prior added to the logits: auto (default: the model's training prior when its "
                               "scores are density ratios, i.e. trained with the original's in-batch loss; none for a "
                               "text-bank model), training, uniform (the original's scores), or a JSON / TSV file of "
                               "class frequencies")
    classify.add_argument("--prompt-pooling", choices=("auto", "mean", "logsumexp"), default="auto",
                          help="how a class with several prompts is scored: mean (the mean prompt embedding), "
                               "logsumexp (its prompts' probabilities summed), auto (default: logsumexp for a "
                               "text-bank model, mean otherwise)")
    classify.add_argument("--batch-size", type=int, default=32, help="proteins per forward pass")
    classify.add_argument("--chunk-size", type=int, default=1024, help="proteins read and written at a time")
    classify.add_argument("--device", help="e.g. cpu, cuda:0 (default: the GPU when there is one)")
    classify.set_defaults(handler=run)


def label_arguments(args: argparse.Namespace) -> tuple[dict, list[str] | None]:
    """The pipeline's label arguments from the flags, and the labels' ids when a labels file names them."""
    from ..data.label_files import read_class_frequencies, read_labels_file

    labels = [c.strip() for c in args.labels.split(",") if c.strip()] if args.labels else None
    label_ids = None
    if args.labels_file:
        if labels is not None:
            raise ValueError("give --labels or --labels-file, not both")
        label_ids, labels = read_labels_file(args.labels_file)
    if (labels is None) == (args.label_set is None):
        raise ValueError("give --label-set, --labels or --labels-file")
    prior = args.prior if args.prior in ("auto", "uniform", "training") else read_class_frequencies(args.prior)
    label_kwargs = {"candidate_labels": labels, "label_set": args.label_set, "prompt_pooling": args.prompt_pooling,
                    "prior": prior}
    if args.template:
        label_kwargs["hypothesis_template"] = args.template
    if args.field:
        label_kwargs["field"] = args.field
    if args.multi_label:
        label_kwargs["multi_label"] = True
    return label_kwargs, label_ids


@reports_errors
def run(args: argparse.Namespace) -> int:
    import warnings

    from tqdm.auto import tqdm

    from ..annotation.io import ClassificationTable
    from ..models import pipeline
    from ..models.protst.fasta_protst import ProteinRecords, iter_chunks
    from ..models.protst.folder_protst import atomic_open

    label_kwargs, label_ids = label_arguments(args)
    classify = pipeline("zero-shot-protein-classification", model=args.model, precision=args.precision,
                        device=args.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # said below, with the other choices
        classifier = classify.classifier(**{k: v for k, v in label_kwargs.items() if k != "multi_label"})
    if not args.quiet:
        prior = "uniform" if classifier.log_prior is None else "log p(class) added"
        print(f"prior: {prior} ({classifier.reasons['prior']}); pooling: {classifier.reasons['pooling']}; "
              f"prompts like {classifier.prompts[0][0]!r}", file=sys.stderr)
        if args.multi_label:
            print(f"multi-label: {classifier.reasons['multi_label']}", file=sys.stderr)
    names = classifier.names
    # long format (one row per protein and label, best first) for many labels or multi-label scores; wide (every
    # label's probability in a column) for a few classes
    long_format = args.multi_label or args.top_k is not None or len(names) > 100
    if long_format:
        label_kwargs["top_k"] = args.top_k or min(len(names), 1500)
    records = ProteinRecords(args.input)
    bar = tqdm(desc="classifying", unit=" proteins", unit_scale=True, disable=args.quiet)
    with atomic_open(args.output) as out, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # truncation to the model's length is expected, reported once
        table = ClassificationTable(out, names, label_ids, long_format)
        for chunk in iter_chunks(records, args.chunk_size):
            table.write(classify(chunk, batch_size=args.batch_size, **label_kwargs))
            bar.update(len(chunk))
        if not table.proteins:
            raise records.no_protein_error()
    bar.close()
    print(f"classified {table.proteins} proteins into {args.output}" + (
        f"; {len(records.problems)} record(s) skipped: " + "; ".join(records.problems[:5])
        if records.problems else ""), file=sys.stderr)
    return 0
