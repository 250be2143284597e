"""ONNX Runtime rows of `cpu_suite.py`: the stock `EsmModel` exported with `torch.onnx.export` (dynamo exporter,
dynamic batch and length), run by ONNX Runtime's CPU provider with all graph optimisations, in float32 or after
`onnxruntime.quantization.quantize_dynamic` (int8 weights per output channel, activations quantised per batch).
Batches as stock bucketed (sorted by length, 16 per batch, padded), the same mean over residues.

Needs `onnx`, `onnxscript` and `onnxruntime` (`pip install -e ".[onnx]"`); `available()` says whether they import.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


class _LastHidden(torch.nn.Module):
    def __init__(self, esm):
        super().__init__()
        self.esm = esm

    def forward(self, input_ids, attention_mask):
        return self.esm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def ort_session(esm, tokenizer, sequences: list[str], int8: bool, threads: int, folder: Path | None = None):
    """(session, first-call seconds: export + quantisation + session start, model file bytes)."""
    import onnxruntime as ort

    folder = Path(folder or tempfile.mkdtemp(prefix="protst_onnx_"))
    start = time.perf_counter()
    path = folder / "esm.onnx"
    example = tokenizer(sequences[:4], padding=True, return_tensors="pt")
    batch, length = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("length", min=3, max=1026)
    torch.onnx.export(_LastHidden(esm), (example["input_ids"], example["attention_mask"]), str(path), dynamo=True,
                      input_names=["input_ids", "attention_mask"], output_names=["hidden"],
                      dynamic_shapes={"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}})
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantized = folder / "esm_int8.onnx"
        quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8, per_channel=True)
        path = quantized
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    ort_embed(session, tokenizer, sequences[:16], esm.config.hidden_size)
    size = sum(f.stat().st_size for f in path.parent.glob(f"{path.stem}*"))
    return session, time.perf_counter() - start, size


def ort_embed(session, tokenizer, sequences: list[str], hidden_size: int, batch_size: int = 16):
    """(proteins per second, features (N, hidden) in input order), batched as `stock_embed(order="ascending")`."""
    positions = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    out = np.zeros((len(sequences), hidden_size), np.float32)
    start = time.perf_counter()
    for s in range(0, len(positions), batch_size):
        chunk = positions[s: s + batch_size]
        batch = tokenizer([sequences[i] for i in chunk], padding=True, truncation=True, max_length=1024,
                          return_tensors="np")
        mask = batch["attention_mask"].astype(np.int64)
        hidden = session.run(None, {"input_ids": batch["input_ids"].astype(np.int64), "attention_mask": mask})[0]
        residues = mask.copy()
        residues[:, 0] = 0  # <cls>
        residues[np.arange(len(chunk)), mask.sum(1) - 1] = 0  # <eos>
        out[chunk] = (hidden * residues[..., None]).sum(1) / residues.sum(1, keepdims=True)
    return len(sequences) / (time.perf_counter() - start), out


__all__ = ["available", "ort_embed", "ort_session"]
