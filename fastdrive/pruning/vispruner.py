"""VisPruner: important tokens by vision attention, then diverse ones (pre-LLM).

Follows the authors' ``encode_images`` (``llava/model/llava_arch.py`` of
Theia-4869/VisPruner). With ``K`` kept tokens and ratio ``r``:

1. Important tokens: the ``int(K * r)`` (floor) tokens that received the
   most attention in the vision tower (``context.vision_attention (B, N)``,
   [CLS] attention or mean received attention); without it, the mean
   attention each token receives under softmax self-similarity of the tokens
   themselves, ``mean_i softmax_j(x_i . x_j / sqrt(D))``.
2. Diverse tokens: the remainder stays in *descending attention order* and
   is shrunk to ``K - int(K * r)`` by rounds of duplicate removal
   (:func:`remove_duplicates`): split alternately (positions 0, 2, 4, ... of
   the list form group A, 1, 3, 5, ... group B), score each A token by its
   best cosine match in B, drop the ``min(8, R - target)`` most duplicated A
   tokens, and rebuild the list as the kept A tokens (most duplicated first)
   followed by group B.

The authors' code fails on a shape mismatch whenever the remainder
``N - int(K * r)`` is odd (group A then has one token more than B, and the
gather is sized ``R // 2``), and also when a round would drop more tokens
than group A holds. FastDrive handles both: group A is ``ceil(R / 2)`` long
and a round drops at most all of A. Sorting uses stable order on ties.
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


def remove_duplicates(similarity: torch.Tensor, remainder: torch.Tensor, n_keep: int,
                      per_round: int = 8) -> torch.Tensor:
    """Shrink ``remainder`` to ``n_keep`` tokens by bipartite duplicate removal.

    Args:
        similarity: ``(B, N, N)`` cosine similarity of all tokens.
        remainder: ``(B, R)`` long token indices, in the order the rounds
            split them (the authors: descending vision attention).
        n_keep: ``0 <= n_keep <= R``.
        per_round: most tokens dropped per round (the authors: 8).

    Returns:
        ``(B, n_keep)`` long, in the list order of the last round (kept
        group-A tokens, most duplicated first, then group B).
    """
    while remainder.shape[1] > n_keep:
        a_idx, b_idx = remainder[:, 0::2], remainder[:, 1::2]
        if b_idx.shape[1] == 0:  # a single token left and none to keep
            return remainder[:, :n_keep]
        sub = similarity.gather(1, a_idx.unsqueeze(2).expand(-1, -1, similarity.shape[2]))
        sub = sub.gather(2, b_idx.unsqueeze(1).expand(-1, a_idx.shape[1], -1))
        dup = sub.amax(dim=2)  # (B, |A|)
        n_drop = min(per_round, remainder.shape[1] - n_keep, a_idx.shape[1])
        kept_pos = dup.argsort(dim=1, descending=True, stable=True)[:, n_drop:]
        remainder = torch.cat([a_idx.gather(1, kept_pos), b_idx], dim=1)
    return remainder


@PRUNERS.register_module(name="vispruner")
class VisPruner(TokenPruner):
    """Vision-attention importance plus duplicate-removal diversity.

    Args:
        important_ratio: share ``r`` of the budget ``K`` filled by the most
            attended tokens, ``int(K * r)`` of them (the rest is filled with
            diverse tokens); the authors' default is 0.5.
    """

    stage = "pre_llm"
    request_options = ("important_ratio",)

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
        n_imp = min(k, int(k * self.important_ratio))
        order = attn.argsort(dim=1, descending=True, stable=True)
        important = order[:, :n_imp]
        remainder = order[:, n_imp:]  # descending attention, as the rounds split it
        if k - n_imp > 0:
            sim = cosine_similarity_matrix(l2_normalize(tokens))
            diverse = remove_duplicates(sim, remainder, k - n_imp)
            kept = torch.cat([important, diverse], dim=1)
        else:
            kept = important
        return Selection(indices=kept.sort(dim=1).values, scores=attn)

    def extra_repr(self) -> str:
        return f"important_ratio={self.important_ratio}"
