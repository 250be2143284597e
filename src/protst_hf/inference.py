"""Fast inference settings for embedding, mostly for users without a GPU.

`prepare_for_inference(model, packed=True, precision="int8")`:

- `packed`: the protein tower runs unpadded (`packing_protst.py`); outputs equal the padded path's.
- `precision`:
  - `float32` (default): unchanged weights;
  - `bfloat16`: weights cast to bf16 (fast on CPUs with AMX / AVX-512 BF16 and on GPUs; features come back float32);
  - `int8`: dynamic int8 quantisation of every `nn.Linear` of the towers (`torch.ao.quantization.quantize_dynamic`:
    int8 weights, activations quantised per batch; CPU only). The projection heads stay float32.

The accuracy change of each setting is measured by `benchmarks/cpu_suite.py` (cosine of the embeddings to float32
ones and agreement of nearest-neighbour search) and reported in `benchmarks/README.md`.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

PRECISIONS = ("float32", "bfloat16", "int8")


def prepare_for_inference(model, packed: bool | None = True, precision: str = "float32"):
    """Set `model` (a ProtST model) up for embedding, in place; returns it in eval mode."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    protst = getattr(model, "protst", model)
    if packed is not None:
        for config in {id(c): c for c in (model.config, protst.config)}.values():
            config.protein_packed = bool(packed)
    model.eval()
    if precision == "bfloat16":
        for tower in (protst.protein_model, protst.text_model):
            tower.to(torch.bfloat16)
    elif precision == "int8":
        if next(model.parameters()).device.type != "cpu":
            raise ValueError("int8 dynamic quantisation runs on CPU only; use bfloat16 on GPU")
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao (not needed)
            for name in ("protein_model", "text_model"):
                setattr(protst, name, quantize_dynamic(getattr(protst, name), {nn.Linear}, dtype=torch.qint8))
    return model


__all__ = ["PRECISIONS", "prepare_for_inference"]
