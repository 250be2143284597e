"""Protein embedding on one GPU at ESM-2 650M shapes: `protst embed`'s path against stock transformers, one run.

    python -m benchmarks.gpu_embed            # ESM-2 650M shapes, random weights, bf16 (a few minutes)
    python -m benchmarks.gpu_embed --tiny     # tiny shapes: only checks that the script runs (CPU); no speed claim

All embed the same 2,000 random proteins with Swiss-Prot-like lengths (log-normal, median about 300, cut to
30..1022, as ../shared/docs/PERF_ANCHORS.md) with the same weights in bf16, inference mode, sdpa:

- protst-hf: `embed_proteins` of `inference_protst.py` (what `protst embed` runs): batches of similar lengths under a
  token budget (`--max_tokens`, default 16,384 on GPU), projected and normalised embeddings.
- stock, padded: `EsmModel`, batches of 32 in input order padded to 1,024 tokens (the anchors' 168 proteins/s).
- stock, length-bucketed: `EsmModel`, batches of 32 sorted by length, padded to the batch's longest (the
  anchors' 356 proteins/s).

Prints proteins/s of each, the ratios, and the share of the chip's ceiling (`--ceiling`, about 1,700/s on an H200
at these lengths). The goal in issue 5 is >= 1,000 proteins/s on an H200.
"""

import argparse
import json
import time

import numpy as np
import torch

from .gpu_pretrain import configs, lengths_like_swissprot
from .stock_esm import stock_embed

LETTERS = "ACDEFGHIKLMNPQRSTVWY"


def stock(esm, tokenizer, sequences, device, sort: bool, batch_size: int = 32) -> float:
    """Stock transformers (`stock_esm.stock_embed`): length-sorted and padded to the batch's longest, or in input
    order padded to 1,024 tokens (the anchors' setting)."""
    return stock_embed(esm, tokenizer, sequences, batch_size, "descending" if sort else "input",
                       True if sort else "max_length", device)[0]


def setup(proteins: int, tiny: bool, device: str):
    """Random Swiss-Prot-like sequences and, with the same shapes and bf16 weights, a `ProtSTModel` and a stock
    `EsmModel` (initialised on the device: random init of 650M parameters on the host is slow), the demo processor
    and the ESM tokenizer."""
    from transformers import AutoTokenizer, EsmModel

    from protst_hf import ProtSTConfig, ProtSTModel
    from protst_hf.resources import RESOURCES, demo_processor

    rng = np.random.default_rng(0)
    sequences = ["".join(rng.choice(list(LETTERS), n)) for n in lengths_like_swissprot(proteins)]
    protein, text = configs(tiny)
    processor = demo_processor()
    text.vocab_size = processor.tokenizer.vocab_size
    torch.manual_seed(0)
    with torch.device(device):
        model = ProtSTModel(ProtSTConfig(protein_config=protein, text_config=text)).to(torch.bfloat16).eval()
        esm = EsmModel(protein, add_pooling_layer=False).to(torch.bfloat16).eval()
    return sequences, model, esm, processor, AutoTokenizer.from_pretrained(RESOURCES / "esm_tokenizer")


def main() -> None:
    from .hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--proteins", type=int, default=2000)
    parser.add_argument("--max_tokens", type=int, default=16384)
    parser.add_argument("--ceiling", type=float, default=1700.0, help="proteins/s the chip allows (H200: ~1,700)")
    args = parser.parse_args()
    if args.tiny:
        args.proteins, args.max_tokens = 64, 2048
    from protst_hf.models.protst.inference_protst import embed_proteins

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sequences, model, esm, processor, tokenizer = setup(args.proteins, args.tiny, device)

    embed_proteins(model, processor, sequences[:64], batch_size=256, max_tokens=args.max_tokens)  # warm-up
    stock(esm, tokenizer, sequences[:64], device, sort=True)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    embed_proteins(model, processor, sequences, batch_size=256, max_tokens=args.max_tokens)
    ours = len(sequences) / (time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    bucketed = stock(esm, tokenizer, sequences, device, sort=True)
    padded = stock(esm, tokenizer, sequences, device, sort=False)
    result = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "proteins": len(sequences),
              "protst_hf": ours, "stock_bucketed": bucketed, "stock_padded": padded, "peak_gib": peak}
    print(json.dumps(result))
    print(f"protst-hf {ours:.0f} proteins/s; stock length-bucketed {bucketed:.0f} ({ours / bucketed:.2f}x); stock "
          f"padded {padded:.0f} ({ours / padded:.2f}x); {ours / args.ceiling:.0%} of the {args.ceiling:.0f}/s ceiling")


if __name__ == "__main__":
    main()
