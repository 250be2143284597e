"""Unpadded (packed) execution of a transformers `EsmModel`.

Swiss-Prot lengths are long-tailed (median about 300 of a 1,022 limit), so a padded batch spends most of its matrix
math and attention on padding. Here the sequences of a batch are concatenated into one stream of T real tokens with
their boundaries (`cu_seqlens`, as flash-attention's varlen API), every linear layer runs on the T tokens only, and
attention is restricted to each sequence by one of these backends:

- `varlen`: `torch.nn.attention.varlen.varlen_attn` (flash-attention varlen kernels; CUDA);
- `flash_attn`: `flash_attn.flash_attn_varlen_func` when the package is installed (CUDA);
- `flex`: FlexAttention with a document mask (only blocks inside a sequence are computed; compiled);
- `segments`: plain SDPA on each sequence in turn (no mask, no wasted work; the CPU default);
- `masked`: SDPA over the whole stream with a block-diagonal mask (O(T^2) memory: a reference for tests).

Positions restart at each sequence (rotary for ESM-2, learned absolute positions for ESM-1b), ESM's token-dropout
rescaling is computed per sequence, and the output equals the padded path's at every real position (tested on CPU,
outputs and gradients). The module reuses the `EsmModel`'s own weights: nothing is copied or converted.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util

import torch
import torch.nn.functional as F

BACKENDS = ("auto", "varlen", "flash_attn", "flex", "segments", "masked")


def pack(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, pad_token_id: int):
    """(B, L) padded ids -> (T,) packed ids, (B+1,) int32 `cu_seqlens`, the longest length, and the (B, L) bool
    mask of the kept positions (to scatter results back)."""
    keep = (input_ids != pad_token_id) if attention_mask is None else attention_mask.bool()
    lengths = keep.sum(1)
    cu_seqlens = F.pad(lengths.cumsum(0), (1, 0)).to(torch.int32)
    return input_ids[keep], cu_seqlens, int(lengths.max()) if len(lengths) else 0, keep


def unpack(packed: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """(T, H) packed states -> (B, L, H) with zeros at the positions `pack` dropped."""
    out = packed.new_zeros(*keep.shape, packed.shape[-1])
    out[keep] = packed
    return out


def segment_ids(cu_seqlens: torch.Tensor, total: int) -> torch.Tensor:
    """(T,) index of the sequence each packed token belongs to."""
    lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).long()
    return torch.repeat_interleave(torch.arange(len(lengths), device=cu_seqlens.device), lengths, output_size=total)


@functools.cache  # resolved once per (backend, device), not on every forward
def resolve_backend(backend: str, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown packed attention backend {backend!r}: one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    if device.type != "cuda":
        return "segments"
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401

        return "varlen"
    except ImportError:
        pass
    return "flash_attn" if importlib.util.find_spec("flash_attn") is not None else "flex"


_FLEX = {}


def _flex_attention():
    if "fn" not in _FLEX:
        from torch.nn.attention.flex_attention import flex_attention

        _FLEX["fn"] = torch.compile(flex_attention, dynamic=True) if torch.cuda.is_available() else flex_attention
    return _FLEX["fn"]


def varlen_attention(query, key, value, cu_seqlens, max_seqlen: int, segments, backend: str):
    """Attention of (T, heads, D) packed tensors within each sequence (queries already scaled) -> (T, heads, D)."""
    total = query.shape[0]
    if backend in ("varlen", "flash_attn") and query.dtype not in (torch.float16, torch.bfloat16):
        backend = "segments"  # the flash varlen kernels take half precision only; fused SDPA handles float32
    if backend == "varlen":
        from torch.nn.attention.varlen import varlen_attn

        return varlen_attn(query, key, value, cu_seqlens, cu_seqlens, max_seqlen, max_seqlen, scale=1.0)
    if backend == "flash_attn":
        # imported by name: transformers' remote-code import check must not demand flash-attn from every user
        flash_attn_varlen_func = importlib.import_module("flash_attn").flash_attn_varlen_func
        return flash_attn_varlen_func(query, key, value, cu_seqlens, cu_seqlens, max_seqlen, max_seqlen,
                                      softmax_scale=1.0)
    if backend == "segments":
        bounds = cu_seqlens.tolist()
        outputs = []
        for begin, end in zip(bounds[:-1], bounds[1:]):
            # (1, heads, n, D): 4-D and unmasked, so CPU and GPU take their fused (flash) kernels
            q, k, v = (x[begin:end].transpose(0, 1).unsqueeze(0) for x in (query, key, value))
            outputs.append(F.scaled_dot_product_attention(q, k, v, scale=1.0)[0].transpose(0, 1))
        return torch.cat(outputs)
    q, k, v = (x.transpose(0, 1).unsqueeze(0) for x in (query, key, value))  # (1, heads, T, D)
    if backend == "masked":
        mask = segments[:, None] == segments[None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)
    elif backend == "flex":
        from torch.nn.attention.flex_attention import create_block_mask

        def document(b, h, q_idx, kv_idx):
            return segments[q_idx] == segments[kv_idx]

        block_mask = create_block_mask(document, None, None, total, total, device=query.device)
        out = _flex_attention()(q, k, v, block_mask=block_mask, scale=1.0)
    else:
        raise ValueError(f"unknown packed attention backend {backend!r}")
    return out.squeeze(0).transpose(0, 1)


def rotary_embed(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """ESM-2's rotary position embedding of (T, heads, D) `x` with (T, D) `cos` and `sin`: x*cos + rotate_half(x)*sin
    as transformers' `apply_rotary_pos_emb` computes it (in float32, cast back to x's dtype), in three passes over x
    instead of its six (no negated copy and no concatenation of the halves)."""
    dtype = x.dtype
    x = x.float()
    half = x.shape[-1] // 2
    out = x * cos[:, None]
    out[..., :half].addcmul_(x[..., half:], sin[:, None, :half], value=-1)
    out[..., half:].addcmul_(x[..., :half], sin[:, None, half:])
    return out.to(dtype)


def packed_layer_forward(layer, states, cu_seqlens, max_seqlen: int, segments, rotary, backend: str):
    """One `EsmLayer` on packed (T, H) states: the layer's own modules, attention within each sequence.

    Two elementwise steps are computed in fewer passes than transformers' `EsmLayer` does, to float32 rounding (both
    tested against float64): the rotary embedding ([`rotary_embed`]) and the feed-forward activation, ESM's exact
    GELU x/2 * (1 + erf(x/sqrt(2))), which transformers evaluates in five elementwise passes and `F.gelu` in one
    (about 6% of a float32 forward on 2 AVX2 threads, 8% under int8: benchmarks/README.md)."""
    total = states.shape[0]
    attention = layer.attention
    normed = attention.LayerNorm(states)
    self_attention = attention.self
    shape = (total, -1, self_attention.attention_head_size)
    query = self_attention.query(normed).view(shape) * self_attention.attention_head_size**-0.5
    key = self_attention.key(normed).view(shape)
    value = self_attention.value(normed).view(shape)
    if rotary is not None:
        query, key = (rotary_embed(x, *rotary) for x in (query, key))  # (T, heads, D)
    if self_attention.training and self_attention.dropout > 0:
        raise ValueError("packed execution does not implement attention-probability dropout (ESM-2 and ESM-1b "
                         "use none): set attention_probs_dropout_prob=0 or protein_packed=False")
    context = varlen_attention(query, key, value, cu_seqlens, max_seqlen, segments, backend)
    states = attention.output(context.reshape(total, -1), states)
    intermediate = F.gelu(layer.intermediate.dense(layer.LayerNorm(states)))  # EsmLayer.feed_forward_chunk
    return layer.output(intermediate, states)


_COMPILED = {}


def set_compile(enabled: bool = True, **compile_kwargs) -> None:
    """Run every packed layer through one `torch.compile`d function (dynamic shapes by default), or stop."""
    _COMPILED.clear()
    if enabled:
        _COMPILED["fn"] = torch.compile(packed_layer_forward, **{"dynamic": True, **compile_kwargs})


def packed_esm_forward(esm, input_ids: torch.Tensor, cu_seqlens: torch.Tensor, max_seqlen: int,
                       backend: str = "auto") -> torch.Tensor:
    """Last hidden states (T, H) of `esm` (a transformers `EsmModel`) for packed `input_ids` (T,) whose sequences
    end at `cu_seqlens` (B+1,), with attention kept inside each sequence. Equal to the padded forward's
    `last_hidden_state` at the real positions. Training works (hidden dropout included; attention-probability
    dropout, which ESM-2 and ESM-1b do not use, is refused); gradient checkpointing of the `EsmModel` applies per
    layer; `set_compile()` compiles the layers."""
    config = esm.config
    if config.is_decoder or getattr(config, "add_cross_attention", False):
        raise ValueError("packed execution supports ESM encoders only")
    backend = resolve_backend(backend, input_ids.device)
    total = input_ids.shape[0]
    segments = segment_ids(cu_seqlens, total)
    positions = torch.arange(total, device=input_ids.device) - cu_seqlens.long()[segments]
    embeddings = esm.embeddings
    hidden = embeddings.word_embeddings(input_ids)
    if embeddings.token_dropout:
        masked = input_ids == embeddings.mask_token_id
        hidden = hidden.masked_fill(masked[:, None], 0.0)
        count = len(cu_seqlens) - 1
        lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).float()
        observed = hidden.new_zeros(count, dtype=torch.float).index_add_(0, segments, masked.float()) / lengths
        hidden = (hidden * (1 - 0.15 * 0.8) / (1 - observed)[segments, None]).to(hidden.dtype)
    if embeddings.position_embedding_type == "absolute":
        # transformers' `create_position_ids_from_input_ids`: padding_idx + 1 + position
        hidden = hidden + embeddings.position_embeddings(positions + embeddings.padding_idx + 1)
    if embeddings.layer_norm is not None:
        hidden = embeddings.layer_norm(hidden)
    rotary = None
    if esm.config.position_embedding_type == "rotary":
        rotary = esm.rotary_embeddings(hidden, positions)  # cos, sin: (T, D), broadcast over the heads below

    encoder = esm.encoder
    layer_forward = _COMPILED.get("fn") or packed_layer_forward
    for layer in encoder.layer:
        args = (layer, hidden, cu_seqlens, max_seqlen, segments, rotary, backend)
        if getattr(encoder, "gradient_checkpointing", False) and esm.training:
            hidden = torch.utils.checkpoint.checkpoint(layer_forward, *args, use_reentrant=False)
        else:
            hidden = layer_forward(*args)
    if encoder.emb_layer_norm_after is not None:
        hidden = encoder.emb_layer_norm_after(hidden)
    return hidden


__all__ = ["BACKENDS", "pack", "packed_esm_forward", "packed_layer_forward", "resolve_backend", "rotary_embed",
           "segment_ids", "set_compile", "unpack", "varlen_attention"]
