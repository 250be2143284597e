"""Embedding with a trained ProtST model: length-grouped batching, the one batched forward for proteins (and for
texts) that the pipelines, `protst embed`, the evaluation protocols and pretraining's validation all call, and the
precision the towers run at (float32, bf16 where native, int8 on CPU).

This file is shipped to the Hub with saved models (the pipelines import it): it imports its siblings only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .folder_protst import atomic_open
from .processing_protst import clean_protein, crop


def default_max_tokens(device) -> int:
    """Tokens per protein batch: small on CPU, where activations that stay in cache beat large matrices (ESM-2 8M,
    2 cores: 1,024 tokens per batch embeds 1.4x faster than 8,192, see benchmarks/bench_embed.py), large on GPUs."""
    return 1024 if torch.device(device).type == "cpu" else 16384


def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None) -> list[list[int]]:
    """Positions grouped into batches of similar lengths, longest first: at most `batch_size` items and, when
    `max_tokens` is set, at most that many padded tokens (an item longer than the budget gets a batch alone)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, current = [], []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]  # the batch pads to its first (longest) item
        if current and (len(current) == batch_size or (max_tokens and (len(current) + 1) * width > max_tokens)):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def autocast(device, dtype: str | None):
    """`torch.autocast` for `dtype` ("bfloat16", "float16") on the device's type, or a no-op for None/"float32"."""
    if dtype in (None, "float32"):
        return contextlib.nullcontext()
    if dtype not in ("bfloat16", "float16"):
        raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}")
    return torch.autocast(torch.device(device).type, dtype=getattr(torch, dtype))


def protein_inputs(tokenizer, sequences: Sequence[str]) -> dict[str, torch.Tensor]:
    """`protein_input_ids` / `protein_attention_mask` of `sequences` from a `ProtSTProcessor`, or from a plain ESM
    tokenizer (an ESM checkpoint evaluated as a baseline). Residues are checked the same way for both."""
    if hasattr(tokenizer, "protein_tokenizer"):
        batch = tokenizer(proteins=list(sequences), return_tensors="pt")
        return {"protein_input_ids": batch["protein_input_ids"],
                "protein_attention_mask": batch["protein_attention_mask"]}
    cleaned = [clean_protein(s, f"protein {i}") for i, s in enumerate(sequences)]
    batch = tokenizer(cleaned, padding=True, return_tensors="pt")
    return {"protein_input_ids": batch["input_ids"], "protein_attention_mask": batch["attention_mask"]}


def _device(model) -> torch.device:
    return next(model.parameters()).device


def protein_features(model, protein_input_ids: torch.Tensor, protein_attention_mask: torch.Tensor,
                     pad_token_id: int | None = None, dtype: str | None = None, project: bool = True,
                     normalize: bool = True) -> torch.Tensor:
    """The one batched protein forward: (B, D) float32 features of a tokenized batch, under autocast to `dtype`.

    `pad_token_id` puts the tokenizer's padding back where `protein_attention_mask` is 0 (transformers' pipeline
    collation pads with 0, which is a real token in the ESM alphabet)."""
    if pad_token_id is not None:
        protein_input_ids = protein_input_ids.masked_fill(protein_attention_mask == 0, pad_token_id)
    with autocast(protein_input_ids.device, dtype):
        return model.get_protein_features(protein_input_ids, protein_attention_mask, normalize=normalize,
                                          project=project).float()


def text_features(model, text_input_ids: torch.Tensor, text_attention_mask: torch.Tensor,
                  pad_token_id: int | None = None, dtype: str | None = None, project: bool = True,
                  normalize: bool = True) -> torch.Tensor:
    """The one batched text forward: (B, D) float32 features, as [`protein_features`] for proteins."""
    protst = getattr(model, "protst", model)
    if pad_token_id is not None:
        text_input_ids = text_input_ids.masked_fill(text_attention_mask == 0, pad_token_id)
    with autocast(text_input_ids.device, dtype):
        return protst.get_text_features(text_input_ids, text_attention_mask, normalize=normalize,
                                        project=project).float()


def protein_batches(processor, sequences: Sequence[str], batch_size: int = 64,
                    max_tokens: int | str | None = "auto", device=None, max_length: int | None = None):
    """Length-grouped tokenized batches of `sequences` on `device`: yields `(positions, batch)`, `positions` the
    indices into `sequences`. Proteins are read as the processor reads them: at most `max_length` residues
    (default: the processor's own limit), a longer one cut by its `truncation_policy` (N-terminal, or both termini
    for a model trained on termini crops). Batches hold at most `batch_size` proteins and `max_tokens` padded
    tokens (`"auto"`: `default_max_tokens` of the device; `None`: no token budget, so the number of batches
    depends on N alone, as distributed evaluation needs). The one reading of proteins for a model: the embedding
    loop and the evaluation protocols iterate these batches."""
    device = torch.device(device if device is not None else "cpu")
    limit = max_length or getattr(processor, "protein_max_length", 1022)
    if max_length:  # cut as the processor cuts proteins over its own limit
        policy = getattr(processor, "truncation_policy", "n_terminal")
        sequences = [crop(s, max_length, policy) for s in sequences]
    lengths = [min(len(s), limit) + 2 for s in sequences]
    budget = default_max_tokens(device) if max_tokens == "auto" else max_tokens
    for chunk in length_batches(lengths, batch_size, budget):
        yield chunk, {k: v.to(device) for k, v in protein_inputs(processor, [sequences[i] for i in chunk]).items()}


@torch.no_grad()  # not inference_mode: DeepSpeed ZeRO-3 swaps parameter storage in forward hooks
def embed_proteins(model, processor, sequences: Sequence[str], batch_size: int = 64, max_tokens: int | str | None =
                   "auto", project: bool = True, normalize: bool = True, dtype: str | None = None,
                   max_length: int | None = None) -> torch.Tensor:
    """Protein embeddings `(N, D)` float32 on the CPU, in input order ([`protein_batches`], under autocast to
    `dtype` when given).

    Args:
        model: a ProtST model (`get_protein_features`); a task model gives raw features only (`project=False`).
        processor: a `ProtSTProcessor`, or a plain ESM tokenizer.
        project / normalize: projected to the shared space and L2-normalised (search, zero-shot), or the raw
            mean-pooled tower features (`project=False, normalize=False`, the input of downstream heads).
        max_length: keep `max_length` residues of each protein, cut by the processor's `truncation_policy` (default:
            the processor's own limit).
    """
    result: list[torch.Tensor | None] = [None] * len(sequences)
    for chunk, batch in protein_batches(processor, sequences, batch_size, max_tokens, _device(model), max_length):
        features = protein_features(model, batch["protein_input_ids"], batch["protein_attention_mask"],
                                    dtype=dtype, project=project, normalize=normalize)
        for row, i in enumerate(chunk):
            result[i] = features[row].cpu()
    return torch.stack(result) if result else torch.empty(0)


@torch.no_grad()
def embed_texts(model, processor, texts: Sequence, batch_size: int = 32, project: bool = True,
                normalize: bool = True, dtype: str | None = None) -> torch.Tensor:
    """Text embeddings `(N, D)` float32 on the CPU, in input order: label prompts (strings) are `[CLS]` + tokens, no
    `[SEP]` (the original's zero-shot layout); mappings of ProtDescribe fields use the pretraining layout."""
    device = _device(model)
    parts = []
    for start in range(0, len(texts), batch_size):
        batch = processor(text=list(texts[start: start + batch_size]), return_tensors="pt").to(device)
        parts.append(text_features(model, batch["text_input_ids"], batch["text_attention_mask"], dtype=dtype,
                                   project=project, normalize=normalize).cpu())
    return torch.cat(parts) if parts else torch.empty(0)


# label sets at least this large are cached: below it, hashing the text tower costs more than embedding the texts
TEXT_CACHE_MIN_TEXTS = 512


def text_cache_directory() -> Path | None:
    """Where [`embed_texts_cached`] keeps text embeddings: `$PROTST_TEXT_CACHE` (`off` disables the cache), else
    `$HF_HOME/protst_hf/text_embeddings` (`~/.cache/huggingface/protst_hf/text_embeddings`)."""
    value = os.environ.get("PROTST_TEXT_CACHE")
    if value is not None:
        return None if value.strip().lower() in ("", "0", "off", "none", "false") else Path(value)
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return Path(home) / "protst_hf" / "text_embeddings"


def text_tower_digest(model) -> str:
    """SHA-256 of every weight that a text embedding depends on (the text tower and the text projection, in their
    current dtype): equal exactly when the same texts embed to the same vectors."""
    protst = getattr(model, "protst", model)
    digest = hashlib.sha256()
    for module in (protst.text_model, protst.text_projection):
        for name, value in module.state_dict().items():
            _digest_value(digest, name, value)
    return digest.hexdigest()


def _digest_value(digest, name: str, value) -> None:
    """Feed one state-dict entry to `digest`: a tensor by dtype, shape and bytes (a quantised one by its integers and
    quantisation parameters), the packed (weight, bias) tuple of a dynamically quantised linear layer item by item,
    anything else (a dtype) by its repr."""
    if isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            _digest_value(digest, f"{name}.{i}", item)
        return
    if not isinstance(value, torch.Tensor):
        digest.update(f"{name}={value!r}".encode())
        return
    tensor = value.detach().cpu()
    if tensor.is_quantized:
        if tensor.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            digest.update(f"{name}.q={tensor.q_scale()!r},{tensor.q_zero_point()}".encode())
        else:
            _digest_value(digest, f"{name}.q", (tensor.q_per_channel_scales(), tensor.q_per_channel_zero_points()))
        tensor = tensor.int_repr()
    tensor = tensor.contiguous()
    digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
    digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())


def embed_texts_cached(model, processor, texts: Sequence, batch_size: int = 32, dtype: str | None = None,
                       cache: str | Path | bool | None = None) -> torch.Tensor:
    """[`embed_texts`] (projected, normalised) with the result kept on disk, keyed by the content of what decides
    it: the text tower's and projection's weights ([`text_tower_digest`]), the autocast dtype, the processor's text
    limits and vocabulary size, and the texts in order. A second run over the same labels (25,000 GO terms) reads
    the file instead of running the text tower.

    Args:
        cache: a directory, `False` (no cache), or None: [`text_cache_directory`], for lists of at least
            `TEXT_CACHE_MIN_TEXTS` strings (mappings of ProtDescribe fields are embedded each time).

    A cache file that cannot be read is recomputed and replaced; a directory that cannot be written gives one
    warning and the embeddings.
    """
    directory = text_cache_directory() if cache is None else (Path(cache) if cache else None)
    if cache is None and len(texts) < TEXT_CACHE_MIN_TEXTS:
        directory = None
    if directory is None or not texts or not all(isinstance(t, str) for t in texts):
        return embed_texts(model, processor, texts, batch_size=batch_size, dtype=dtype)
    key = hashlib.sha256()
    tokenizer = getattr(processor, "text_tokenizer", None)
    for part in (text_tower_digest(model), str(dtype), getattr(processor, "text_field_max_length", None),
                 getattr(processor, "text_max_length", None), len(tokenizer) if tokenizer is not None else None):
        key.update(f"{part}\x00".encode())
    for text in texts:
        key.update(text.encode() + b"\x00")
    path = directory / f"{key.hexdigest()}.pt"
    if path.is_file():
        try:
            vectors = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(vectors, torch.Tensor) and vectors.shape[0] == len(texts):
                return vectors
        except Exception:  # noqa: BLE001 - any unreadable file is recomputed
            pass
    vectors = embed_texts(model, processor, texts, batch_size=batch_size, dtype=dtype)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as f:
            torch.save(vectors, f)
    except OSError as err:
        warnings.warn(f"text embeddings not cached ({err}); set PROTST_TEXT_CACHE to a writable folder, or off",
                      stacklevel=2)
    return vectors


PRECISIONS = ("auto", "float32", "bfloat16", "int8")


def native_bfloat16(device) -> bool:
    """True where bf16 matrix products run on dedicated units: CUDA GPUs with bf16 support, and CPUs with AMX or
    AVX-512 BF16, unless `ONEDNN_MAX_CPU_ISA` caps oneDNN below them. Elsewhere (e.g. AVX2-only CPUs) bf16 is
    emulated and slower than float32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()  # oneDNN told not to use the bf16 units
    if cap and cap not in ("ALL", "DEFAULT") and not any(isa in cap for isa in ("BF16", "AMX", "FP16", "AVX10")):
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(check() for check in checks if check is not None)


def int8_engine(device) -> bool:
    """True where dynamic int8 quantisation runs on a measured x86 kernel (fbgemm / x86 engine, the CPU has AVX2)."""
    if torch.device(device).type != "cpu":
        return False
    engines = torch.backends.quantized.supported_engines
    capability = torch.backends.cpu.get_cpu_capability()  # "AVX2", "AVX512"; "DEFAULT" off x86
    return any(engine in engines for engine in ("x86", "fbgemm")) and capability.upper().startswith("AVX")


def resolve_precision(precision: str, device, quantize: bool = False) -> str:
    """`"auto"` -> `"bfloat16"` where the device computes it natively ([`native_bfloat16`]); elsewhere `"int8"` when
    the caller quantises the weights (`quantize=True`, as [`prepare_for_inference`] does) on an x86 CPU
    ([`int8_engine`]), else `"float32"`. Without `quantize`, `"auto"` is the autocast dtype of unprepared weights."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        if native_bfloat16(device):
            return "bfloat16"
        return "int8" if quantize and int8_engine(device) else "float32"
    return precision


def quantize_int8(module: nn.Module) -> nn.Module:
    """`module` with every `nn.Linear` layer dynamically quantised (torch's fbgemm / x86 kernels): int8 weights with
    one scale per output channel, activations quantised per batch. Per-channel weight scales run as fast as one scale
    per tensor and are closer to float32 (ESM-2 35M, 250 proteins, packed: min cosine 0.99925 against 0.99877 per
    tensor), so no layer has to stay float32 (see benchmarks/README.md)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao (not needed)
        return quantize_dynamic(module, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def prepare_for_inference(model, packed: bool | None = True, precision: str = "float32"):
    """Set `model` (a ProtST model) up for embedding, in place; returns it in eval mode.

    - `packed`: run the protein tower unpadded (`packing_protst.py`); outputs equal the padded path's. A runtime
      choice held by the model (`runs_packed`), never written into its config: a prepared model saves as loaded.
    - `precision`: `float32` (default: weights unchanged); `auto` (the default of `protst embed`, `classify`,
      `reference build` and `annotate`: bf16 where the device computes it natively, see [`native_bfloat16`]; int8
      on other x86 CPUs, where it is the fastest route that keeps embeddings within cosine 0.999 of float32; float32
      elsewhere); `bfloat16` (tower weights cast to bf16; the projection heads stay float32 and features come
      back float32); `int8` ([`quantize_int8`] of both towers, CPU only). The speed and accuracy of each are
      measured by `benchmarks/cpu_suite.py`.

    If int8 quantisation fails (a torch build without its quantised kernels, or one that has removed
    `torch.ao.quantization`), the towers stay float32 with one warning saying why.
    """
    protst = getattr(model, "protst", model)
    precision = resolve_precision(precision, _device(model), quantize=True)
    if packed is not None:  # a runtime choice: the config (what save_pretrained writes) is left as it is
        protst.packed_at_runtime = bool(packed)
    model.eval()
    if precision == "bfloat16":
        for tower in (protst.protein_model, protst.text_model):
            tower.to(torch.bfloat16)
    elif precision == "int8":
        if _device(model).type != "cpu":
            raise ValueError("int8 dynamic quantisation runs on CPU only; use bfloat16 on GPU")
        try:
            towers = {name: quantize_int8(getattr(protst, name)) for name in ("protein_model", "text_model")}
        except Exception as err:  # noqa: BLE001 - any failure leaves the float32 towers, which are correct
            warnings.warn(f"int8 quantisation failed ({type(err).__name__}: {err}); the towers run in float32",
                          stacklevel=2)
        else:
            for name, tower in towers.items():
                setattr(protst, name, tower)
    return model


__all__ = [
    "PRECISIONS",
    "autocast",
    "default_max_tokens",
    "embed_proteins",
    "embed_texts",
    "embed_texts_cached",
    "int8_engine",
    "length_batches",
    "native_bfloat16",
    "prepare_for_inference",
    "protein_batches",
    "protein_features",
    "protein_inputs",
    "quantize_int8",
    "resolve_precision",
    "text_cache_directory",
    "text_features",
    "text_tower_digest",
]
