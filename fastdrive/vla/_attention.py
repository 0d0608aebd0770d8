"""Attention rows and key states of one decoder layer, recomputed on demand.

In-LLM pruners need a few rows of a layer's attention map (FastV: the last
token's row; SparseVLM: the text rows) or its key states (DART). Switching
the model to eager attention to read them would slow every layer; instead the
adapter records the layer's input and recomputes only what is asked for, with
the layer's own ``input_layernorm``, ``q_proj``/``k_proj`` and the rotary
``(cos, sin)`` it was given. The model itself stays on SDPA.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import rotate_half

from ._gather import gather_seq, mask_allows


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of ``x (B, heads, S, hd)`` with ``cos/sin (B, S, hd)``."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return x * cos + rotate_half(x) * sin


def layer_keys(layer: nn.Module, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Post-rotary key states ``(B, KV, L, hd)`` of ``layer`` for input ``hidden (B, L, D)``."""
    attn = layer.self_attn
    h = layer.input_layernorm(hidden)
    bsz, length, _ = h.shape
    k = attn.k_proj(h).view(bsz, length, -1, attn.head_dim).transpose(1, 2)
    return _rope(k, cos, sin)


def layer_attention_rows(
    layer: nn.Module,
    hidden: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    mask: Optional[torch.Tensor],
    rows: torch.Tensor,
    keys: Optional[torch.Tensor] = None,
    chunk: int = 256,
) -> torch.Tensor:
    """Head-mean attention probabilities of some query rows of ``layer``.

    Equal (to float error) to the eager attention weights of that layer,
    averaged over heads, at those rows.

    Args:
        layer: a ``Qwen2_5_VLDecoderLayer``.
        hidden: ``(B, L, D)`` the layer's input hidden states.
        cos, sin: ``(B, L, hd)`` its rotary embeddings.
        mask: the layer's 4D mask ``(B or 1, 1, L, L)`` (bool or additive),
            or None for plain causal attention.
        rows: ``(B, Q)`` long query rows.
        keys: the layer's post-rotary keys ``(B, KV, L, hd)`` if known (e.g.
            read from its KV cache), else recomputed with :func:`layer_keys`.
        chunk: query rows per step (bounds memory at ``B*H*chunk*L`` floats).

    Returns:
        ``(B, Q, L)`` float32, rows sum to 1.
    """
    attn = layer.self_attn
    if keys is None:
        keys = layer_keys(layer, hidden, cos, sin)
    bsz, n_kv, length, hd = keys.shape
    cols = torch.arange(length, device=hidden.device)
    allow_full = mask_allows(mask).expand(bsz, -1, -1, -1)[:, 0] if mask is not None else None
    out = []
    for start in range(0, rows.shape[1], chunk):
        r = rows[:, start:start + chunk]
        q_in = layer.input_layernorm(gather_seq(hidden, r))  # RMSNorm is per token
        q = attn.q_proj(q_in).view(bsz, r.shape[1], -1, hd).transpose(1, 2)
        q = _rope(q, gather_seq(cos, r), gather_seq(sin, r))
        n_heads = q.shape[1]
        q = q.reshape(bsz, n_kv, n_heads // n_kv, r.shape[1], hd)
        scores = torch.einsum("bkgqd,bkld->bkgql", q.float(), keys.float()) * attn.scaling
        if allow_full is None:
            allowed = cols[None, None, :] <= r[:, :, None]
        else:
            allowed = allow_full.gather(1, r.unsqueeze(-1).expand(-1, -1, length))
        scores = scores.masked_fill(~allowed[:, None, None], float("-inf"))
        out.append(scores.softmax(-1).mean(dim=(1, 2)))
    return torch.cat(out, dim=1)


def flat_keys(keys: torch.Tensor) -> torch.Tensor:
    """``(B, KV, L, hd)`` -> ``(B, L, KV*hd)`` (the layout of ``PruningContext.keys``)."""
    bsz, n_kv, length, hd = keys.shape
    return keys.transpose(1, 2).reshape(bsz, length, n_kv * hd)

