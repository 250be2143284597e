"""Protein embedding throughput: `protst embed`'s path against naive stock transformers loops, one run.

    python -m benchmarks.bench_embed [--proteins 250] [--batch_size 16] [--protein_config DIR] [--bf16] [--repeats 3]

All three embed the same real Swiss-Prot sequences (the 250-entry sample shipped in the package, in file order,
lengths as they come, cut at 1,022 residues) with the same ESM weights (random, ESM-2 8M architecture unless
`--protein_config` names another, e.g. ../shared/data/esm2_hf_configs/esm2_t12_35M_UR50D), inference mode, fp32:

- protst-hf: `embed_file` (FASTA in, npy shards out) at its defaults: batches of similar lengths holding at most
  1,024 tokens on CPU, mean over residues.
- naive, padded to the batch's longest: `AutoTokenizer(..., padding=True)` + `EsmModel`, batches of `--batch_size`
  in file order; also at batch size 4, the best of the sizes we tried for this loop on CPU.
- naive, padded to the model's maximum (1,024 tokens, `padding="max_length"`): the anchors' "padded".
- with `--bf16`: protst-hf under bf16 autocast (`--dtype bfloat16`), against the same naive loop in bf16.

Prints proteins/s of each, the ratios, and the largest difference between the protst-hf features and the baseline's
residue mean (the same numbers, computed faster).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .stock_esm import stock_embed


def load(n: int):
    from protst_hf.data.uniprot import iter_uniprot
    from protst_hf.resources import UNIPROT_SAMPLE

    return [(r.accession, r.sequence) for r in iter_uniprot(UNIPROT_SAMPLE)][:n]


def naive(esm, tokenizer, records, batch_size, padding, bf16=False) -> tuple[float, np.ndarray]:
    """Stock loop (`stock_esm.stock_embed`): file order, the tokenizer pads."""
    return stock_embed(esm, tokenizer, [seq for _, seq in records], batch_size, "input", padding, bf16=bf16)


def main() -> None:
    from .hardware import describe

    print(describe())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--proteins", type=int, default=250)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--protein_config", help="an ESM config folder (default: the built-in ESM-2 8M)")
    parser.add_argument("--skip_max_length", action="store_true", help="skip the slowest baseline")
    parser.add_argument("--bf16", action="store_true", help="also compare both under bf16 autocast")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from transformers import AutoTokenizer, EsmConfig, EsmModel

    from protst_hf import ProtSTModel
    from protst_hf.embedding.shards import embed_file, iter_embedding_shards
    from protst_hf.resources import RESOURCES, demo_config, demo_processor

    torch.manual_seed(0)
    overrides = {}
    if args.protein_config:
        overrides["protein_config"] = EsmConfig.from_pretrained(args.protein_config)
    model = ProtSTModel(demo_config(**overrides)).eval()
    processor = demo_processor()
    records = load(args.proteins)
    lengths = np.array([min(len(s), 1022) for _, s in records])
    config = model.config.protein_config
    print(f"{len(records)} Swiss-Prot proteins, length median {int(np.median(lengths))}, max {lengths.max()}; "
          f"ESM {config.num_hidden_layers} layers x {config.hidden_size}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads")

    esm = EsmModel(config, add_pooling_layer=False).eval()
    esm.load_state_dict(model.protein_model.state_dict(), strict=False)
    tokenizer = AutoTokenizer.from_pretrained(RESOURCES / "esm_tokenizer")
    naive(esm, tokenizer, records[:4], 4, True)  # warm-up

    def ours(dtype=None):
        with tempfile.TemporaryDirectory() as tmp:
            fasta = Path(tmp) / "in.fasta"
            fasta.write_text("".join(f">{i}\n{s}\n" for i, s in records))
            start = time.perf_counter()
            summary = embed_file(fasta, model, processor, Path(tmp) / "out", project=False, dtype=dtype,
                                 progress=False)
            rate = summary["records"] / (time.perf_counter() - start)
            return rate, np.concatenate([v for _, v in iter_embedding_shards(Path(tmp) / "out")])

    runs = {
        "protst-hf embed_file (length-sorted, <=1,024 tokens)": lambda: ours(),
        f"naive, batch {args.batch_size}, padded to the batch's longest": lambda: naive(
            esm, tokenizer, records, args.batch_size, True),
        "naive, batch 4, padded to the batch's longest": lambda: naive(esm, tokenizer, records, 4, True),
    }
    if not args.skip_max_length:
        runs[f"naive, batch {args.batch_size}, padded to 1,024 tokens"] = lambda: naive(
            esm, tokenizer, records, args.batch_size, "max_length")
    if args.bf16:
        runs["bf16: protst-hf embed_file --dtype bfloat16"] = lambda: ours("bfloat16")
        runs[f"bf16: naive, batch {args.batch_size}, padded to the batch's longest"] = lambda: naive(
            esm, tokenizer, records, args.batch_size, True, bf16=True)
    ours(), naive(esm, tokenizer, records, args.batch_size, True)  # warm-up: the first pass over the data is slow
    rates, features = {name: [] for name in runs}, {}
    for _ in range(args.repeats):  # interleaved, so that a slow spell of the machine hits every variant
        for name, run in runs.items():
            rate, features[name] = run()
            rates[name].append(rate)
    names = list(runs)
    reference = float(np.median(rates[names[0]]))
    print(f"proteins/s, median of {args.repeats} interleaved runs (min..max):")
    for name in names:
        median = float(np.median(rates[name]))
        ratio = "" if name == names[0] else f"   protst-hf / this {reference / median:.2f}x"
        if name.startswith("bf16: naive"):
            ratio = f"   bf16 protst-hf / this {float(np.median(rates[names[-2]])) / median:.2f}x"
        print(f"  {name:<58} {median:7.1f} ({min(rates[name]):.1f}..{max(rates[name]):.1f}){ratio}")
    difference = np.abs(features[names[0]] - features[names[1]]).max()
    print(f"max |protst-hf - naive| feature difference (fp32): {difference:.2e}")
    if args.bf16:
        print(f"max |bf16 - fp32| protst-hf feature difference: "
              f"{np.abs(features[names[-2]] - features[names[0]]).max():.2e} "
              f"(mean |feature| {np.abs(features[names[0]]).mean():.2f})")


if __name__ == "__main__":
    main()
