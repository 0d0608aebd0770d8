"""SparseVLM: text-guided visual token sparsification with recycling (in-LLM).

Raters: the text tokens whose visual relevance is above the mean. Relevance
of text token ``t`` = mean over visual tokens of ``softmax_t(V T^T)``, with
``V`` the visual tokens (``context.extra['visual_embeds'] (B, N, D)`` when
the host passes layer-0 embeddings, else ``tokens``) and ``T`` =
``context.text_embeds (B, T, D)``; without text embeddings, relevance is
each text row's attention mass on the visual columns. Padding text tokens
(``context.text_mask``) are never raters.

Scores: mean rater->vision attention, from ``context.attention (B, T, L)``
(the text rows, head-mean, ``attention_rows = 'text'``) at
``context.visual_positions``. The top ``K`` are kept (one pruning layer; the
paper's multi-layer schedule is one call per layer).

Recycling (switchable): the top ``recycle_ratio`` (30%) of the deleted tokens
by score are clustered into ``ceil(cluster_ratio * R)`` groups (seeds by
greedy max-min cosine diversity, then ``kmeans_iters`` cosine k-means
assignment steps) and each group's mean token is appended, in
``Selection.extra_tokens (B, C, D)``, after the ``K`` kept ones.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from ..registry import PRUNERS
from ._similarity import greedy_maxmin
from ._utils import all_indices, check_tokens, l2_normalize, require_attention, visual_columns
from .base import KeepSpec, PruningContext, Selection, TokenPruner, resolve_keep, topk_sorted


def rater_mask(visual: torch.Tensor, text: Optional[torch.Tensor], text_mask: Optional[torch.Tensor],
               text_attention: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` bool: text tokens whose visual relevance exceeds the mean.

    Args:
        visual: ``(B, N, D)`` visual tokens.
        text: ``(B, T, D)`` text embeddings or None.
        text_mask: ``(B, T)`` bool, True for real text tokens, or None.
        text_attention: ``(B, T, N)`` text-row attention on the visual columns.
    """
    b, t = text_attention.shape[:2]
    valid = torch.ones(b, t, dtype=torch.bool, device=text_attention.device) if text_mask is None \
        else text_mask.bool().to(text_attention.device)
    if text is not None and text.shape[1] != t:
        raise ValueError(f"sparsevlm: text_embeds has {text.shape[1]} tokens but attention has {t} "
                         "text rows; the attention rows must be the text tokens, in the same order")
    if text is not None:
        logits = visual.float() @ text.float().to(visual.device).transpose(1, 2)  # (B, N, T)
        logits = logits.masked_fill(~valid.unsqueeze(1), float("-inf"))
        relevance = logits.softmax(dim=-1).mean(dim=1)  # (B, T)
    else:
        relevance = text_attention.sum(dim=-1)
    mean = (relevance * valid).sum(dim=1, keepdim=True) / valid.sum(dim=1, keepdim=True).clamp_min(1)
    raters = (relevance > mean) & valid
    # A row whose relevances are all equal has no rater above the mean: use every real text token.
    return torch.where(raters.any(dim=1, keepdim=True), raters, valid)


def recycle_tokens(tokens: torch.Tensor, scores: torch.Tensor, deleted: torch.Tensor, recycle_ratio: float,
                   cluster_ratio: float, kmeans_iters: int) -> Optional[torch.Tensor]:
    """Cluster the top-scoring deleted tokens and return their centres.

    Args:
        tokens: ``(B, N, D)``.
        scores: ``(B, N)``.
        deleted: ``(B, M)`` long indices of deleted tokens (same count per row).
        recycle_ratio: share of the deleted tokens to recycle.
        cluster_ratio: clusters per recycled token.
        kmeans_iters: assignment/update steps after the seeding.

    Returns:
        ``(B, C, D)`` cluster means (dtype of ``tokens``), or None if nothing is recycled.
    """
    b, m = deleted.shape
    r = int(math.ceil(recycle_ratio * m - 1e-9))
    if r <= 0:
        return None
    c = max(1, min(r, int(math.ceil(cluster_ratio * r - 1e-9))))
    del_scores = scores.gather(1, deleted)
    pick = deleted.gather(1, del_scores.topk(r, dim=1).indices)  # (B, R)
    x = tokens.gather(1, pick.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])).float()  # (B, R, D)
    seeds, _ = greedy_maxmin(x, c)
    xn = l2_normalize(x)
    centres = x[seeds].view(b, c, -1)
    for _ in range(max(1, kmeans_iters)):
        assign = (xn @ l2_normalize(centres).transpose(1, 2)).argmax(dim=2)  # (B, R)
        onehot = torch.nn.functional.one_hot(assign, c).float()  # (B, R, C)
        sums = onehot.transpose(1, 2) @ x
        counts = onehot.sum(dim=1).unsqueeze(-1)
        centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
    return centres.to(tokens.dtype)


@PRUNERS.register_module(name="sparsevlm")
class SparseVLM(TokenPruner):
    """Rater-guided top-``K`` with optional recycling of deleted tokens.

    Args:
        layer: LLM layer before which tokens are dropped.
        recycle: append recycled cluster centres (``extra_tokens``).
        recycle_ratio: share of deleted tokens (top by score) to recycle.
        cluster_ratio: number of centres per recycled token.
        kmeans_iters: k-means steps after the max-min seeding.
    """

    stage = "in_llm"
    request_options = ("layer", "recycle")
    attention_rows = "text"

    def __init__(self, layer: int = 2, recycle: bool = True, recycle_ratio: float = 0.3,
                 cluster_ratio: float = 0.1, kmeans_iters: int = 1) -> None:
        super().__init__()
        self.layer = int(layer)
        self.recycle = bool(recycle)
        self.recycle_ratio = float(recycle_ratio)
        self.cluster_ratio = float(cluster_ratio)
        self.kmeans_iters = int(kmeans_iters)

    def raters(self, tokens: torch.Tensor, context: PruningContext) -> torch.Tensor:
        """``(B, T)`` bool rater mask for this call's context."""
        attention = require_attention(context, "sparsevlm")
        text_attn = visual_columns(attention, context.visual_positions, tokens.shape[1])
        visual = context.extra.get("visual_embeds", tokens)
        return rater_mask(visual, context.text_embeds, context.text_mask, text_attn)

    def select(self, tokens: torch.Tensor, keep: KeepSpec,
               context: Optional[PruningContext] = None) -> Selection:
        """``scores`` ``(B, N)``: mean rater->vision attention."""
        check_tokens(tokens)
        b, n, _ = tokens.shape
        k = resolve_keep(keep, n)
        attention = require_attention(context, "sparsevlm")
        text_attn = visual_columns(attention, context.visual_positions, n).to(tokens.device)  # (B, T, N)
        raters = self.raters(tokens, context).to(tokens.device)
        w = raters.float().unsqueeze(-1)
        scores = (text_attn * w).sum(dim=1) / w.sum(dim=1).clamp_min(1)
        if k == n:
            return Selection(indices=all_indices(b, n, tokens.device), scores=scores)
        kept = topk_sorted(scores, k)
        extra = None
        if self.recycle:
            mask = torch.ones(b, n, dtype=torch.bool, device=tokens.device).scatter_(1, kept, False)
            deleted = mask.nonzero(as_tuple=False)[:, 1].view(b, n - k)
            extra = recycle_tokens(tokens, scores, deleted, self.recycle_ratio, self.cluster_ratio,
                                   self.kmeans_iters)
        return Selection(indices=kept, scores=scores, extra_tokens=extra)

    def extra_repr(self) -> str:
        return f"layer={self.layer}, recycle={self.recycle}, recycle_ratio={self.recycle_ratio}"
