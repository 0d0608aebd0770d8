"""Shared synthetic inputs for the pruning tests (not a test module)."""

from __future__ import annotations

import torch

from fastdrive.pruning import PruningContext


def full_context(b: int, n: int, d: int, t: int = 6, grid=(5, 8), seed: int = 0,
                 warm_history: bool = True) -> PruningContext:
    """A context holding everything any method may ask for (random but valid)."""
    g = torch.Generator().manual_seed(seed)
    prefix = 3
    length = prefix + n + t
    vis_pos = (torch.arange(n) + prefix).unsqueeze(0).expand(b, -1).contiguous()
    text_rows = torch.rand(b, t, length, generator=g).softmax(dim=-1)
    history = [torch.rand(b, n, generator=g) for _ in range(3)]
    return PruningContext(
        grid_hw=[grid],
        text_embeds=torch.randn(b, t, d, generator=g),
        text_mask=torch.ones(b, t, dtype=torch.bool),
        visual_positions=vis_pos,
        attention=text_rows,
        keys=torch.randn(b, length, 16, generator=g),
        hidden_states=torch.randn(b, length, d, generator=torch.Generator().manual_seed(seed + 1)),
        vision_attention=torch.rand(b, n, generator=g),
        session_id="test",
        state=[{"history": [h[i] for h in history]} for i in range(b)] if warm_history else None,
        extra={"action_attention": torch.rand(b, n, generator=g)},
    )


def build_kwargs(name: str, d: int) -> dict:
    """Constructor arguments so every method runs at width ``d``."""
    if name in ("recon", "recon_untrained"):
        return dict(hidden_size=d, num_heads=4, num_kv_heads=2, intermediate_size=2 * d, weights=None)
    if name == "lightvla_star":
        return dict(hidden_size=d, num_queries=8)
    return {}
