"""The full ProtST pretraining step on one GPU: protst-hf against a stock transformers two-tower baseline, one run.

    python -m benchmarks.gpu_pretrain            # ESM-2 650M + BERT-base shapes, random weights (a few minutes)
    python -m benchmarks.gpu_pretrain --tiny     # tiny shapes: only checks that the script runs (CPU); no speed claim

Both train on the same Swiss-Prot-like lengths (log-normal, median about 300, cropped to 30..1022, as in
../shared/docs/PERF_ANCHORS.md), bf16 autocast over fp32 master weights, fused AdamW:

- protst-hf: `ProtSTForPreTraining` (contrastive + MLM + fusion + both MMP terms), text tower frozen, batches of
  similar lengths under a token budget (`protst_hf.data.pretraining_data.make_batches`), sdpa.
- baseline: `EsmForMaskedLM` + `BertModel` (both trained), CLIP loss on mean-pooled states + MLM, sequences padded
  to the longest allowed length, sdpa: the stock recipe of the anchors.

Prints real (non-padding) protein tokens/s, MFU (6 x protein-tower parameters + attention FLOPs per real token,
against the chip's bf16 peak given by --peak_tflops), peak memory, and the ratio.
"""

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F


def lengths_like_swissprot(n: int, seed: int = 0) -> np.ndarray:
    x = np.exp(np.random.default_rng(seed).normal(math.log(300), 0.6, n))
    return np.clip(x, 30, 1022).astype(np.int64)


def protein_batch(lengths, crop, device, pad_to=None):
    cropped = [min(int(n), crop) for n in lengths]
    width = (pad_to if pad_to else max(cropped)) + 2
    ids = torch.ones(len(cropped), width, dtype=torch.long)
    for row, n in enumerate(cropped):
        ids[row, 1 : n + 1] = torch.randint(4, 24, (n,))
        ids[row, 0], ids[row, n + 1] = 0, 2
    mask = (ids != 1).long()
    labels = torch.full_like(ids, -100)
    chosen = (torch.rand(ids.shape) < 0.15) & (ids > 3)
    labels[chosen] = ids[chosen]
    ids[chosen] = 32
    return ids.to(device), mask.to(device), labels.to(device), sum(cropped)


def text_batch(batch_size, length, device, vocab=30522):
    ids = torch.randint(1000, vocab, (batch_size, length))
    ids[:, 0] = 2
    labels = torch.where(torch.rand(ids.shape) < 0.15, ids, torch.full_like(ids, -100))
    labels[:, 0] = -100
    return ids.to(device), torch.ones_like(ids).to(device), labels.to(device)


def configs(tiny: bool):
    from transformers import BertConfig, EsmConfig

    esm = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128) if tiny else \
        dict(hidden_size=1280, num_hidden_layers=33, num_attention_heads=20, intermediate_size=5120)
    bert = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128) if tiny else \
        dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
    # the released ESM-2 configs have no dropout (EsmConfig's defaults of 0.1 are not ESM-2's)
    protein = EsmConfig(vocab_size=33, pad_token_id=1, mask_token_id=32, max_position_embeddings=1026,
                        position_embedding_type="rotary", token_dropout=True, emb_layer_norm_before=False,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=1e-5, **esm)
    text = BertConfig(vocab_size=30522, max_position_embeddings=512, **bert)
    return protein, text


def run_protst(args, device, lengths):
    from protst_hf import ProtSTConfig, ProtSTForPreTraining
    from protst_hf.data.pretraining_data import make_batches

    protein, text = configs(args.tiny)
    torch.manual_seed(0)
    shape = dict(projection_dim=64, fusion_num_attention_heads=4) if args.tiny else {}  # the paper's 512 / 8 otherwise
    model = ProtSTForPreTraining(ProtSTConfig(protein_config=protein, text_config=text, **shape)).to(device).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5,
                                  fused=device == "cuda")
    batches = make_batches(lengths, 0, seed=0, epoch=0, max_tokens=args.tokens_per_batch, crop_length=args.crop)
    return _loop(model, optimizer, batches, lengths, args, device, lambda ids, mask, labels, t: model(
        protein_input_ids=ids, protein_attention_mask=mask, protein_labels=labels, text_input_ids=t[0],
        text_attention_mask=t[1], text_labels=t[2]).loss, pad=False), protein


def run_baseline(args, device, lengths):
    from transformers import BertModel, EsmForMaskedLM

    from protst_hf.data.pretraining_data import make_batches

    protein, text = configs(args.tiny)
    torch.manual_seed(0)
    esm, bert = EsmForMaskedLM(protein).to(device).train(), BertModel(text, add_pooling_layer=False).to(device).train()
    heads = torch.nn.ModuleList([torch.nn.Linear(protein.hidden_size, 512), torch.nn.Linear(text.hidden_size, 512)])
    heads = heads.to(device)
    optimizer = torch.optim.AdamW([*esm.parameters(), *bert.parameters(), *heads.parameters()], lr=1e-5,
                                  fused=device == "cuda")
    per_batch = max(1, args.tokens_per_batch // (args.crop + 2))  # padded to the crop: fewer sequences fit
    batches = make_batches(lengths, per_batch, seed=0, epoch=0, group_by_length=False)

    def step(ids, mask, labels, t):
        out = esm(input_ids=ids, attention_mask=mask, labels=labels, output_hidden_states=True)
        pooled = (out.hidden_states[-1] * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        zp = F.normalize(heads[0](pooled), dim=-1)
        zt = F.normalize(heads[1](bert(input_ids=t[0], attention_mask=t[1]).last_hidden_state.mean(1)), dim=-1)
        logits = zp @ zt.t() / 0.07
        y = torch.arange(len(ids), device=ids.device)
        return out.loss + F.cross_entropy(logits, y) + F.cross_entropy(logits.t(), y)

    return _loop(esm, optimizer, batches, lengths, args, device, step, pad=True), protein


def _loop(model, optimizer, batches, lengths, args, device, step_fn, pad):
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tokens, start = 0, None
    for index in range(args.steps + 3):
        if index == 3:
            sync()
            start, tokens = time.perf_counter(), 0
        positions = batches[index % len(batches)]
        pad_to = args.crop if pad else None
        ids, mask, labels, real = protein_batch(lengths[positions], args.crop, device, pad_to=pad_to)
        text = text_batch(len(positions), args.text_length, device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = step_fn(ids, mask, labels, text)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += real
    sync()
    elapsed = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    return {"real_protein_tokens_per_s": tokens / elapsed, "peak_gib": peak}


def main() -> None:
    from .hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--text_length", type=int, default=128)
    parser.add_argument("--tokens_per_batch", type=int, default=16384)
    parser.add_argument("--peak_tflops", type=float, default=790.0, help="bf16 dense peak (H200: about 790)")
    args = parser.parse_args()
    if args.tiny:
        args.steps, args.crop, args.tokens_per_batch = 3, 64, 1024
    device = "cuda" if torch.cuda.is_available() else "cpu"
    lengths = lengths_like_swissprot(20_000)
    results = {}
    for name, runner in (("protst-hf", run_protst), ("stock two-tower", run_baseline)):
        result, protein = runner(args, device, lengths)
        params = 12 * protein.num_hidden_layers * protein.hidden_size ** 2  # transformer blocks of the tower
        flops_per_token = 6 * params + 12 * protein.num_hidden_layers * protein.hidden_size * min(args.crop, 360)
        result["mfu"] = result["real_protein_tokens_per_s"] * flops_per_token / (args.peak_tflops * 1e12)
        results[name] = result
        print(json.dumps({"name": name, "device": device, **result}), flush=True)
    ours, base = results["protst-hf"], results["stock two-tower"]
    print(f"\n{'':<18}{'real protein tok/s':>20}{'MFU':>8}{'peak GiB':>10}")
    for name, r in results.items():
        peak = f"{r['peak_gib']:.1f}" if r["peak_gib"] is not None else "-"
        print(f"{name:<18}{r['real_protein_tokens_per_s']:>20,.0f}{r['mfu']:>8.3f}{peak:>10}")
    print(f"ratio protst-hf / stock: {ours['real_protein_tokens_per_s'] / base['real_protein_tokens_per_s']:.2f}x")


if __name__ == "__main__":
    main()
