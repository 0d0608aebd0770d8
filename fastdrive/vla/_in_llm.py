"""In-LLM pruning: what the adapter's decoder-layer pre-hooks do.

transformers 5.23's ``Qwen2_5_VLTextModel`` builds the causal mask and the
rotary ``(cos, sin)`` once, then calls every decoder layer as
``layer(hidden_states, attention_mask=..., position_embeddings=(cos, sin),
position_ids=text_position_ids, past_key_values=cache, use_cache=...)``.
A pruner acting before layer ``K`` therefore needs, on every layer from
``K`` on, the same rows dropped from ``hidden_states``, ``cos``/``sin``,
the mask (rows and columns) and ``position_ids``. The KV cache follows by
itself: layers ``>= K`` store only the kept keys, layers ``< K`` all of
them (``DynamicCache`` keeps one length per layer; the library sizes masks
from layer 0, so the hooks re-slice the key axis of the mask for layers
``>= K`` at every decode step).
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from ..pruning.base import PruningContext, Selection, TokenPruner
from ._attention import flat_keys, layer_attention_rows, layer_keys, _rope
from ._gather import (KeepPlan, build_plan, gather_seq, mask_allows, slice_decode_mask,
                      slice_square_mask)
from ._state import RunState


def attention_rows_for(spec: str, run: RunState, length: int) -> Optional[torch.Tensor]:
    """``(B, Q)`` query rows for an ``attention_rows`` spec, or None for 'none'."""
    lay = run.layout
    if spec == "last":
        return lay.last_rows
    if spec == "text":
        return lay.text_rows
    if spec == "all":
        bsz = lay.visual_positions.shape[0]
        return torch.arange(length, device=lay.visual_positions.device)[None].expand(bsz, -1)
    if spec == "none":
        return None
    raise ValueError(f"unknown attention_rows {spec!r}")


def select_in_llm(
    pruner: TokenPruner,
    keep: Any,
    run: RunState,
    prev_layer: Optional[nn.Module],
    hidden: torch.Tensor,
    context_extra: Dict[str, Any],
    session_id: Optional[str],
    state: Any,
    final_norm: Optional[nn.Module] = None,
) -> Tuple[Selection, float]:
    """Build the context at layer ``K``, call the pruner, time both.

    Attention rows and keys come from layer ``K-1`` (the last layer that sees
    the full sequence): its keys are read from the KV cache it has just
    filled (recomputed from its recorded input when there is no cache), the
    queries of the requested rows are recomputed from that input.
    ``context.extra`` also gets ``'final_norm'`` (the host LLM's final norm
    module, when given: DART compares final-normed hidden states) and
    ``'sequence_mask'`` (``(B, L)`` caller's padding mask, 1 = real token,
    or None) unless the caller's context already sets them.
    """
    t0 = time.perf_counter()
    lay = run.layout
    vis = lay.visual_positions
    tokens = gather_seq(hidden, vis)
    attention = keys = None
    rows = attention_rows_for(pruner.attention_rows, run, hidden.shape[1])
    if rows is not None or pruner.needs_keys:
        if run.prev_input is None or prev_layer is None:
            raise RuntimeError(
                "in-LLM pruner asked for attention/keys but layer K-1's input was not recorded")
        h_prev, cos, sin, mask = run.prev_input
        k = cached_keys(run.cache, prev_layer.self_attn.layer_idx, h_prev.shape[1])
        if k is None:
            k = layer_keys(prev_layer, h_prev, cos, sin)
        if rows is not None:
            attention = layer_attention_rows(prev_layer, h_prev, cos, sin, mask, rows, keys=k)
        if pruner.needs_keys:
            keys = flat_keys(k)
    extra = dict(context_extra)
    if run.visual_embeds is not None:
        extra.setdefault("visual_embeds", run.visual_embeds)
    extra.setdefault("attention_query_rows", rows)
    if final_norm is not None:
        extra.setdefault("final_norm", final_norm)
    mask2d = run.attention_mask_2d
    extra.setdefault("sequence_mask", None if mask2d is None else mask2d[:, : hidden.shape[1]])
    ctx = PruningContext(
        grid_hw=lay.grids[0], sample_grids=lay.grids, text_embeds=run.text_embeds, text_mask=lay.text_mask,
        hidden_states=hidden, visual_positions=vis, attention=attention, keys=keys,
        session_id=session_id, state=state, extra=extra,
    )
    sel = pruner.select(tokens, keep, ctx)
    return sel, time.perf_counter() - t0


def cached_keys(cache: Any, layer_idx: int, length: int) -> Optional[torch.Tensor]:
    """Layer ``layer_idx``'s post-rotary keys ``(B, KV, L, hd)`` from the KV
    cache when it holds exactly this prefill (free), else None."""
    if cache is None or layer_idx >= len(getattr(cache, "layers", ())):
        return None
    lyr = cache.layers[layer_idx]
    if not getattr(lyr, "is_initialized", False) or lyr.keys is None or lyr.keys.shape[-2] != length:
        return None
    return lyr.keys


def prefill_layer_kwargs(plan: KeepPlan, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Sliced ``position_embeddings``, ``attention_mask`` and ``position_ids``
    for every layer from ``K`` on (computed once per forward at layer ``K``)."""
    out: Dict[str, Any] = {}
    cos, sin = kwargs["position_embeddings"]
    out["position_embeddings"] = (gather_seq(cos, plan.cols), gather_seq(sin, plan.cols))
    out["attention_mask"] = slice_square_mask(kwargs.get("attention_mask"), plan)
    pos = kwargs.get("position_ids")
    if isinstance(pos, torch.Tensor):
        out["position_ids"] = gather_seq(pos, plan.cols) if pos.dim() == 2 else gather_seq(
            pos, plan.cols, dim=-1)
    return out


def decode_layer_kwargs(plan: KeepPlan, kwargs: Dict[str, Any], kv_full: int, q_len: int) -> Dict[str, Any]:
    """The decode-step mask re-sliced to the pruned key axis of layers ``>= K``."""
    return {"attention_mask": slice_decode_mask(kwargs.get("attention_mask"), plan, kv_full, q_len)}


def gather_hidden(hidden: torch.Tensor, plan: KeepPlan, extra_tokens: Optional[torch.Tensor]) -> torch.Tensor:
    """``(B, L, D)`` -> ``(B, L', D)``, recycled tokens written into their slots."""
    out = gather_seq(hidden, plan.cols)
    if extra_tokens is not None and plan.extra_slots is not None:
        idx = plan.extra_slots.unsqueeze(-1).expand(-1, -1, out.shape[-1])
        out = out.scatter(1, idx, extra_tokens.to(out.dtype))
    return out


def kept_slots(plan: KeepPlan, visual_positions: torch.Tensor, sel: Selection) -> List[torch.Tensor]:
    """Per sample, the slot of each kept visual token (first occurrence)."""
    out = []
    for b in range(plan.cols.shape[0]):
        cols = visual_positions[b, sel.row(b)]
        out.append(torch.searchsorted(plan.cols[b].contiguous(), cols.contiguous()))
    return out


@torch.no_grad()
def decode_visual_attention(
    layer: nn.Module,
    hidden: torch.Tensor,
    kwargs: Dict[str, Any],
    cache: Any,
    layer_idx: int,
) -> Optional[torch.Tensor]:
    """Head-mean attention ``(B, S)`` of the last decode query of ``layer``
    over the ``S`` keys already in its cache.

    The softmax also covers the step's own new tokens (as the layer's real
    attention does); only the cached columns are returned. Used for
    VLA-Pruner's action->vision signal; None before the layer has a cache.
    """
    if cache is None or layer_idx >= len(cache.layers) or not cache.layers[layer_idx].is_initialized:
        return None
    past = cache.layers[layer_idx].keys  # (B, KV, S, hd), post-rotary
    attn = layer.self_attn
    h = layer.input_layernorm(hidden)
    bsz, q_len, _ = h.shape
    cos, sin = kwargs["position_embeddings"]
    new_k = _rope(attn.k_proj(h).view(bsz, q_len, -1, attn.head_dim).transpose(1, 2), cos, sin)
    keys = torch.cat([past, new_k], dim=2)
    q = attn.q_proj(h[:, -1:]).view(bsz, 1, -1, attn.head_dim).transpose(1, 2)
    q = _rope(q, cos[:, -1:], sin[:, -1:])
    n_kv, s_len, hd = past.shape[1], past.shape[2], past.shape[3]
    q = q.reshape(bsz, n_kv, -1, 1, hd)
    scores = torch.einsum("bkgqd,bkld->bkgql", q.float(), keys.float()) * attn.scaling
    mask = kwargs.get("attention_mask")
    if mask is not None:
        allowed = mask_allows(mask).expand(bsz, -1, -1, -1)[:, 0, -1:, :]
        scores = scores.masked_fill(~allowed[:, None, None], float("-inf"))
    return scores.softmax(-1).mean(dim=(1, 2))[:, 0, :s_len]


def build_in_llm_plan(run: RunState, sel: Selection) -> KeepPlan:
    """Keep plan of an in-LLM selection over the full prefill."""
    bsz = run.layout.visual_positions.shape[0]
    num_extra = 0 if sel.extra_tokens is None else int(sel.extra_tokens.shape[1])
    return build_plan(run.full_len, run.layout.visual_positions, [sel.row(b) for b in range(bsz)], num_extra)
