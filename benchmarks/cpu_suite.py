"""CPU suite: embedding and the pretraining step on this machine, protst-hf against stock transformers, one run.

    python benchmarks/cpu_suite.py [--protein_config DIR] [--proteins 250] [--threads 2] [--output FILE.json]

Embedding: the 250 real Swiss-Prot sequences shipped in the package (lengths as they come, cut at 1,022 residues),
one ESM tower with random weights (ESM-2 35M shape from ../shared/data/esm2_hf_configs when present, else the
built-in ESM-2 8M; `--protein_config` for another), inference mode, mean over residues (raw tower features):

- stock, padded: `EsmModel` + `EsmTokenizer(padding=True)`, batches of 16 in file order;
- stock, bucketed: the same, batches of 16 sorted by length (the anchors' best stock recipe);
- protst-hf fp32 / bf16 / int8: `embed_proteins` of `inference_protst.py` (what `protst embed` runs) after
  `prepare_for_inference(model, packed=True, precision=...)`: length-sorted batches under a token budget, the
  protein tower unpadded; bf16 = weights cast to bfloat16; int8 = dynamic int8 quantisation of the linear layers.

Accuracy of each against the stock fp32 features: the smallest and mean cosine similarity over the proteins, and the
share of proteins whose nearest neighbour (by cosine, among the others) is unchanged.

Pretraining step: `ProtSTForPreTraining` (ESM-2 8M + the demo BERT, all three objectives), batches of 8 real
ProtDescribe pairs from the shipped sample, crop 450, Adam: padded protein tower (stock transformers `EsmModel`
forward) against the packed one, real protein tokens/s over the same batches.

Prints one table with ratios (ours / stock bucketed). No timings are asserted anywhere: this is a measurement.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from stock_esm import stock_embed

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


def embedding_rows(args) -> list[dict]:
    from transformers import AutoTokenizer, EsmConfig, EsmModel

    from protst_hf import ProtSTModel
    from protst_hf.models.protst.inference_protst import embed_proteins, prepare_for_inference
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
    print(f"embedding {len(sequences)} Swiss-Prot proteins (median length "
          f"{int(np.median([len(s) for s in sequences]))}) with {name}, {torch.get_num_threads()} threads", flush=True)

    stock_embed(esm, tokenizer, sequences[:16], order="ascending")  # warm-up
    results = {}
    padded_rate, _ = max((stock_embed(esm, tokenizer, sequences) for _ in range(args.repeats)),
                         key=lambda r: r[0])
    bucketed_rate, reference = max((stock_embed(esm, tokenizer, sequences, order="ascending")
                                    for _ in range(args.repeats)), key=lambda r: r[0])
    results["stock, padded (file order, batch 16)"] = (padded_rate, None)
    results["stock, bucketed (sorted, batch 16)"] = (bucketed_rate, None)
    for precision in ("float32", "bfloat16", "int8"):
        model = ProtSTModel(demo_config(protein_config=protein_config))
        model.load_state_dict(state)
        prepare_for_inference(model, packed=True, precision=precision)
        embed_proteins(model, processor, sequences[:16], batch_size=256, max_tokens=args.max_tokens,
                       project=False, normalize=False)  # warm-up
        best = None
        for _ in range(args.repeats):
            start = time.perf_counter()
            features = embed_proteins(model, processor, sequences, batch_size=256, max_tokens=args.max_tokens,
                                      project=False, normalize=False).numpy()
            rate = len(sequences) / (time.perf_counter() - start)
            best = max(best or (0, None), (rate, features), key=lambda r: r[0])
        results[f"protst-hf packed, {precision}"] = (best[0], accuracy(best[1], reference))
    rows = []
    for label, (rate, acc) in results.items():
        rows.append({"workload": f"embed {name}", "variant": label, "value": rate, "unit": "proteins/s",
                     "ratio_vs_stock_bucketed": rate / bucketed_rate, **(acc or {})})
    return rows


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
    print("\n| workload | variant | throughput | ratio | min cosine | mean cosine | same NN |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        acc = [f"{r[k]:.6f}" if k in r else "-" for k in ("min_cosine", "mean_cosine")]
        acc.append(f"{r['same_nearest_neighbour']:.3f}" if "same_nearest_neighbour" in r else "-")
        print(f"| {r['workload']} | {r['variant']} | {r['value']:,.1f} {r['unit']} | "
              f"{r['ratio_vs_stock_bucketed']:.2f}x | " + " | ".join(acc) + " |")


def main() -> int:
    from hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protein_config", help="ESM config folder for the embedding rows")
    parser.add_argument("--proteins", type=int, default=250)
    parser.add_argument("--max_tokens", type=int, default=4096, help="token budget per batch of the protst-hf path")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6, help="measured pretraining steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", help="also write the rows as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = embedding_rows(args) + pretraining_rows(args)
    print_table(rows)
    if args.output:
        Path(args.output).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
