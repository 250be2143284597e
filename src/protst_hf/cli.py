"""The `protst` command: thin wrappers over the library.

    protst build-protdescribe [INPUT...] [--builtin-sample] --output DIR [--split mmseqs --identity 0.5]
                              [--leakage-against FILE...]
                              [--push-to-hub ORG/NAME]
    protst build-protdescribe GO.tsv --go-terms TERMS.tsv --go-graph GRAPH.tsv --output DIR --identity 0.3
    protst classify PROTEINS.fasta --model M --labels-file terms.txt --field molecular_function --multi-label
                    --output scores.tsv
    protst classify PROTEINS.fasta --model M --label-set subcellular_location --output predictions.tsv
    protst pretrain --preset tiny --dataset DIR --output_dir OUT   (the flags of examples/pretrain/run_pretrain.py)
    protst embed / index build / search / evaluate ...
    protst reference build --dataset GO_PROTDESCRIBE --model M --go-terms T --go-graph G --output REF
    protst annotate PROTEINS.fasta --reference REF --field molecular_function --output scores.tsv [--cafa F]
    protst convert-original CKPT.pth OUT_DIR [--trust-pickle] [--text-tokenizer TOK]
    protst convert-hub-port DIR OUT_DIR
    protst push FOLDER --repo ORG/NAME [--private] [--revision BRANCH] [--eval-results results.json]
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
    common = dict(split=args.split, identity=args.identity, coverage=args.coverage, ratios=tuple(args.split_ratios),
                  seed=args.seed, leakage_against=args.leakage_against or (), leakage_identity=args.leakage_identity,
                  remove_leaking=args.remove_leaking, rows_per_shard=args.rows_per_shard, release=args.release,
                  threads=args.threads, progress=not args.quiet)
    try:
        if args.go_terms or args.go_graph:
            from .data.gene_ontology import GeneOntology, build_go_protdescribe

            if not (args.go_terms and args.go_graph) or len(inputs) != 1 or args.builtin_sample:
                print("error: a GO build takes one annotation table, --go-terms and --go-graph", file=sys.stderr)
                return 2
            ontology = GeneOntology.from_files(args.go_terms, args.go_graph)
            report = build_go_protdescribe(inputs[0], ontology, args.output,
                                           propagate_texts=args.go_propagate_texts, **common)
        else:
            report = build_protdescribe(inputs, args.output, with_original=not args.no_original, **common)
    except (MMseqsNotFound, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
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
    if args.push_to_hub:
        from .hub.push import MissingTokenError, push_folder

        try:
            url = push_folder(args.output, args.push_to_hub, repo_type="dataset", private=args.private)
        except MissingTokenError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"pushed: {url}")
    return 0


def _load_model(name: str):
    import torch
    from accelerate import PartialState
    from transformers import AutoModel, AutoProcessor

    from .models import register

    register()

    state = PartialState(cpu=not torch.cuda.is_available())
    model = AutoModel.from_pretrained(name).to(state.device).eval()
    return model, AutoProcessor.from_pretrained(name), state


def _embed(args: argparse.Namespace) -> int:
    from .embedding.shards import embed_file
    from .models.protst.inference_protst import prepare_for_inference

    model, processor, state = _load_model(args.model)
    prepare_for_inference(model, packed=not args.padded, precision=args.precision)
    summary = embed_file(args.input, model, processor, args.output, texts=args.texts, project=not args.raw,
                         shard_size=args.shard_size, batch_size=args.batch_size, max_tokens=args.max_tokens,
                         dtype=args.dtype, fmt=args.format,
                         rank=state.process_index, world_size=state.num_processes, progress=not args.quiet)
    state.wait_for_everyone()  # every shard is written before any process reports success
    rate = f"{summary['per_second']:.1f}/s" if summary["per_second"] else "-"
    print(f"process {state.process_index}: wrote shards {summary['written']} ({summary['records']} records, "
          f"{rate}), already complete: {summary['skipped_complete']}; {len(summary['problems'])} input record(s) "
          "skipped" + (": " + "; ".join(summary["problems"][:5]) if summary["problems"] else ""))
    return 0


def _read_frequencies(path: str) -> dict:
    """Class frequencies from a JSON object (`{"Nucleus": 0.3, ...}`) or a two-column TSV (name, frequency)."""
    import json
    from pathlib import Path

    if not Path(path).is_file():
        raise ValueError(f"--prior must be auto, uniform, training or a file of class frequencies; {path!r} is none")
    text = Path(path).read_text()
    if path.endswith(".json"):
        return {str(k): float(v) for k, v in json.loads(text).items()}
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    if any(len(r) != 2 for r in rows):
        raise ValueError(f"{path}: each line must be 'name<TAB>frequency'")
    return {name.strip(): float(value) for name, value in rows}


def read_labels_file(path: str) -> tuple[list[str] | None, list[str]]:
    """(ids or None, names) of a labels file: one label name per line (`ATP binding`), or an id and a name per line
    separated by a tab (`GO:0005524<TAB>ATP binding`: the id is what the output names, the name what is put into the
    prompt). A first line `id<TAB>name` (or `go_id`, `label`) is a header. Blank lines are skipped; a name or id
    given twice, or a mix of one- and two-column lines, is an error naming the line."""
    ids, names, seen = [], [], set()
    with open(path) as handle:
        lines = [(number, line.rstrip("\n\r")) for number, line in enumerate(handle, start=1) if line.strip()]
    if lines and lines[0][1].split("\t")[0].strip().lower() in ("id", "go_id", "label", "term"):
        lines = lines[1:]
    if not lines:
        raise ValueError(f"{path}: no labels")
    columns = len(lines[0][1].split("\t"))
    for number, line in lines:
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) != columns or columns > 2 or not all(fields):
            raise ValueError(f"{path}, line {number}: expected {'an id and a name' if columns == 2 else 'a name'} "
                             f"per line (tab-separated), got {line!r}")
        key = fields[0]
        if key in seen or (columns == 2 and fields[1] in names):
            raise ValueError(f"{path}, line {number}: {fields[-1] if columns == 2 else key!r} is listed twice")
        seen.add(key)
        ids.append(fields[0])
        names.append(fields[-1])
    return (ids if columns == 2 else None), names


def _classify(args: argparse.Namespace) -> int:
    """Zero-shot classification of a FASTA file, streamed in chunks into a TSV: id, top label, its score, and the
    probability of every label."""
    import warnings

    from tqdm.auto import tqdm

    from .models import pipeline
    from .models.protst.fasta_protst import iter_fasta

    labels = [c.strip() for c in args.labels.split(",") if c.strip()] if args.labels else None
    label_ids = None
    if args.labels_file:
        if labels is not None:
            print("error: give --labels or --labels-file, not both", file=sys.stderr)
            return 2
        try:
            label_ids, labels = read_labels_file(args.labels_file)
        except (OSError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    if (labels is None) == (args.label_set is None):
        print("error: give --label-set, --labels or --labels-file", file=sys.stderr)
        return 2
    label_kwargs = {"candidate_labels": labels, "label_set": args.label_set, "prompt_pooling": args.prompt_pooling}
    if args.template:
        label_kwargs["hypothesis_template"] = args.template
    if args.field:
        label_kwargs["field"] = args.field
    if args.multi_label:
        label_kwargs["multi_label"] = True
    try:
        prior = args.prior
        if prior not in ("auto", "uniform", "training"):
            prior = _read_frequencies(prior)
        label_kwargs["prior"] = prior
        classify = pipeline("zero-shot-protein-classification", model=args.model, precision=args.precision,
                            device=args.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # said below, with the other choices
            classifier = classify.classifier(**{k: v for k, v in label_kwargs.items() if k != "multi_label"})
        names = classifier.names
        if not args.quiet:
            prior = "uniform" if classifier.log_prior is None else "log p(class) added"
            print(f"prior: {prior} ({classifier.reasons['prior']}); pooling: {classifier.reasons['pooling']}; "
                  f"prompts like {classifier.prompts[0][0]!r}", file=sys.stderr)
            if args.multi_label:
                print(f"multi-label: {classifier.reasons['multi_label']}", file=sys.stderr)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    shown = dict(zip(names, label_ids)) if label_ids else {n: n for n in names}
    # long format (one row per protein and label, best first) for many labels or multi-label scores; wide (every
    # label's probability in a column) for a few classes
    long_format = args.multi_label or args.top_k is not None or len(names) > 100
    if long_format:
        label_kwargs["top_k"] = args.top_k or min(len(names), 1500)
    problems, written = [], 0
    source = sys.stdin if args.input == "-" else open(args.input)
    bar = tqdm(desc="classifying", unit=" proteins", unit_scale=True, disable=args.quiet)
    with source, open(args.output, "w") as out, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # truncation to the model's length is expected, reported once
        out.write("\t".join(["id", "label", "score", *([] if long_format else [shown[n] for n in names])]) + "\n")
        chunk = []

        def flush():
            nonlocal written
            for result in classify(chunk, batch_size=args.batch_size, **label_kwargs):
                if long_format:
                    out.writelines(f"{result['id']}\t{shown[label]}\t{score:.6g}\n"
                                   for label, score in zip(result["labels"], result["scores"]))
                    continue
                scores = dict(zip(result["labels"], result["scores"]))
                out.write("\t".join([result["id"], shown[result["labels"][0]], f"{result['scores'][0]:.6f}",
                                     *(f"{scores[n]:.6f}" for n in names)]) + "\n")
            out.flush()
            written += len(chunk)
            bar.update(len(chunk))
            chunk.clear()

        for kind, identifier, content in iter_fasta(source):
            if kind == "problem":
                problems.append(content)
                continue
            chunk.append((identifier, content))
            if len(chunk) == args.chunk_size:
                flush()
        if chunk:
            flush()
    bar.close()
    print(f"classified {written} proteins into {args.output}" + (
        f"; {len(problems)} record(s) skipped: " + "; ".join(problems[:5]) if problems else ""), file=sys.stderr)
    return 0 if written else 1


def _index_build(args: argparse.Namespace) -> int:
    from .embedding.shards import build_index

    index = build_index(args.embeddings, kind=args.kind, nlist=args.nlist, hnsw_neighbors=args.hnsw_neighbors,
                        pq_subquantizers=args.pq_subquantizers)
    index.save(args.output)
    print(f"indexed {len(index)} {index.metadata.get('embedding', '')} embeddings ({args.kind}) into {args.output}")
    if args.push_to_hub:
        from .hub.push import MissingTokenError, push_folder

        try:
            print("pushed:", push_folder(args.output, args.push_to_hub, repo_type="dataset", private=args.private))
        except MissingTokenError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    return 0


def _search(args: argparse.Namespace) -> int:
    """Text -> protein search: `ProteinTextRetrievalPipeline` over the index, printed as rank, id, score."""
    from .embedding.annotations import load_annotations
    from .models import pipeline
    from .models.protst.index_protst import MismatchedModelError, ProteinIndex

    index = ProteinIndex.load(args.index)
    name = args.model or index.metadata.get("model")
    if not name:
        print("error: the index records no model: pass --model", file=sys.stderr)
        return 2
    try:
        search = pipeline("protein-text-retrieval", model=name, precision=args.precision)
        results = search(list(args.queries), index=index, top_k=args.top_k, nprobe=args.nprobe,
                         ef_search=args.ef_search, threshold="calibrated" if args.calibrated else None,
                         field=args.field)
    except (MismatchedModelError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    annotations = load_annotations(args.annotations)
    for query, hits in zip(args.queries, results):
        print(f"# {query}")
        for rank, hit in enumerate(hits, start=1):
            note = f"\t{annotations[hit['id']]}" if hit["id"] in annotations else ""
            print(f"{rank}\t{hit['id']}\t{hit['score']:.4f}{note}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import logging

    from .evaluation.harness import EvaluationArguments, run_evaluation
    from .evaluation.protocols import FinetuneArguments

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    files = {}
    for item in args.files or []:
        task, _, rest = item.partition(":")
        split, _, path = rest.partition("=")
        if not (task and split and path):
            raise SystemExit(f"--files takes TASK:SPLIT=PATH, got {item!r}")
        files.setdefault(task, {})[split] = path
    limits = {"train": args.limit_train, "validation": args.limit_eval, "test": args.limit_eval}
    overrides = FinetuneArguments(epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
                                  head_lr=args.lr, encoder_lr_ratio=args.encoder_lr_ratio, crop=args.crop,
                                  lora_r=args.lora_r, cache_dir=args.cache_dir)
    results = run_evaluation(EvaluationArguments(
        model=args.model, tasks=[t for t in args.tasks.split(",") if t], protocol=args.protocol, seeds=args.seeds,
        output_dir=args.output, data_root=args.data_root, finetune_args=overrides, limits=limits,
        baselines=tuple(b for b in args.baselines.split(",") if b), files=files, save_models=args.save_models,
        few_shot=tuple(args.few_shot or ())))
    from .evaluation.harness import markdown_table

    print(markdown_table(results))
    return 0


def _converted_processor(args: argparse.Namespace, model):
    """The processor saved beside a converted model: the ESM tokenizer shipped with the package (every ESM-1b and
    ESM-2 checkpoint shares its 33-token vocabulary) and the given text tokenizer."""
    from transformers import AutoTokenizer

    from .models.protst import ProtSTProcessor
    from .resources import RESOURCES

    protein_tokenizer = AutoTokenizer.from_pretrained(args.protein_tokenizer or RESOURCES / "esm_tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(args.text_tokenizer)
    rows = model.config.text_config.vocab_size
    if len(tokenizer) > rows:
        raise ValueError(f"the text tokenizer has {len(tokenizer)} tokens, the checkpoint's text model {rows}: "
                         "not the tokenizer it was trained with")
    return ProtSTProcessor(protein_tokenizer=protein_tokenizer, tokenizer=tokenizer,
                           text_max_length=model.config.text_config.max_position_embeddings)


def _convert(args: argparse.Namespace) -> int:
    from .hub.convert import UntrustedPickleError, convert_hub_port, convert_original

    try:
        if args.command == "convert-original":
            model, report = convert_original(args.source, args.output, trust_pickle=args.trust_pickle,
                                             protein_attention_heads=args.protein_attention_heads)
        else:
            model, report = convert_hub_port(args.source, args.output, trust_pickle=args.trust_pickle)
    except (UntrustedPickleError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"converted {args.source} -> {args.output}: {report.mapped} tensors mapped, {len(report.dropped)} dropped "
          f"on purpose, {len(report.unmapped)} unmapped, {len(report.missing)} missing (conversion_report.json)")
    for name, keys in (("unmapped", report.unmapped), ("missing", report.missing)):
        if keys:
            print(f"  {name}: " + ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else ""))
    if args.no_processor:
        return 0
    try:
        processor = _converted_processor(args, model)
    except (OSError, ValueError) as err:
        print(f"warning: model saved without a processor ({err}); pass --text-tokenizer with the tokenizer of the "
              "checkpoint's text model (a folder, or a Hub id when online)", file=sys.stderr)
        return 1
    from .models.protst.configuration_protst import text_special_token_ids

    ids = text_special_token_ids(processor.tokenizer)
    if any(getattr(model.config, k) != v for k, v in ids.items()):
        for key, value in ids.items():
            setattr(model.config, key, value)
        model.config.save_pretrained(args.output)
    processor.save_pretrained(args.output)
    print(f"  processor saved (text tokenizer {args.text_tokenizer})")
    return 0


def _push(args: argparse.Namespace) -> int:
    from .hub.push import MissingTokenError, publish

    try:
        url = publish(args.folder, args.repo, kind=args.kind, private=args.private, revision=args.revision,
                      eval_results=args.eval_results, license=args.license)
    except (MissingTokenError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"pushed: {url}")
    return 0


def _reference_build(args: argparse.Namespace) -> int:
    """An annotation reference from a ProtDescribe build (or parquet splits): its `--reference-split` proteins
    embedded (split over the processes under `accelerate launch`), the fusion fitted on `--fit-split`, or by default
    cross-fitted on the reference proteins over their clusters."""
    from .annotation import build_reference, class_field, clean_records, go_fields
    from .data.pretraining_data import load_pairs
    from .data.splits import MMseqsNotFound
    from .models.protst.index_protst import model_fingerprint
    from .models.protst.inference_protst import prepare_for_inference
    from .models.protst.scoring_protst import field_template, label_set_prompts, model_training_texts

    model, processor, state = _load_model(args.model)
    fingerprint = model_fingerprint(model)  # of the weights as saved, before any inference cast
    prepare_for_inference(model, packed=True, precision=args.precision)
    try:
        columns = None if args.class_column is None else ["accession", "sequence", args.class_column]
        cross_fit = args.fit_split == "cross"
        rows = {}
        for splits in (args.reference_split,) if cross_fit else (args.reference_split, args.fit_split):
            rows[splits] = []
            for split in splits.split("+"):
                data = load_pairs(args.dataset, split=split)
                required = columns or ["accession", "sequence"]
                missing = sorted(set(required) - set(data.column_names))
                if missing:
                    raise ValueError(f"split {split!r} of {args.dataset} has no column(s) {missing}; it has "
                                     f"{data.column_names}")
                optional = ("cluster",) if columns else ("go_terms", "cluster")  # GO terms; clusters to cross-fit
                wanted = required + [c for c in optional if c in data.column_names]
                rows[splits] += data.select_columns(wanted).to_list()[:args.limit]
        if not cross_fit and set(args.reference_split.split("+")) & set(args.fit_split.split("+")):
            raise ValueError(f"the fit split {args.fit_split!r} must be apart from the reference split "
                             f"{args.reference_split!r}")
        reference_rows, fit_rows = rows[args.reference_split], [] if cross_fit else rows[args.fit_split]
        proteins, skipped = clean_records((r["accession"], r["sequence"]) for r in reference_rows)
        kept = {a for a, _ in proteins}
        reference_rows = [r for r in reference_rows if r["accession"] in kept]
        validation, skipped_validation = clean_records((r["accession"], r["sequence"]) for r in fit_rows)
        kept = {a for a, _ in validation}
        fit_rows = [r for r in fit_rows if r["accession"] in kept]
        record = model_training_texts(model)
        if args.class_column is None:
            if not (args.go_terms and args.go_graph):
                raise ValueError("a GO reference needs --go-terms and --go-graph (or give --class-column for a "
                                 "single-label field)")
            if "go_terms" not in reference_rows[0]:
                raise ValueError(f"{args.dataset} has no go_terms column: build it with `protst build-protdescribe "
                                 "... --go-terms --go-graph`, or give --class-column")
            from .data.gene_ontology import GeneOntology

            ontology = GeneOntology.from_files(args.go_terms, args.go_graph)
            namespaces = args.namespaces or ["molecular_function", "biological_process", "cellular_component"]
            templates = {n: args.template or field_template(record, n) for n in namespaces}
            fields, _ = go_fields(reference_rows, ontology, templates, namespaces)
            validation_labels = {labels.name: labels.label_rows(ontology.annotated_terms(r["go_terms"] or [],
                                                                                        labels.name)
                                                                for r in fit_rows) for labels in fields}
        else:
            field = args.field or args.class_column

            def classes_of(row):
                return [c.strip() for c in str(row[args.class_column] or "").split("|") if c.strip()]

            if args.label_set:
                classes, prompts = label_set_prompts(args.label_set)
            else:
                classes = sorted({c for r in reference_rows for c in classes_of(r)})
                template = args.template or field_template(record, field)
                prompts = [[template.format(c)] for c in classes]
            fields = [class_field(field, classes, [classes_of(r) for r in reference_rows], prompts)]
            validation_labels = {field: fields[0].label_rows(classes_of(r) for r in fit_rows)}
        clusters = None  # cross-fitting over the dataset's clusters, or clusters computed at 30% identity
        if cross_fit and all(r.get("cluster") is not None and r["cluster"] >= 0 for r in reference_rows):
            clusters = [r["cluster"] for r in reference_rows]
        summary = build_reference(args.output, model, processor, proteins, fields, None if cross_fit else validation,
                                  None if cross_fit else validation_labels, clusters=clusters,
                                  fit_proteins=args.fit_proteins, model_name=args.model, fingerprint=fingerprint,
                                  neighbours=args.neighbours,
                                  max_hits=args.max_hits, search_iterations=args.search_iterations,
                                  threads=args.threads, shard_size=args.shard_size,
                                  prior_correction=not args.no_prior_correction, rank=state.process_index,
                                  world_size=state.num_processes,
                                  wait=state.wait_for_everyone, progress=not args.quiet,
                                  report={"invalid_reference_sequences": skipped,
                                          "invalid_validation_sequences": skipped_validation})
    except (MMseqsNotFound, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if state.is_main_process:
        print(f"reference of {len(proteins)} proteins written to {args.output} in {summary['seconds'] / 60:.1f} min "
              f"({len(skipped)} reference and {len(skipped_validation)} validation record(s) skipped"
              + (": " + "; ".join((skipped + skipped_validation)[:5]) if skipped or skipped_validation else "") + ")")
    return 0


def _annotate(args: argparse.Namespace) -> int:
    """Fused annotation of a FASTA file against a reference: the long TSV, and the CAFA file with --cafa."""
    from .annotation import (
        AnnotationReference,
        IncompleteReferenceError,
        MismatchedReferenceModelError,
        write_annotations,
    )
    from .data.splits import MMseqsNotFound
    from .models.protst.fasta_protst import iter_fasta
    from .models.protst.inference_protst import prepare_for_inference

    try:
        reference = AnnotationReference.load(args.reference)
        labels, fusion, _info = reference.field(args.field)
        if args.cafa and labels.single_label:
            raise ValueError(f"--cafa writes GO predictions; {labels.name!r} is a single-label field")
    except (IncompleteReferenceError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    model, processor, _state = _load_model(args.model or reference.manifest["model"])
    try:
        reference.check_model(model)  # the weights as saved, before any inference cast
    except MismatchedReferenceModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    prepare_for_inference(model, packed=True, precision=args.precision)
    problems = []

    def records():
        with (sys.stdin if args.input == "-" else open(args.input)) as f:
            for kind, identifier, content in iter_fasta(f):
                if kind == "problem":
                    problems.append(content)
                else:
                    yield identifier, content

    try:
        results = reference.annotate(model, processor, records(), labels.name, chunk_size=args.chunk_size,
                                     threads=args.threads, check_model=False)
        written = write_annotations(args.output, results, labels, fusion, min_score=args.min_score,
                                    top_k=args.top_k, cafa=args.cafa)
    except (MMseqsNotFound, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if problems:
        print(f"skipped {len(problems)} input record(s): " + "; ".join(problems[:5]), file=sys.stderr)
    print(f"{written} scores of {labels.name} written to {args.output}" + (f" and {args.cafa}" if args.cafa else ""))
    return 0


PRECISION_HELP = ("tower weights: auto (bf16 where the device computes it natively: GPUs, CPUs with AMX or AVX-512 "
                  "BF16; int8 on other x86 CPUs, e.g. AVX2-only ones, where bf16 is slower; float32 elsewhere), "
                  "float32, bfloat16, or int8 dynamic quantisation (CPU); see benchmarks/README.md")


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
    build.add_argument("--go-terms", metavar="TSV", help="the inputs are GO annotation tables (accession, sequence, "
                       "go_mf, go_bp, go_cc): GO term names (go_id, name, namespace) for their texts")
    build.add_argument("--go-graph", metavar="TSV", help="with --go-terms: the GO graph (child, parent, relation)")
    build.add_argument("--go-propagate-texts", action="store_true",
                       help="with --go-terms: texts name every term a protein has under the true-path rule (annotated "
                            "terms and their is_a / part_of ancestors, roots excluded), not only the annotated ones")
    build.set_defaults(handler=_build_protdescribe)

    embed = commands.add_parser("embed", help="embed a FASTA (or text) file into resumable shards")
    embed.add_argument("input", help="FASTA file (or, with --texts, one text per line / id<TAB>text)")
    embed.add_argument("--model", required=True, help="a ProtST model folder or Hub id")
    embed.add_argument("--output", required=True)
    embed.add_argument("--texts", action="store_true", help="embed texts (for a text index) instead of proteins")
    embed.add_argument("--raw", action="store_true", help="raw mean-pooled tower features, not projected")
    embed.add_argument("--shard-size", type=int, default=10_000)
    embed.add_argument("--batch-size", type=int, default=64, help="at most this many records per forward pass")
    embed.add_argument("--max-tokens", type=int, help="at most this many padded protein tokens per forward pass "
                       "(default 1024 on CPU, 16384 on GPU)")
    embed.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                       help="autocast precision of the towers (shards are float32)")
    embed.add_argument("--precision", choices=("auto", "float32", "bfloat16", "int8"), default="auto",
                       help=PRECISION_HELP)
    embed.add_argument("--padded", action="store_true",
                       help="run the protein tower on padded batches (default: packed, the same numbers faster)")
    embed.add_argument("--format", choices=("npy", "parquet"), default="npy")
    embed.add_argument("--quiet", action="store_true")
    embed.set_defaults(handler=_embed)

    pretrain = commands.add_parser(
        "pretrain", help="pretrain ProtST (the flags of examples/pretrain/run_pretrain.py; --preset tiny|cpu|...)",
        description="Pretraining with accelerate: one process here, or `accelerate launch -m protst_hf.cli pretrain "
                    "...` for DDP / DeepSpeed. Flags: --preset, --config, --dataset, --output_dir and every field of "
                    "ModelArguments / DataArguments / TrainArguments (protst_hf.training.arguments); `protst "
                    "pretrain --preset cpu --help` lists them all.")
    pretrain.add_argument("arguments", nargs=argparse.REMAINDER, help="pretraining flags")
    pretrain.set_defaults(handler=_pretrain)

    classify = commands.add_parser("classify", help="zero-shot classification of a FASTA file into a TSV")
    classify.add_argument("input", help="FASTA file, or - for standard input")
    classify.add_argument("--model", required=True, help="a ProtST model folder or Hub id")
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
    classify.add_argument("--precision", choices=("auto", "float32", "bfloat16", "int8"), default="auto",
                          help=PRECISION_HELP)
    classify.add_argument("--device", help="e.g. cpu, cuda:0 (default: the GPU when there is one)")
    classify.add_argument("--quiet", action="store_true")
    classify.set_defaults(handler=_classify)

    index = commands.add_parser("index", help="index operations")
    index_commands = index.add_subparsers(dest="index_command", required=True)
    build_index = index_commands.add_parser("build", help="build a FAISS index from an embedding folder")
    build_index.add_argument("--embeddings", required=True)
    build_index.add_argument("--output", required=True)
    build_index.add_argument("--kind", choices=("flat", "ivf", "ivfpq", "hnsw"), default="flat")
    build_index.add_argument("--nlist", type=int)
    build_index.add_argument("--hnsw-neighbors", type=int, default=32)
    build_index.add_argument("--pq-subquantizers", type=int, default=64)
    build_index.add_argument("--push-to-hub", metavar="ORG/NAME", help="push the index to a Hub dataset repo")
    build_index.add_argument("--private", action="store_true")
    build_index.set_defaults(handler=_index_build)

    search = commands.add_parser("search", help="text -> protein search over an index")
    search.add_argument("queries", nargs="+")
    search.add_argument("--index", required=True, help="index folder or Hub dataset id")
    search.add_argument("--model", help="defaults to the model recorded in the index")
    search.add_argument("--top-k", type=int, default=20)
    search.add_argument("--field", help="word the queries as the model's training texts worded this field, e.g. "
                        "molecular_function ('ATP binding' -> 'MOLECULAR FUNCTION: ATP binding.')")
    search.add_argument("--nprobe", type=int)
    search.add_argument("--ef-search", type=int)
    search.add_argument("--calibrated", action="store_true", help="drop hits below the index's conformal threshold")
    search.add_argument("--annotations", help="TSV id<TAB>text, or a ProtDescribe folder/parquet")
    search.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="float32",
                        help="text tower precision (default float32; auto = bf16 where native)")
    search.set_defaults(handler=_search)

    reference = commands.add_parser("reference", help="annotation references (homology + embeddings + text)")
    reference_commands = reference.add_subparsers(dest="reference_command", required=True)
    build_reference = reference_commands.add_parser(
        "build", help="build an annotation reference from a ProtDescribe build (GO) or labelled parquet splits",
        description="Embed the reference split's proteins (split over the processes under `accelerate launch -m "
                    "protst_hf.cli reference build ...`; a killed build resumes), index them, store their labels and "
                    "the label prompts' embeddings, and fit the fusion of homology, embedding neighbours, zero-shot "
                    "text and label frequencies on the fit split (never the test split).")
    build_reference.add_argument("--dataset", required=True, help="a ProtDescribe folder or parquet splits")
    build_reference.add_argument("--model", required=True, help="a ProtST model folder or Hub id")
    build_reference.add_argument("--output", required=True, help="the reference folder")
    build_reference.add_argument("--go-terms", metavar="TSV", help="GO term names (go_id, name, namespace)")
    build_reference.add_argument("--go-graph", metavar="TSV", help="the GO graph (child, parent, relation)")
    build_reference.add_argument("--namespaces", nargs="*", help="GO fields (default: all three)")
    build_reference.add_argument("--class-column", help="a single-label field instead of GO: the column of class "
                                 "names (several joined by |)")
    build_reference.add_argument("--field", help="the name of that field (default: the column's)")
    build_reference.add_argument("--label-set", help="the classes and prompts of a built-in label set (e.g. "
                                 "subcellular_location); default: the column's classes in the model's template")
    build_reference.add_argument("--template", help="prompt template with {} for every field built (default: the "
                                 "model's recorded template of each field)")
    build_reference.add_argument("--reference-split", default="train",
                                 help="the split(s) of the reference proteins, e.g. train or train+test (the whole "
                                      "corpus but the fit split)")
    build_reference.add_argument("--fit-split", default="cross",
                                 help="the split the fusion is fitted on (apart from the reference split), or cross "
                                 "(default): reference proteins cross-fitted over 5 folds of their MMseqs2 clusters "
                                 "(the dataset's `cluster` column; clustered at 30%% identity when it has none), each "
                                 "annotated against the reference without its fold, so no labelled split is held out")
    build_reference.add_argument("--fit-proteins", type=int, default=5000,
                                 help="cross-fitting: reference proteins drawn to fit on (default 5000)")
    build_reference.add_argument("--neighbours", type=int, default=10, help="k of the embedding-space transfer")
    build_reference.add_argument("--max-hits", type=int, default=10, help="MMseqs2 hits kept per query")
    build_reference.add_argument("--search-iterations", type=int, default=1,
                                 help="MMseqs2 --num-iterations; above 1 a profile search, which finds more distant "
                                      "hits but transferred GO terms worse (benchmarks/go_fusion_alternatives.py)")
    build_reference.add_argument("--no-prior-correction", action="store_true",
                                 help="single-label fields: keep the fused class distribution as fitted for accuracy, "
                                 "without the class-prior correction chosen by macro F1 on the fit split (it makes "
                                 "rare classes predicted more often, at a small cost in accuracy)")
    build_reference.add_argument("--shard-size", type=int, default=10_000,
                                 help="proteins per embedding shard (resumed and split over processes by shard)")
    build_reference.add_argument("--threads", type=int, help="MMseqs2 threads")
    build_reference.add_argument("--precision", choices=("auto", "float32", "bfloat16", "int8"), default="auto",
                                 help=PRECISION_HELP)
    build_reference.add_argument("--limit", type=int, help="the first N proteins of each split (a smoke run)")
    build_reference.add_argument("--quiet", action="store_true")
    build_reference.set_defaults(handler=_reference_build)

    annotate = commands.add_parser("annotate", help="annotate proteins against a reference: homology, embedding "
                                   "neighbours, zero-shot text and label frequencies, fused")
    annotate.add_argument("input", help="FASTA file, or - for standard input")
    annotate.add_argument("--reference", required=True, help="a reference folder (`protst reference build`)")
    annotate.add_argument("--field", required=True, help="e.g. molecular_function, subcellular_location")
    annotate.add_argument("--output", required=True, help="long TSV: id, label_id, name, score, evidence")
    annotate.add_argument("--cafa", help="also write the CAFA submission file (GO fields)")
    annotate.add_argument("--model", help="default: the model the reference was embedded with")
    annotate.add_argument("--min-score", type=float, default=0.01, help="scores written (default >= 0.01)")
    annotate.add_argument("--top-k", type=int, default=1500, help="labels per protein at most (CAFA's 1500)")
    annotate.add_argument("--chunk-size", type=int, default=1000, help="proteins searched and scored at a time")
    annotate.add_argument("--threads", type=int, help="MMseqs2 threads")
    annotate.add_argument("--precision", choices=("auto", "float32", "bfloat16", "int8"), default="auto",
                          help=PRECISION_HELP)
    annotate.set_defaults(handler=_annotate)

    evaluate = commands.add_parser("evaluate", help="fine-tune / probe on benchmark tasks beside baselines")
    evaluate.add_argument("--model", required=True, help="a ProtST or ESM model folder or Hub id")
    evaluate.add_argument("--tasks", required=True, help="comma-separated task names (see protst_hf.evaluation."
                          "tasks.TASKS: binloc, subloc, betalac, ...; a task's data of your own: --files)")
    evaluate.add_argument("--protocol", choices=("frozen", "full", "lora"), default="frozen")
    evaluate.add_argument("--seeds", type=int, default=3)
    evaluate.add_argument("--output", default="evaluation", help="results.json, results.md, one PNG per task")
    evaluate.add_argument("--data-root", help="folder of the local tasks' data (default: $PROTST_DATA_ROOT)")
    evaluate.add_argument("--files", nargs="*", metavar="TASK:SPLIT=PATH", help="local files for a task's splits")
    evaluate.add_argument("--epochs", type=int, help="default: the original's (100; 50 multi-label)")
    evaluate.add_argument("--max-steps", type=int, help="stop each run after this many optimizer steps")
    evaluate.add_argument("--batch-size", type=int)
    evaluate.add_argument("--lr", type=float, help="head learning rate (default: the original's for the protocol)")
    evaluate.add_argument("--encoder-lr-ratio", type=float, help="encoder lr / head lr for full tuning")
    evaluate.add_argument("--crop", type=int, help="training crop of full / LoRA tuning (default: the task's, 550)")
    evaluate.add_argument("--lora-r", type=int, default=8)
    evaluate.add_argument("--limit-train", type=int, help="at most this many training proteins (quick runs)")
    evaluate.add_argument("--limit-eval", type=int, help="at most this many validation and test proteins")
    evaluate.add_argument("--baselines", default="majority,knn,homology", help="comma-separated, or ''")
    evaluate.add_argument("--few-shot", type=int, nargs="*", metavar="K",
                          help="the original's few-shot baselines with K proteins per class (single-label tasks)")
    evaluate.add_argument("--cache-dir", help="frozen-feature cache (default OUTPUT/feature_cache)")
    evaluate.add_argument("--save-models", action="store_true",
                          help="save the best seed's model per task (LoRA: the adapter alone)")
    evaluate.set_defaults(handler=_evaluate)

    for name, source, what in (
        ("convert-original", "checkpoint", "an original ProtST checkpoint (protst_esm1b.pth, protst_esm2.pth)"),
        ("convert-hub-port", "folder", "a folder in the mila-intel/ProtST-esm1b layout"),
    ):
        convert = commands.add_parser(name, help=f"convert {what} into a protst-hf model folder")
        convert.add_argument("source", metavar=source.upper())
        convert.add_argument("output", metavar="OUTPUT_DIR")
        convert.add_argument("--trust-pickle", action="store_true",
                             help="allow full unpickling (runs code from the file: only for files you trust)")
        convert.add_argument("--text-tokenizer", default="microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract",
                             help="tokenizer of the checkpoint's text model (folder or Hub id)")
        convert.add_argument("--protein-tokenizer", help="ESM tokenizer (default: the one shipped with protst-hf)")
        convert.add_argument("--no-processor", action="store_true", help="save the model only")
        convert.add_argument("--protein-attention-heads", type=int,
                             help="attention heads of the ESM model, for sizes other than the released ESM-1b/ESM-2")
        convert.set_defaults(handler=_convert)

    push = commands.add_parser("push", help="push a model, LoRA adapter, dataset, index or annotation reference "
                               "folder with its card")
    push.add_argument("folder")
    push.add_argument("--repo", required=True, metavar="ORG/NAME")
    push.add_argument("--kind", choices=("model", "adapter", "dataset", "index", "reference"),
                      help="default: detected from the folder's files")
    push.add_argument("--private", action="store_true")
    push.add_argument("--revision", help="branch to push to (created when missing)")
    push.add_argument("--eval-results", help="results.json of `protst evaluate`, for the model card's model-index")
    push.add_argument("--license", default="apache-2.0")
    push.set_defaults(handler=_push)
    return parser


def _pretrain(args: argparse.Namespace) -> int:
    from .training.command import main as pretrain

    return pretrain(args.arguments)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["pretrain"] and not {"-h", "--help"} & set(argv[1:2]):
        # every flag belongs to the pretraining parser (HfArgumentParser): passed through untouched
        return _pretrain(argparse.Namespace(arguments=argv[1:]))
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
