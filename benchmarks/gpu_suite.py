"""GPU suite: the whole GPU check in one call (under 8 minutes on one H200), each row beside its stock baseline.

    python -m benchmarks.gpu_suite [--output gpu_suite.json]      # ESM-2 650M + BERT-base shapes, random weights
    python -m benchmarks.gpu_suite --tiny                          # tiny shapes on CPU: checks the script runs

Workloads (Swiss-Prot-like lengths: log-normal, median about 300, cut to 30..1022, as ../shared/docs/PERF_ANCHORS.md;
bf16 autocast over fp32 master weights and fused AdamW for training, bf16 weights for embedding, sdpa everywhere):

1. Embedding 2,000 proteins with ESM-2 650M (mean-pooled, projected):
   - stock, padded: `EsmModel`, batches of 32 in input order padded to 1,024 (anchors: 168 proteins/s);
   - stock, bucketed: `EsmModel`, batches of 32 sorted by length (anchors: 356 proteins/s);
   - protst-hf, padded: `protst embed`'s path (`retrieval._embed`), sorted batches under a token budget;
   - protst-hf, packed: the same with the protein tower unpadded (`protein_packed`, varlen attention).
2. The full ProtST pretraining step (contrastive + MLM + fusion + both MMP heads), ESM-2 650M + BERT-base, crop 512,
   text 128 tokens, text tower frozen as in the paper:
   - stock: `ProtSTForPreTraining` on stock transformers towers, batches of 32 sorted by length, padded + mask;
   - protst-hf packed: the protein tower unpadded, batches under a budget of real tokens (`--tokens_per_batch`);
   - protst-hf packed + `torch.compile` of the packed ESM layers (`--compile`; a failure is reported, not fatal).
   Real (non-padding) protein tokens/s and MFU: (6 x protein-tower block parameters + 12 x layers x hidden x
   per-token attention context) per real protein token, plus 2 x text-tower parameters per text token (frozen:
   forward only), over the chip's bf16 peak (`--peak_tflops`, H200 about 790).

Prints a table (and writes JSON with `--output`); the peak memory of each row is measured separately.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .gpu_embed import setup, stock
from .gpu_pretrain import configs, lengths_like_swissprot, protein_batch, text_batch


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def _reset_peak(device):
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device):
    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None


def embedding_rows(args, device) -> list[dict]:
    from protst_hf.models.protst.inference_protst import embed_proteins

    sequences, model, esm, processor, tokenizer = setup(args.proteins, args.tiny, device)
    rows = []

    def measure(label, fn):
        fn(sequences[:64])  # warm-up
        _reset_peak(device)
        _sync(device)
        start = time.perf_counter()
        fn(sequences)
        _sync(device)
        rate = len(sequences) / (time.perf_counter() - start)
        rows.append({"workload": "embed ESM-2 650M" if not args.tiny else "embed (tiny)", "variant": label,
                     "value": rate, "unit": "proteins/s", "peak_gib": _peak(device)})
        print(json.dumps(rows[-1]), flush=True)

    measure("stock, padded to 1024", lambda s: stock(esm, tokenizer, s, device, sort=False))
    measure("stock, bucketed", lambda s: stock(esm, tokenizer, s, device, sort=True))
    for packed in (False, True):
        model.config.protein_packed = packed
        measure(f"protst-hf, {'packed' if packed else 'padded, token budget'}",
                lambda s: embed_proteins(model, processor, s, batch_size=1024, max_tokens=args.embed_tokens))
    base = next(r["value"] for r in rows if r["variant"] == "stock, bucketed")
    for row in rows:
        row["ratio"] = row["value"] / base
    return rows


def _flops_per_token(protein, text, lengths, text_length) -> float:
    blocks = 12 * protein.num_hidden_layers * protein.hidden_size**2
    context = float((lengths.astype(np.float64) ** 2).sum() / lengths.sum())  # mean context of a real token
    protein_flops = 6 * blocks + 12 * protein.num_hidden_layers * protein.hidden_size * context
    text_params = 12 * text.num_hidden_layers * text.hidden_size**2
    return protein_flops + 2 * text_params * text_length / float(lengths.mean())  # text per protein token


def pretraining_rows(args, device) -> list[dict]:
    from protst_hf import ProtSTConfig, ProtSTForPreTraining
    from protst_hf.data.pretraining_data import make_batches

    protein, text = configs(args.tiny)
    lengths = np.minimum(lengths_like_swissprot(20_000), args.crop)
    flops = _flops_per_token(protein, text, lengths, args.text_length)
    shape = dict(projection_dim=64, fusion_num_attention_heads=4) if args.tiny else {}
    variants = [("stock: transformers towers, sorted batches of 32, padded", False, False),
                ("protst-hf packed, token budget", True, False)]
    if args.compile:
        variants.append(("protst-hf packed + torch.compile (ESM layers)", True, True))
    rows = []
    for label, packed, compiled in variants:
        torch.manual_seed(0)
        config = ProtSTConfig(protein_config=protein, text_config=text, protein_packed=packed, **shape)
        with torch.device(device):
            model = ProtSTForPreTraining(config).train()
        from protst_hf.models.protst.packing_protst import set_compile

        set_compile(compiled)  # every packed ESM layer through one compiled function
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5,
                                      fused=device == "cuda")
        if packed:
            batches = make_batches(lengths, 0, seed=0, epoch=0, max_tokens=args.tokens_per_batch,
                                   crop_length=args.crop)
        else:
            batches = make_batches(lengths, 32, seed=0, epoch=0, group_by_length=True)
        try:
            result = _train(model, optimizer, batches, lengths, args, device)
        except Exception as err:  # noqa: BLE001 - a failed variant is a row, not the end of the suite
            result = {"value": float("nan"), "peak_gib": None, "error": f"{type(err).__name__}: {err}"[:300]}
        rows.append({"workload": "ProtST step ESM-2 650M + BERT-base" if not args.tiny else "ProtST step (tiny)",
                     "variant": label, "unit": "real protein tokens/s",
                     "mfu": result["value"] * flops / (args.peak_tflops * 1e12), **result})
        print(json.dumps(rows[-1]), flush=True)
        del model, optimizer
    base = rows[0]["value"]
    for row in rows:
        row["ratio"] = row["value"] / base
    return rows


def _train(model, optimizer, batches, lengths, args, device) -> dict:
    tokens, start = 0, None
    _reset_peak(device)
    deadline = time.perf_counter() + args.step_seconds
    for index in range(len(batches)):
        if index == args.warmup:
            _sync(device)
            start, tokens = time.perf_counter(), 0
        positions = batches[index]
        ids, mask, labels, real = protein_batch(lengths[positions], args.crop, device)
        text_ids, text_mask, text_labels = text_batch(len(positions), args.text_length, device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = model(protein_input_ids=ids, protein_attention_mask=mask, protein_labels=labels,
                         text_input_ids=text_ids, text_attention_mask=text_mask, text_labels=text_labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += real
        if index >= args.warmup + args.steps and time.perf_counter() > deadline:
            break
    _sync(device)
    return {"value": tokens / (time.perf_counter() - start), "peak_gib": _peak(device),
            "steps": index + 1 - args.warmup}


def main() -> int:
    from .hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (CPU): checks the script, no speed claim")
    parser.add_argument("--proteins", type=int, default=2000)
    parser.add_argument("--embed_tokens", type=int, default=65536, help="token budget of the protst-hf embedding")
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--text_length", type=int, default=128)
    parser.add_argument("--tokens_per_batch", type=int, default=32768, help="real protein tokens per packed batch")
    parser.add_argument("--steps", type=int, default=10, help="measured steps at least")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--step_seconds", type=float, default=40.0, help="measure each variant at least this long")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--peak_tflops", type=float, default=790.0)
    parser.add_argument("--output")
    args = parser.parse_args()
    if args.tiny:
        args.proteins, args.embed_tokens, args.crop, args.tokens_per_batch = 48, 2048, 64, 512
        args.steps, args.warmup, args.step_seconds, args.compile = 2, 1, 0.0, False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    started = time.perf_counter()
    rows = embedding_rows(args, device) + pretraining_rows(args, device)
    print(f"\n{name}, torch {torch.__version__}, {time.perf_counter() - started:.0f} s\n")
    print("| workload | variant | throughput | vs stock | MFU | peak GiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        mfu = f"{r['mfu']:.3f}" if "mfu" in r and not math.isnan(r["mfu"]) else "-"
        peak = f"{r['peak_gib']:.1f}" if r.get("peak_gib") is not None else "-"
        value = f"{r['value']:,.0f} {r['unit']}" if not math.isnan(r["value"]) else f"failed ({r.get('error')})"
        print(f"| {r['workload']} | {r['variant']} | {value} | {r['ratio']:.2f}x | {mfu} | {peak} |")
    if args.output:
        Path(args.output).write_text(json.dumps({"device": name, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
