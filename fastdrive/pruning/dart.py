"""DART: duplication-aware token reduction with pivot tokens (in-LLM).

Before LLM layer ``K`` (2 by default): pivots = the ``num_pivots`` image
tokens with the largest key-state L1 norm (``context.keys (B, L, D_k)`` at
``context.visual_positions``; without keys, the hidden states ``tokens``).
For each pivot in turn (largest norm first), add the ``(K - P) // P`` not yet
chosen image tokens least cosine-similar (on the hidden states) to it;
duplicates are skipped by construction; the rest of the budget is filled
with the unchosen tokens whose highest similarity to any pivot is lowest.
If ``K < P`` the ``K`` largest-norm tokens are kept.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..registry import PRUNERS
from ._utils import all_indices, check_tokens, l2_normalize
from .base import KeepSpec, PruningContext, Selection, TokenPruner, resolve_keep, topk_sorted


def key_norms(tokens: torch.Tensor, context: Optional[PruningContext]) -> torch.Tensor:
    """``(B, N)`` L1 norm of each image token's key state (hidden state as fallback)."""
    b, n, _ = tokens.shape
    keys = context.keys if context is not None else None
    if keys is None:
        return tokens.float().abs().sum(dim=-1)
    keys = keys.float().to(tokens.device)
    if keys.dim() == 4:  # (B, H, L, d) per head -> (B, L, H * d)
        keys = keys.transpose(1, 2).flatten(2)
    pos = context.visual_positions
    if pos is None:
        if keys.shape[1] != n:
            raise ValueError("dart: context.visual_positions is required when keys cover the full sequence")
        vis = keys
    else:
        vis = keys.gather(1, pos.to(tokens.device).long().unsqueeze(-1).expand(-1, -1, keys.shape[-1]))
    return vis.abs().sum(dim=-1)


@PRUNERS.register_module(name="dart")
class DART(TokenPruner):
    """Pivot tokens by key norm, then the tokens least similar to each pivot.

    Args:
        layer: LLM layer before which tokens are dropped.
        num_pivots: pivot tokens ``P``.
    """

    stage = "in_llm"
    attention_rows = "none"
    needs_keys = True

    def __init__(self, layer: int = 2, num_pivots: int = 8) -> None:
        super().__init__()
        if num_pivots < 1:
            raise ValueError(f"num_pivots must be >= 1, got {num_pivots}")
        self.layer = int(layer)
        self.num_pivots = int(num_pivots)

    def select(self, tokens: torch.Tensor, keep: KeepSpec,
               context: Optional[PruningContext] = None) -> Selection:
        """``scores`` ``(B, N)`` are the key L1 norms used for the pivots."""
        check_tokens(tokens)
        b, n, _ = tokens.shape
        k = resolve_keep(keep, n)
        norms = key_norms(tokens, context)
        if k == n:
            return Selection(indices=all_indices(b, n, tokens.device), scores=norms)
        p = min(self.num_pivots, n)
        if k <= p:
            return Selection(indices=topk_sorted(norms, k), scores=norms)
        pivots = norms.topk(p, dim=1).indices  # (B, P), largest norm first
        x = l2_normalize(tokens)
        piv_x = x.gather(1, pivots.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        sim = piv_x @ x.transpose(1, 2)  # (B, P, N)
        chosen = torch.zeros(b, n, dtype=torch.bool, device=tokens.device).scatter_(1, pivots, True)
        per = (k - p) // p
        for j in range(p):
            if per == 0:
                break
            cand = sim[:, j].masked_fill(chosen, float("inf"))
            pick = (-cand).topk(per, dim=1).indices
            chosen.scatter_(1, pick, True)
        rest = k - int(chosen[0].sum())
        if rest > 0:
            fill = sim.amax(dim=1).masked_fill(chosen, float("inf"))
            chosen.scatter_(1, (-fill).topk(rest, dim=1).indices, True)
        indices = chosen.nonzero(as_tuple=False)[:, 1].view(b, k)
        return Selection(indices=indices, scores=norms)

    def extra_repr(self) -> str:
        return f"layer={self.layer}, num_pivots={self.num_pivots}"
