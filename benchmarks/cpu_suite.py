"""CPU suite: embedding and the pretraining step on this machine, protst-hf against stock transformers, one run.

    python -m benchmarks.cpu_suite [--protein_config DIR] [--proteins 250] [--threads 2] [--output FILE.json]

Embedding: the 250 real Swiss-Prot sequences shipped in the package (lengths as they come, cut at 1,022 residues),
one ESM tower with random weights (ESM-2 35M shape from ../shared/data/esm2_hf_configs when present, else the
built-in ESM-2 8M; `--protein_config` for another), mean over residues (raw tower features):

- stock, padded: `EsmModel` + `EsmTokenizer(padding=True)`, batches of 16 in file order;
- stock, bucketed: the same, batches of 16 sorted by length (the anchors' best stock recipe);
- protst-hf float32 / bfloat16 / int8: `embed_proteins` of `inference_protst.py` (what `protst embed` runs) after
  `prepare_for_inference(model, packed=True, precision=...)`: length-sorted batches under a token budget, the
  protein tower unpadded; bf16 = weights cast to bfloat16; int8 = `quantize_int8` (every linear layer dynamic int8,
  weights scaled per output channel); the row that `precision="auto"` picks on this CPU is marked;
- protst-hf float32 + `torch.compile` of the packed layers (inductor, dynamic shapes), with `--compile`;
- ONNX Runtime float32 and int8 (`onnx_esm.py`: the stock `EsmModel` exported, bucketed as stock), when `onnx`,
  `onnxscript` and `onnxruntime` are installed (`pip install -e ".[onnx]"`).

Every variant runs once per round, rounds interleaved (`--repeats`, best of each reported), so that a machine
getting faster or slower during the run does not favour the rows measured last. First call: the seconds from loading
the weights to the first 16 proteins embedded (quantisation, compilation, export and session start included).
Weights: the saved size of the tower (int8 as packed). Accuracy of each against the stock fp32 features: the
smallest and mean cosine similarity over the proteins, and the share of proteins whose nearest neighbour (by cosine,
among the others) is unchanged.

Text tower: 512 GO term names in the zero-shot prompt through a BERT-base-shaped tower (PubMedBERT's shape, random
weights), stock `BertModel` on the same batches against `embed_texts` at each precision.

Pretraining step: `ProtSTForPreTraining` (ESM-2 8M + the demo BERT, all three objectives), batches of 8 real
ProtDescribe pairs from the shipped sample, crop 450, Adam: padded protein tower (stock transformers `EsmModel`
forward) against the packed one, real protein tokens/s over the same batches.

To see an AVX2-only CPU on an AVX-512 one, cap every kernel library at AVX2 (what the README's AVX2 rows did):
`ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 FBGEMM_ENABLE_INSTRUCTIONS=AVX2`.
ONNX Runtime's kernels have no such switch and keep using AVX-512: its rows are not capped.

Prints one table with ratios (ours / stock bucketed). No timings are asserted anywhere: this is a measurement.
"""

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .stock_esm import stock_embed

ROOT = Path(__file__).resolve().parents[1]
SHARED_35M = ROOT.parent / "shared" / "data" / "esm2_hf_configs" / "esm2_t12_35M_UR50D"


def load_sequences(n: int) -> list[str]:
    from protst_hf.data.uniprot import iter_uniprot
    from protst_hf.resources import UNIPROT_SAMPLE

    return [r.sequence[:1022] for r in iter_uniprot(UNIPROT_SAMPLE)][:n]


def accuracy(features: np.ndarray, reference: np.ndarray) -> dict:
    a = features / np.linalg.norm(features, axis=1, keepdims=True)
    b = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    cosine = (a * b).sum(1)

    def neighbours(x):
        similarity = x @ x.T
        np.fill_diagonal(similarity, -np.inf)
        return similarity.argmax(1)

    return {"min_cosine": float(cosine.min()), "mean_cosine": float(cosine.mean()),
            "same_nearest_neighbour": float((neighbours(a) == neighbours(b)).mean())}


def weight_bytes(module) -> int:
    """Bytes of `module`'s saved state (int8 packed weights count as stored)."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.tell()


def best_of_rounds(runners: dict, repeats: int) -> dict:
    """Each runner once per round, rounds interleaved so that every variant sees the same machine state; the best
    (rate, features) of each over the rounds."""
    best = {}
    for round_index in range(repeats):
        for label, run in runners.items():
            rate, features = run()
            if label not in best or rate > best[label][0]:
                best[label] = (rate, features)
        print(f"round {round_index + 1}: " + ", ".join(f"{k} {v[0]:.2f}" for k, v in best.items()), flush=True)
    return best


def embedding_rows(args) -> list[dict]:
    from transformers import AutoTokenizer, EsmConfig, EsmModel

    from protst_hf import ProtSTModel
    from protst_hf.models.protst import packing_protst
    from protst_hf.models.protst.inference_protst import embed_proteins, prepare_for_inference, resolve_precision
    from protst_hf.resources import RESOURCES, demo_config, demo_processor

    config_dir = Path(args.protein_config) if args.protein_config else (
        SHARED_35M if SHARED_35M.exists() else RESOURCES / "esm2_configs" / "esm2_t6_8M_UR50D")
    protein_config = EsmConfig.from_pretrained(config_dir)
    sequences = load_sequences(args.proteins)
    tokenizer = AutoTokenizer.from_pretrained(RESOURCES / "esm_tokenizer")
    processor = demo_processor()
    torch.manual_seed(0)
    reference_model = ProtSTModel(demo_config(protein_config=protein_config)).eval()
    state = reference_model.state_dict()
    esm = EsmModel(protein_config, add_pooling_layer=False).eval()
    esm.load_state_dict({k[len("protein_model."):]: v for k, v in state.items() if k.startswith("protein_model.")},
                        strict=False)
    name = f"{config_dir.name} ({sum(p.numel() for p in esm.parameters()) / 1e6:.1f}M)"
    auto = resolve_precision("auto", "cpu", quantize=True)
    print(f"embedding {len(sequences)} Swiss-Prot proteins (median length "
          f"{int(np.median([len(s) for s in sequences]))}) with {name}, {torch.get_num_threads()} threads; "
          f"precision='auto' is {auto} on this CPU", flush=True)

    start = time.perf_counter()
    stock_embed(esm, tokenizer, sequences[:16], order="ascending")  # warm-up
    first = {"stock": time.perf_counter() - start}
    size = {"stock": weight_bytes(esm)}
    runners = {"stock, padded (file order, batch 16)": lambda: stock_embed(esm, tokenizer, sequences),
               "stock, bucketed (sorted, batch 16)": lambda: stock_embed(esm, tokenizer, sequences,
                                                                         order="ascending")}
    compiled = {}

    def packed_runner(model, compile_=False):
        def run():
            packing_protst._COMPILED.clear()
            packing_protst._COMPILED.update(compiled if compile_ else {})
            try:
                start = time.perf_counter()
                features = embed_proteins(model, processor, sequences, batch_size=256, max_tokens=args.max_tokens,
                                          project=False, normalize=False).numpy()
                return len(sequences) / (time.perf_counter() - start), features
            finally:
                packing_protst._COMPILED.clear()
        return run

    variants = [("float32", False), ("bfloat16", False), ("int8", False)]
    variants += [("float32", True)] if args.compile else []
    for precision, compile_ in variants:
        label = f"protst-hf packed, {precision}" + (" + torch.compile (inductor)" if compile_ else "")
        if precision == auto and not compile_:
            label += " (= auto here)"
        start = time.perf_counter()
        model = ProtSTModel(demo_config(protein_config=protein_config))
        model.load_state_dict(state)
        prepare_for_inference(model, packed=True, precision=precision)
        if compile_:
            packing_protst.set_compile(True)
            compiled.update(packing_protst._COMPILED)
        embed_proteins(model, processor, sequences[:16], batch_size=256, max_tokens=args.max_tokens,
                       project=False, normalize=False)  # warm-up: the first call's cost
        packing_protst.set_compile(False)
        first[label] = time.perf_counter() - start
        size[label] = weight_bytes(model.protein_model)
        runners[label] = packed_runner(model, compile_)

    from . import onnx_esm

    if onnx_esm.available():
        for int8 in (False, True):
            label = f"ONNX Runtime, {'int8 dynamic per channel' if int8 else 'float32'} (bucketed, batch 16)"
            try:
                session, first[label], size[label] = onnx_esm.ort_session(esm, tokenizer, sequences, int8,
                                                                          torch.get_num_threads())
            except Exception as err:  # noqa: BLE001 - an export failure is a result of this route, reported
                print(f"{label}: export failed ({type(err).__name__}: {err})", flush=True)
                continue
            runners[label] = (lambda s: lambda: onnx_esm.ort_embed(s, tokenizer, sequences, esm.config.hidden_size))(
                session)
    else:
        print("ONNX Runtime rows skipped: pip install -e '.[onnx]' (onnx, onnxscript, onnxruntime)", flush=True)

    best = best_of_rounds(runners, args.repeats)
    bucketed_rate, reference = best["stock, bucketed (sorted, batch 16)"]
    rows = []
    for label, (rate, features) in best.items():
        key = "stock" if label.startswith("stock") else label
        extra = {} if label.startswith("stock") else accuracy(features, reference)
        rows.append({"workload": f"embed {name}", "variant": label, "value": rate, "unit": "proteins/s",
                     "ratio_vs_stock_bucketed": rate / bucketed_rate, "first_call_s": first[key],
                     "weights_mb": size[key] / 2**20, **extra})
    return rows


def text_rows(args) -> list[dict]:
    """The text tower on label texts (GO term names in the zero-shot prompt), BERT-base shape (PubMedBERT's), random
    weights: stock `BertModel` on the same batches against `embed_texts` at each precision; accuracy against the
    float32 text tower's features."""
    import gzip

    from transformers import BertConfig, BertModel

    from protst_hf import ProtSTModel
    from protst_hf.models.protst.inference_protst import embed_texts, prepare_for_inference
    from protst_hf.resources import demo_config, demo_processor

    terms = ROOT.parent / "shared" / "data" / "swissprot_go_2014" / "go_terms.tsv.gz"
    if terms.exists():
        with gzip.open(terms, "rt") as handle:
            names = [line.split("\t")[1] for line in list(handle)[1: args.texts + 1]]
    else:
        from protst_hf.resources import demo_rows

        names = [row["function"][:120] for row in demo_rows()][: args.texts]
    texts = [f"A protein that is involved in {n}." for n in names]
    processor = demo_processor()
    text_config = BertConfig(vocab_size=30522)  # BERT-base = PubMedBERT's shape
    torch.manual_seed(0)
    state = ProtSTModel(demo_config(text_config=text_config)).state_dict()
    bert = BertModel(text_config, add_pooling_layer=False).eval()
    bert.load_state_dict({k[len("text_model."):]: v for k, v in state.items() if k.startswith("text_model.")},
                         strict=False)

    def stock():
        start = time.perf_counter()
        with torch.inference_mode():
            for s in range(0, len(texts), 32):
                batch = processor(text=texts[s: s + 32], return_tensors="pt")
                bert(input_ids=batch["text_input_ids"], attention_mask=batch["text_attention_mask"])
        return len(texts) / (time.perf_counter() - start), None

    runners = {"stock BertModel (same batches of 32)": stock}
    for precision in ("float32", "bfloat16", "int8"):
        model = ProtSTModel(demo_config(text_config=text_config))
        model.load_state_dict(state)
        prepare_for_inference(model, packed=True, precision=precision)

        def run(model=model):
            start = time.perf_counter()
            features = embed_texts(model, processor, texts, project=False, normalize=False).numpy()
            return len(texts) / (time.perf_counter() - start), features
        runners[f"protst-hf embed_texts, {precision}"] = run
    print(f"text tower: {len(texts)} GO term prompts, BERT-base shape", flush=True)
    best = best_of_rounds(runners, args.repeats)
    base = best["stock BertModel (same batches of 32)"][0]
    reference = best["protst-hf embed_texts, float32"][1]
    return [{"workload": "embed label texts, BERT-base", "variant": label, "value": rate, "unit": "texts/s",
             "ratio_vs_stock_bucketed": rate / base, **({} if features is None else accuracy(features, reference))}
            for label, (rate, features) in best.items()]


def pretraining_rows(args) -> list[dict]:
    from protst_hf import ProtSTForPreTraining
    from protst_hf.data.collator import ProtSTDataCollatorForPretraining
    from protst_hf.resources import demo_config, demo_processor, demo_rows

    processor = demo_processor()
    rows = demo_rows()
    collator = ProtSTDataCollatorForPretraining(processor, crop_length=450, seed=0)
    batches = [collator(rows[i:i + 8]) for i in range(0, 8 * (args.steps + 1), 8)]
    results = {}
    for packed in (False, True):
        torch.manual_seed(0)
        model = ProtSTForPreTraining(demo_config(protein_packed=packed)).train()
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        tokens, elapsed = 0, 0.0
        for index, batch in enumerate(batches):
            start = time.perf_counter()
            model(**batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if index:  # the first step warms up
                elapsed += time.perf_counter() - start
                tokens += int(batch["protein_attention_mask"].sum())
        results[packed] = tokens / elapsed
    return [{"workload": "pretraining step (ESM-2 8M + demo BERT, batch 8, crop 450)", "variant": label,
             "value": results[packed], "unit": "real protein tokens/s",
             "ratio_vs_stock_bucketed": results[packed] / results[False]}
            for packed, label in ((False, "stock transformers tower, padded"), (True, "protst-hf packed"))]


def print_table(rows: list[dict]) -> None:
    print("\n| workload | variant | throughput | ratio | first call | weights | min cosine | mean cosine | same NN |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cost = [f"{r['first_call_s']:.1f} s" if "first_call_s" in r else "-",
                f"{r['weights_mb']:.0f} MB" if "weights_mb" in r else "-"]
        acc = [f"{r[k]:.6f}" if k in r else "-" for k in ("min_cosine", "mean_cosine")]
        acc.append(f"{r['same_nearest_neighbour']:.3f}" if "same_nearest_neighbour" in r else "-")
        print(f"| {r['workload']} | {r['variant']} | {r['value']:,.1f} {r['unit']} | "
              f"{r['ratio_vs_stock_bucketed']:.2f}x | " + " | ".join(cost + acc) + " |")


def main() -> int:
    from .hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protein_config", help="ESM config folder for the embedding rows")
    parser.add_argument("--proteins", type=int, default=250)
    parser.add_argument("--max_tokens", type=int, default=1024,
                        help="token budget per batch of the protst-hf path (1,024: what `auto` gives on CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the best of each is reported")
    parser.add_argument("--texts", type=int, default=512, help="label texts of the text-tower rows")
    parser.add_argument("--skip", nargs="*", default=(), choices=("text", "pretraining"))
    parser.add_argument("--compile", action="store_true",
                        help="add the torch.compile row (inductor's background compile workers then share the cores "
                        "with the rows after it; a fresh inductor cache per run)")
    parser.add_argument("--steps", type=int, default=6, help="measured pretraining steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", help="also write the rows as JSON")
    args = parser.parse_args()
    if args.compile:  # a cache left by a run under other ISA caps crashed inductor's code here once
        import os
        import tempfile

        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="protst_inductor_")
    torch.set_num_threads(args.threads)
    rows = embedding_rows(args)
    rows += [] if "text" in args.skip else text_rows(args)
    rows += [] if "pretraining" in args.skip else pretraining_rows(args)
    print_table(rows)
    if args.output:
        Path(args.output).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
