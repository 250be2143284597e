"""The stock-transformers baseline of the embedding benchmarks (`bench_embed.py`, `cpu_suite.py`, `gpu_embed.py`,
`gpu_suite.py`): `EsmModel` fed by its tokenizer with padding, `last_hidden_state` averaged over the residues
(`<cls>` and `<eos>` excluded), the loop a transformers user writes. One home, so that every benchmark's ratio is
against the same baseline."""

from __future__ import annotations

import time

import numpy as np
import torch


def stock_embed(esm, tokenizer, sequences: list[str], batch_size: int = 16, order: str = "input",
                padding: bool | str = True, device: str = "cpu", bf16: bool = False) -> tuple[float, np.ndarray]:
    """(proteins per second, features (N, hidden) float32 in input order).

    Args:
        order: `input` (file order), `ascending` or `descending` length (bucketing by sorting).
        padding: `True` (to the batch's longest) or `"max_length"` (to 1,024 tokens); longer proteins are cut at
            1,024 tokens.
        bf16: run under bf16 autocast.
    """
    positions = list(range(len(sequences)))
    if order != "input":
        positions.sort(key=lambda i: len(sequences[i]), reverse=order == "descending")
    out = np.zeros((len(sequences), esm.config.hidden_size), dtype=np.float32)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode(), torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        for s in range(0, len(positions), batch_size):
            chunk = positions[s : s + batch_size]
            batch = tokenizer([sequences[i] for i in chunk], padding=padding, truncation=True, max_length=1024,
                              return_tensors="pt").to(device)
            hidden = esm(**batch).last_hidden_state
            residues = batch["attention_mask"].clone()
            residues[:, 0] = 0  # <cls>
            residues[torch.arange(len(chunk)), batch["attention_mask"].sum(1) - 1] = 0  # <eos>
            out[chunk] = ((hidden.float() * residues[..., None]).sum(1) / residues.sum(1, keepdim=True)).cpu().numpy()
    if device == "cuda":
        torch.cuda.synchronize()
    return len(sequences) / (time.perf_counter() - start), out


__all__ = ["stock_embed"]
