"""VisPruner: important tokens by vision attention, then diverse ones (pre-LLM).

Step 1 keeps the ``round(important_ratio * K)`` tokens that received the
most attention in the vision tower (``context.vision_attention (B, N)``,
[CLS] attention or mean received attention); without it, the mean
attention each token receives under softmax self-similarity of the tokens
themselves, ``mean_i softmax_j(x_i . x_j / sqrt(D))``.
Step 2 fills the rest from the remainder by repeatedly removing the most
duplicated tokens: the remainder (in index order) is split alternately into
sets A and B, each A token's duplication is its best cosine match in B, and
the most duplicated A tokens (at most half of A per round) are dropped until
the remainder fits.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..registry import PRUNERS
from ._utils import all_indices, check_tokens, cosine_similarity_matrix, l2_normalize
from .base import KeepSpec, PruningContext, Selection, TokenPruner, resolve_keep


def self_attention_received(tokens: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` mean attention each token receives under softmax(x x^T / sqrt(D))."""
    x = tokens.float()
    logits = x @ x.transpose(1, 2) / x.shape[-1] ** 0.5
    return logits.softmax(dim=-1).mean(dim=1)


def remove_duplicates(similarity: torch.Tensor, remainder: torch.Tensor, n_keep: int) -> torch.Tensor:
    """Shrink ``remainder`` to ``n_keep`` tokens by bipartite duplicate removal.

    Args:
        similarity: ``(B, N, N)`` cosine similarity of all tokens.
        remainder: ``(B, R)`` long token indices, ascending.
        n_keep: ``0 <= n_keep <= R``.

    Returns:
        ``(B, n_keep)`` long, ascending.
    """
    b = remainder.shape[0]
    while remainder.shape[1] > n_keep:
        r = remainder.shape[1]
        a_idx, b_idx = remainder[:, 0::2], remainder[:, 1::2]
        if b_idx.shape[1] == 0:  # a single token left and none to keep
            return remainder[:, :n_keep]
        sub = similarity.gather(1, a_idx.unsqueeze(2).expand(-1, -1, similarity.shape[2]))
        sub = sub.gather(2, b_idx.unsqueeze(1).expand(-1, a_idx.shape[1], -1))
        dup = sub.amax(dim=2)  # (B, |A|)
        n_drop = min(r - n_keep, max(1, (a_idx.shape[1] + 1) // 2))
        drop_pos = dup.topk(n_drop, dim=1).indices
        keep_a = torch.ones_like(a_idx, dtype=torch.bool).scatter_(1, drop_pos, False)
        kept_a = a_idx[keep_a].view(b, -1)
        remainder = torch.cat([kept_a, b_idx], dim=1).sort(dim=1).values
    return remainder


@PRUNERS.register_module(name="vispruner")
class VisPruner(TokenPruner):
    """Vision-attention importance plus duplicate-removal diversity.

    Args:
        important_ratio: share of the budget ``K`` filled by the most
            attended tokens (the rest is filled with diverse tokens).
    """

    stage = "pre_llm"

    def __init__(self, important_ratio: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= important_ratio <= 1.0:
            raise ValueError(f"important_ratio must be in [0, 1], got {important_ratio}")
        self.important_ratio = float(important_ratio)

    def select(self, tokens: torch.Tensor, keep: KeepSpec,
               context: Optional[PruningContext] = None) -> Selection:
        """``scores`` ``(B, N)`` is the vision attention used for step 1."""
        check_tokens(tokens)
        b, n, _ = tokens.shape
        k = resolve_keep(keep, n)
        attn = context.vision_attention if context is not None else None
        if attn is None:
            attn = self_attention_received(tokens)
        elif attn.shape != (b, n):
            raise ValueError(f"vision_attention must be (B, N) = {(b, n)}, got {tuple(attn.shape)}")
        attn = attn.float().to(tokens.device)
        if k == n:
            return Selection(indices=all_indices(b, n, tokens.device), scores=attn)
        n_imp = min(k, int(round(self.important_ratio * k)))
        order = attn.argsort(dim=1, descending=True)
        important = order[:, :n_imp]
        remainder = order[:, n_imp:].sort(dim=1).values
        if k - n_imp > 0:
            sim = cosine_similarity_matrix(l2_normalize(tokens))
            diverse = remove_duplicates(sim, remainder, k - n_imp)
            kept = torch.cat([important, diverse], dim=1)
        else:
            kept = important
        return Selection(indices=kept.sort(dim=1).values, scores=attn)

    def extra_repr(self) -> str:
        return f"important_ratio={self.important_ratio}"
