"""Does a model pretrained by protst-hf know protein *function*? The `cpu` preset on 120,000 Swiss-Prot proteins with
their GO terms, judged as CAFA (Fmax, term-centric AUPR) and as ProtST's text -> protein retrieval study, every row
beside baselines measured in the same run.

    python -m benchmarks.go_learning [--output outputs/go_learning] [--minutes 60] [--limit N] [-- pretraining args]

1. Data: `../shared/data/swissprot_go_2014` (Swiss-Prot 2014_01, GO of the same release) read into ProtDescribe by
   the package (`protst build-protdescribe --go-terms ... --go-propagate-texts`): texts name each protein's GO
   terms under the true-path rule per namespace ("MOLECULAR FUNCTION: ATP binding. nucleotide binding. ..."),
   MMseqs2 clusters at 30% identity split into train / validation / test (0.90 / 0.02 / 0.08).
2. Pretraining: the `cpu` preset with GO-sized text handling (chosen, not tuned on test): each step pairs a protein
   with one of its GO statements (`--text_unit statement`), protein -> text against a bank of every training
   statement (one text per GO term, ~20k) with the protein's target spread over all its terms
   (`text_bank_part_weight 1`): p(term | protein) learned with the prior in it, as the DeepLoc study found
   (docs/results.md). At most `--minutes` of training. The model folder is `OUTPUT/model`.
3. The table, on the test split (proteins annotated in the namespace), per namespace:
   - zero-shot: every GO term of the namespace seen in training or test, worded by the model's recorded template
     (`field=`), scored with the pipeline's `multi_label` scores (checked equal to the pipeline on a sample);
   - naive (each term scored by its training frequency, CAFA's "Naive"); MMseqs2 homology transfer (the nearest
     training homolog's terms scored by its identity, CAFA's "BLAST" analogue; no hit: no prediction); a linear
     multi-label probe on the frozen tower features; the same probe on the same architecture with random weights;
   - protein-centric Fmax (CAFA) and term-centric macro AUPR over terms with >= 10 test proteins;
   - text -> protein retrieval as ProtST's T2P: each term with >= 10 test proteins as a query (its name in the
     namespace's template) over a FAISS index of the test proteins: mean average precision and precision@10 beside a
     protein-blind ranking (longest proteins first) and chance.
4. The cost at scale: all 120,000 proteins embedded (`embed_file`, what `protst embed` runs) beside stock
   transformers ESM on the same tower (a 2,000-protein sample, same run), the FAISS index built over them, and text
   query latency (the text tower included) p50 / p99 through `protst search`'s pipeline.
5. `OUTPUT/results.json`, `OUTPUT/table.md`, `OUTPUT/pr_curves.png` (micro-averaged precision-recall per namespace).

`--limit N` reads the first N proteins only (a smoke run of every step; its figures mean nothing).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from protst_hf.evaluation.go import (
    MIN_TEST_PROTEINS,
    term_matrix,
    term_sets,
    text_to_protein_retrieval,
    zero_shot_term_scores,
)

from .hardware import describe
from .timed_pretraining import timed_pretraining

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "swissprot_go_2014"
FIELDS = {"molecular_function": "MF", "biological_process": "BP", "cellular_component": "CC"}
CONFIG_OVERRIDES = ('{"contrastive_positives": "same_text", "contrastive_text_bank": true, '
                    '"text_bank_part_weight": 1.0, "frozen_towers_eval": true}')


def available() -> bool:
    return all((DATA / name).is_file() for name in ("swissprot_go_2014.tsv.gz", "go_terms.tsv.gz", "go_graph.tsv.gz"))


def ontology():
    from protst_hf.data.gene_ontology import GeneOntology

    return GeneOntology.from_files(DATA / "go_terms.tsv.gz", DATA / "go_graph.tsv.gz")


def ontology_obo(output: Path) -> Path:
    """The corpus's ontology as an OBO file (what cafaeval reads), written once into `output`."""
    from .go_corpus_to_obo_gaf import write_obo

    path = output / "go.obo"
    if not path.is_file():
        output.mkdir(parents=True, exist_ok=True)
        write_obo(DATA / "go_terms.tsv.gz", DATA / "go_graph.tsv.gz", path, "swissprot_go_2014")
    return path


def cafa_scorer(pairs: Path, output: Path, test: list[dict], go, limit: int | None = None):
    """cafaeval's scoring, as CAFA5 ran it, of score matrices over the test split: the truth is each test protein's
    annotated terms; information accretion is computed from the train split's annotations (what a predictor
    could know)."""
    from protst_hf.evaluation.cafa_evaluation import CafaScorer, information_accretion

    def terms(row):
        return [t.split(":", 1)[1] for t in row["go_terms"] or []]

    train = load_split(pairs, "train")[:limit]
    ia = information_accretion((terms(r) for r in train), go)
    return CafaScorer(ontology_obo(output), {r["accession"]: set(terms(r)) for r in test}, ia,
                      threads=torch.get_num_threads())


def build(output: Path, limit: int | None, go_files: Path | None = None) -> tuple[Path, dict]:
    """The ProtDescribe GO build under `output/pairs` (reused when built with the same arguments): from the corpus's
    TSV tables, or with `go_files` from the same corpus as OBO + GAF + FASTA (`go_corpus_to_obo_gaf`)."""
    from protst_hf.data.gene_ontology import build_go_protdescribe

    folder, stamp = output / "pairs", {"limit": limit, "identity": 0.3, "ratios": [0.9, 0.02, 0.08], "texts": "tp",
                                       "source": str(go_files) if go_files else "tsv"}
    done = folder / "benchmark_arguments.json"
    if done.is_file() and json.loads(done.read_text()) == stamp:
        return folder, json.loads((folder / "build_report.json").read_text())
    source = DATA / "swissprot_go_2014.tsv.gz"
    go = ontology()
    if go_files:
        from protst_hf.data.go_labels import go_rows_from_gaf
        from protst_hf.data.go_obo import read_obo

        go = read_obo(go_files / "go.obo")
        rows, _ = go_rows_from_gaf(go_files / "proteins.fa.gz", go_files / "annotations.gaf.gz", go, None)
        source = rows[:limit] if limit else rows
    elif limit:
        source = output / f"first_{limit}.tsv.gz"
        with gzip.open(DATA / "swissprot_go_2014.tsv.gz", "rt") as f, gzip.open(source, "wt") as out:
            for number, line in enumerate(f):
                if number > limit:
                    break
                out.write(line)
    if folder.exists():
        shutil.rmtree(folder)
    started = time.perf_counter()
    report = build_go_protdescribe(source, go, folder, identity=0.3, ratios=(0.9, 0.02, 0.08),
                                   propagate_texts=True, progress=False)
    report["benchmark_build_seconds"] = time.perf_counter() - started
    done.write_text(json.dumps(stamp))
    return folder, report


def pretrain(pairs: Path, run_dir: Path, minutes: float, extra: list[str]) -> dict:
    argv = ["--preset", "cpu", "--dataset", str(pairs), "--output_dir", str(run_dir), "--text_unit", "statement",
            "--config_overrides", CONFIG_OVERRIDES, "--max_minutes", str(minutes), "--report_to", "none", *extra]
    return timed_pretraining(argv)


def load_split(pairs: Path, split: str, extra: tuple[str, ...] = ()) -> list[dict]:
    from protst_hf.data.pretraining_data import load_pairs

    return load_pairs(str(pairs), split=split).select_columns(["accession", "sequence", "go_terms", *extra]).to_list()



def evaluate(model_dir: Path, pairs: Path, output: Path, quick: bool = False) -> dict:
    """Every row of the table for `model_dir` (`quick`: the zero-shot, naive and homology rows only)."""
    from transformers import AutoModel, AutoProcessor

    import protst_hf
    from protst_hf.data.splits import mmseqs_best_hits, write_fasta
    from protst_hf.evaluation.baselines import linear_probe, transfer_from_hits
    from protst_hf.evaluation.metrics import auprc_macro, f1_max
    from protst_hf.models.protst.inference_protst import embed_proteins, resolve_precision
    from protst_hf.models.protst.prompts_protst import field_template, read_training_texts

    protst_hf.register()
    # the pipelines' default precision: bf16 autocast where the CPU computes it natively
    dtype = "bfloat16" if resolve_precision("auto", "cpu") == "bfloat16" else None
    go = ontology()
    model = AutoModel.from_pretrained(model_dir).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    record = read_training_texts(model_dir / "training_texts.json")
    train, test = load_split(pairs, "train"), load_split(pairs, "test")
    results = {"train_proteins": len(train), "test_proteins": len(test), "machine": describe(), "namespaces": {}}
    started = time.perf_counter()
    proteins = embed_proteins(model, processor, [r["sequence"] for r in test], dtype=dtype)
    probes = {}
    if not quick:
        torch.manual_seed(0)
        random_model = type(model)(model.config).eval()
        probes = {label: {name: embed_proteins(encoder, processor, [r["sequence"] for r in rows], project=False,
                                               normalize=False, dtype=dtype).numpy()
                          for name, rows in (("train", train), ("test", test))}
                  for label, encoder in (("probe (trained features)", model),
                                         ("probe (random weights)", random_model))}
    results["embedding_seconds"] = time.perf_counter() - started
    work = output / "mmseqs"
    work.mkdir(parents=True, exist_ok=True)
    write_fasta(work / "train.fasta", ((f"t{i}", r["sequence"]) for i, r in enumerate(train)))
    write_fasta(work / "test.fasta", ((f"q{i}", r["sequence"]) for i, r in enumerate(test)))
    started = time.perf_counter()
    hits = mmseqs_best_hits(work / "test.fasta", work / "train.fasta", workdir=work)
    results["homology"] = {"seconds": time.perf_counter() - started, "coverage": len(hits) / max(len(test), 1),
                           "median_identity": float(np.median([h[1] for h in hits.values()])) if hits else None}
    lengths = np.asarray([len(r["sequence"]) for r in test])
    accessions = [r["accession"] for r in test]
    cafa = cafa_scorer(pairs, output, test, go)
    curves = {}
    for field, short in FIELDS.items():
        train_sets, test_sets = term_sets(train, go, field), term_sets(test, go, field)
        terms = sorted({t for s in train_sets + test_sets for t in s if go.name(t)})
        columns = {t: i for i, t in enumerate(terms)}
        names = [go.name(t) for t in terms]
        y_train, y_test = term_matrix(train_sets, columns), term_matrix(test_sets, columns)
        labelled = y_test.any(1)
        template = field_template(record, field)
        scores = {"zero-shot": zero_shot_term_scores(model, processor, record, proteins,
                                                [template.format(n) for n in names], dtype)}
        frequency = y_train.mean(0).astype(np.float32)
        scores["naive"] = np.broadcast_to(frequency, y_test.shape)
        scores["homology (MMseqs2)"] = transfer_from_hits(hits, y_train, len(test), score="identity")
        fitted = np.flatnonzero(y_train.sum(0) >= 5)
        for label, features in probes.items():
            probed = np.array(scores["naive"])
            probed[:, fitted] = linear_probe(features["train"], np.ascontiguousarray(y_train[:, fitted]),
                                             features["test"], multi_label=True)
            scores[label] = probed
        rows = {}
        for label, value in scores.items():
            macro, _ = auprc_macro(y_test[labelled], value[labelled], MIN_TEST_PROTEINS)
            rows[label] = {"fmax": f1_max(y_test[labelled], value[labelled]), "macro_auprc": macro,
                           "cafaeval": cafa(value, accessions, terms, field)}
        results["namespaces"][field] = {
            "terms": len(terms), "terms_seen_in_training": int((y_train.sum(0) > 0).sum()),
            "test_proteins": int(labelled.sum()),
            "terms_in_macro_auprc": int((y_test[labelled].sum(0) >= MIN_TEST_PROTEINS).sum()), "rows": rows,
            "template": template}
        if not quick:
            results["namespaces"][field]["t2p"] = text_to_protein_retrieval(
                model, processor, template, names, y_test[labelled], proteins.numpy()[labelled], lengths[labelled],
                dtype)
        curves[short] = {label: precision_recall(y_test[labelled], value[labelled]) for label, value in
                         scores.items()}
        print(f"{field}: " + ", ".join(f"{k} Fmax {v['fmax']:.3f} (cafaeval {v['cafaeval']['fmax']:.3f}, weighted "
                                       f"{v['cafaeval']['weighted_fmax']:.3f}, Smin {v['cafaeval']['smin']:.2f}) "
                                       f"AUPR {v['macro_auprc']:.3f}" for k, v in rows.items()), flush=True)
    plot_curves(curves, output / "pr_curves.png")
    return results


def precision_recall(y: np.ndarray, scores: np.ndarray, points: int = 51) -> tuple[list[float], list[float]]:
    """Micro-averaged (every protein-term pair) precision and recall at thresholds 0..1."""
    precision, recall = [], []
    positives = y.sum()
    for t in np.linspace(0, 1, points)[1:]:
        predicted = scores >= t
        if predicted.any():
            correct = (predicted & y).sum()
            precision.append(float(correct / predicted.sum()))
            recall.append(float(correct / positives))
    return precision, recall


def plot_curves(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4.2))
    for axis, (namespace, methods) in zip(np.atleast_1d(axes), curves.items()):
        for label, (precision, recall) in methods.items():
            axis.plot(recall, precision, label=label)
        axis.set_title(f"GO {namespace}, test split")
        axis.set_xlabel("recall (protein-term pairs)")
        axis.set_ylabel("precision")
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def cost(model_dir: Path, output: Path, sample: int = 2000, queries: int = 200, limit: int | None = None) -> dict:
    """All proteins embedded and indexed as `protst embed` + `protst index build` do, beside stock ESM on the same
    tower, and text query latency through the retrieval pipeline (text tower included)."""
    from transformers import AutoModel, AutoProcessor

    import protst_hf
    from protst_hf.data.splits import read_sequences, write_fasta
    from protst_hf.embedding.shards import build_index, embed_file
    from protst_hf.models.protst.inference_protst import embed_proteins, prepare_for_inference

    from .stock_esm import stock_embed

    model = AutoModel.from_pretrained(model_dir).eval()
    stock_model = AutoModel.from_pretrained(model_dir).eval()
    prepare_for_inference(model, packed=True, precision="auto")  # as `protst embed` does
    processor = AutoProcessor.from_pretrained(model_dir)
    fasta = output / "all_proteins.fasta"
    with gzip.open(DATA / "swissprot_go_2014.tsv.gz", "rt") as f:
        next(f)
        records = (line.split("\t")[:2] for number, line in enumerate(f) if not limit or number < limit)
        count = write_fasta(fasta, ((accession, sequence) for accession, sequence in records))
    embeddings = output / "all_embeddings"
    if embeddings.exists():
        shutil.rmtree(embeddings)
    started = time.perf_counter()
    summary = embed_file(fasta, model, processor, embeddings, progress=False)
    embed_seconds = time.perf_counter() - started
    started = time.perf_counter()
    index = build_index(embeddings)
    index_seconds = time.perf_counter() - started
    index.save(output / "all_index")
    # stock transformers on the same tower, the same residues (the processor's crop), a sample of the proteins
    sequences = [sequence for _, sequence in read_sequences(fasta)][:sample]
    limit = processor.protein_max_length
    esm = getattr(stock_model, "protst", stock_model).protein_model
    cut = [s[:limit] for s in sequences]
    stock_rate = max(stock_embed(esm, processor.protein_tokenizer, cut, batch_size=32, order="descending",
                                 bf16=bf16)[0] for bf16 in (False, True))  # the faster of float32 and bf16
    embed_proteins(model, processor, sequences[:64])  # warm-up: the stock rate is the better of two passes
    started = time.perf_counter()
    embed_proteins(model, processor, sequences)
    package_rate = len(sequences) / (time.perf_counter() - started)
    search = protst_hf.pipeline("protein-text-retrieval", model=str(model_dir))
    with gzip.open(DATA / "go_terms.tsv.gz", "rt") as f:
        names = [line.split("\t")[1] for line in f][1:queries + 1]
    search(names[0], index=index, top_k=10, field="molecular_function")  # warm-up
    latencies = []
    for name in names:
        started = time.perf_counter()
        search(name, index=index, top_k=10, field="molecular_function")
        latencies.append(time.perf_counter() - started)
    return {"proteins": count, "embedded": summary["records"], "skipped": summary["problems"][:10],
            "embed_seconds": embed_seconds,
            "embed_proteins_per_second": count / embed_seconds, "index_seconds": index_seconds,
            "embed_and_index_minutes": (embed_seconds + index_seconds) / 60,
            "sample_proteins_per_second": {"protst_hf": package_rate, "stock_transformers_esm": stock_rate,
                                           "ratio": package_rate / stock_rate},
            "query_latency_ms": {"p50": float(np.percentile(latencies, 50) * 1e3),
                                 "p99": float(np.percentile(latencies, 99) * 1e3), "queries": len(latencies)}}


def table(results: dict) -> str:
    training = results.get("training") or {}
    trained = (f"the `cpu` preset, {training['steps']:,} steps in {training['train_minutes']:.0f} min"
               if training.get("steps") else "a saved model folder")
    lines = [f"GO on the test split ({results['test_proteins']:,} proteins, MMseqs2 30% clusters apart from "
             f"{results['train_proteins']:,} training proteins); {trained}", "",
             "| namespace | method | Fmax | cafaeval Fmax | weighted Fmax | Smin | macro AUPR |",
             "|---|---|---|---|---|---|---|"]
    for field, item in results["namespaces"].items():
        for label, row in item["rows"].items():
            cafa = row.get("cafaeval") or {}
            lines.append(f"| {FIELDS[field]} ({item['test_proteins']:,} proteins, {item['terms_in_macro_auprc']} "
                         f"terms in AUPR) | {label} | {row['fmax']:.3f} | {cafa.get('fmax', float('nan')):.3f} | "
                         f"{cafa.get('weighted_fmax', float('nan')):.3f} | {cafa.get('smin', float('nan')):.2f} | "
                         f"{row['macro_auprc']:.3f} |")
    lines += ["", "| T2P | queries | mAP | P@10 | mAP protein-blind | P@10 protein-blind | chance |",
              "|---|---|---|---|---|---|---|"]
    for field, item in results["namespaces"].items():
        if "t2p" not in item:
            continue
        t = item["t2p"]
        lines.append(f"| {FIELDS[field]} | {t['queries']} | {t['map']:.3f} | {t['precision@10']:.3f} | "
                     f"{t['map_protein_blind']:.3f} | {t['precision@10_protein_blind']:.3f} | {t['map_chance']:.3f} |")
    c = results.get("cost")
    if c:
        s = c["sample_proteins_per_second"]
        lines += ["", f"Cost: {c['proteins']:,} proteins embedded in {c['embed_seconds'] / 60:.1f} min "
                      f"({c['embed_proteins_per_second']:.0f}/s) and indexed in {c['index_seconds']:.1f} s "
                      f"({c['embed_and_index_minutes']:.1f} min together); sample of 2,000: protst-hf "
                      f"{s['protst_hf']:.0f}/s vs stock transformers ESM {s['stock_transformers_esm']:.0f}/s "
                      f"(x{s['ratio']:.2f}); text query p50 {c['query_latency_ms']['p50']:.1f} ms, p99 "
                      f"{c['query_latency_ms']['p99']:.1f} ms over {c['proteins']:,} proteins."]
    return "\n".join(lines)


def main() -> int:
    print(describe())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="outputs/go_learning")
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget")
    parser.add_argument("--limit", type=int, help="the first N proteins only (a smoke run)")
    parser.add_argument("--go-files", type=Path, metavar="DIR",
                        help="build the dataset from the corpus written as go.obo, annotations.gaf.gz and "
                             "proteins.fa.gz (python -m benchmarks.go_corpus_to_obo_gaf --output DIR) instead of its "
                             "TSV tables")
    parser.add_argument("--evaluate", metavar="MODEL_DIR", help="no training: the table of a saved model folder")
    parser.add_argument("--skip-cost", action="store_true", help="no embedding of all 120,000 proteins")
    parser.add_argument("--quick", action="store_true",
                        help="the zero-shot, naive and homology rows only (no probes, T2P or cost)")
    parser.add_argument("--train-only", action="store_true", help="build, pretrain and save the model folder")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    if not available():
        print(f"skipped: {DATA} is absent")
        return 0
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    pairs, report = build(output, args.limit, args.go_files)
    print(f"dataset: {report['rows']['written']} ({report.get('benchmark_build_seconds', 0):.0f} s); skipped: "
          f"{report['parse']['skipped']}; kept with a note: {report['parse']['recovered']}", flush=True)
    model_dir = Path(args.evaluate) if args.evaluate else output / "model"
    training = {}
    if not args.evaluate:
        summary = pretrain(pairs, output / "run", args.minutes, extra)
        if model_dir.exists():
            shutil.rmtree(model_dir)
        shutil.copytree(summary["final_model"], model_dir)
        training = {"steps": summary.get("steps"), "train_minutes": summary["train_seconds"] / 60,
                    "arguments": summary["arguments"]}
        (model_dir / "benchmark_training.json").write_text(json.dumps(training, indent=2, default=str) + "\n")
        if args.train_only:
            print(f"model: {model_dir} ({training['steps']} steps in {training['train_minutes']:.1f} min)")
            return 0
    elif (model_dir / "benchmark_training.json").is_file():
        training = json.loads((model_dir / "benchmark_training.json").read_text())
    results = evaluate(model_dir, pairs, output, quick=args.quick)
    results["dataset"] = {"written": report["rows"]["written"], "parse": report["parse"]}
    results["training"] = training
    if not (args.skip_cost or args.quick):
        results["cost"] = cost(model_dir, output, limit=args.limit)
    (output / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (output / "table.md").write_text(table(results) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
