"""LightVLA: differentiable query-based token selection, adaptive count (pre-LLM).

Parameter-free variant (``'lightvla'``): visual tokens ``V`` and text
tokens ``T`` (``context.text_embeds``) are RMS-normalised; one query per
visual token is formed by cross-attention of the visual tokens to the text,
``Q = softmax(V T^T / sqrt(D)) T`` ``(N, D)``; scores ``S = Q V^T / sqrt(D)``
``(N, N)``; each query picks its argmax token and the kept set is the union
of the picks (its size adapts to the input). Without text embeddings the
visual tokens attend to themselves (``T = V``).

``'lightvla_star'`` replaces the queries by ``num_queries`` learnable ones.

Pruners are built in ``eval()`` mode. Training (module in ``train()`` mode
or ``context.training``): uniform noise ``noise_scale * U(0, 1)`` is added
to the scores (``noise_scale`` is an attribute a training hook decays
linearly from 1 to 0; the paper names Gumbel noise, its public code uses
uniform) and ``Selection.soft_mask``
carries the straight-through keep mask: per query
``onehot(argmax) + softmax - stopgrad(softmax)``, reduced over queries by
max, so its value is the hard union mask and its gradient flows into the
scores.

``keep``: ``None`` means the pure adaptive union. An int or share ``K < N``
caps the count (the union's top-``K`` by score); ``K == N`` (share 1.0)
keeps everything (pruning off). ``Selection.counts`` gives each row's count;
rows are padded with ``-1``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from ..registry import PRUNERS
from ._utils import all_indices, check_tokens, rms_normalize
from .base import KeepSpec, PruningContext, Selection, TokenPruner, pad_rows, resolve_keep


class _QuerySelector(TokenPruner):
    """Shared selection: argmax per query, union, optional cap, STE in training."""

    stage = "pre_llm"
    adaptive = True

    def __init__(self, noise_scale: float = 0.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.noise_scale = float(noise_scale)
        self.eps = float(eps)
        self.eval()  # built for inference; a trainer calls .train()

    def query_scores(self, tokens: torch.Tensor, context: Optional[PruningContext]) -> torch.Tensor:
        """``(B, Qn, N)`` query-to-token scores."""
        raise NotImplementedError

    def select(self, tokens: torch.Tensor, keep: Optional[KeepSpec],
               context: Optional[PruningContext] = None) -> Selection:
        """Union of per-query argmaxes; ``scores`` ``(B, N)`` = max score over queries."""
        check_tokens(tokens)
        b, n, _ = tokens.shape
        k = n if keep is None else resolve_keep(keep, n)
        training = self.training or bool(context is not None and context.training)
        if keep is not None and k == n and not training:
            return Selection(indices=all_indices(b, n, tokens.device))
        scores = self.query_scores(tokens, context)  # (B, Qn, N)
        if training and self.noise_scale > 0:
            scores = scores + self.noise_scale * torch.rand_like(scores)
        pick = scores.argmax(dim=2)  # (B, Qn)
        hard = torch.zeros(b, n, dtype=torch.bool, device=tokens.device).scatter_(1, pick, True)
        token_scores = scores.amax(dim=1)
        soft_mask = None
        if training:
            prob = scores.softmax(dim=2)
            onehot = torch.zeros_like(prob).scatter_(2, pick.unsqueeze(2), 1.0)
            soft_mask = (onehot + prob - prob.detach()).amax(dim=1)
        counts = hard.sum(dim=1)
        if keep is not None and int(counts.max()) > k:
            # Cap: keep the union's top-K by score.
            masked = token_scores.detach().masked_fill(~hard, float("-inf"))
            top = masked.topk(k, dim=1).indices
            capped = torch.zeros_like(hard).scatter_(1, top, True) & hard
            hard = capped
        rows = [hard[i].nonzero(as_tuple=False).squeeze(1) for i in range(b)]
        indices, counts = pad_rows(rows, device=tokens.device)
        return Selection(indices=indices, scores=token_scores.detach(), counts=counts, soft_mask=soft_mask)

    def extra_repr(self) -> str:
        return f"noise_scale={self.noise_scale}"


@PRUNERS.register_module(name="lightvla")
class LightVLA(_QuerySelector):
    """Parameter-free LightVLA (queries from visual-to-text cross-attention).

    Args:
        noise_scale: training noise scale (set by a schedule; 0 at inference).
        eps: RMS-norm epsilon.
    """

    def query_scores(self, tokens: torch.Tensor, context: Optional[PruningContext]) -> torch.Tensor:
        d = tokens.shape[-1]
        v = rms_normalize(tokens, self.eps)
        text = context.text_embeds if context is not None else None
        text_mask = context.text_mask if context is not None else None
        if text is None:
            t, text_mask = v, None
        else:
            if text.shape[0] != tokens.shape[0] or text.shape[-1] != d:
                raise ValueError(f"text_embeds must be (B, T, {d}), got {tuple(text.shape)}")
            t = rms_normalize(text.to(tokens.device), self.eps)
        logits = v @ t.transpose(1, 2) / math.sqrt(d)  # (B, N, T)
        if text_mask is not None:
            logits = logits.masked_fill(~text_mask.bool().to(tokens.device).unsqueeze(1), float("-inf"))
        # S = Q V^T with Q = softmax(.) T, computed as softmax(.) (T V^T): N^2 T
        # multiply-adds instead of N^2 D (T is the short text, D the width).
        weights = logits.softmax(dim=-1)  # (B, N, T)
        if t.shape[1] <= d:
            return weights @ (t @ v.transpose(1, 2) / math.sqrt(d))  # (B, N, N)
        return (weights @ t / math.sqrt(d)) @ v.transpose(1, 2)


@PRUNERS.register_module(name="lightvla_star")
class LightVLAStar(_QuerySelector):
    """LightVLA* with ``num_queries`` learnable queries ``(Qn, D)``.

    Args:
        hidden_size: ``D`` of the visual tokens.
        num_queries: number of learnable queries (the count upper bound).
        noise_scale, eps: as :class:`LightVLA`.
    """

    def __init__(self, hidden_size: int = 2048, num_queries: int = 128,
                 noise_scale: float = 0.0, eps: float = 1e-6) -> None:
        super().__init__(noise_scale=noise_scale, eps=eps)
        self.hidden_size = int(hidden_size)
        self.queries = nn.Parameter(torch.randn(int(num_queries), self.hidden_size))

    def query_scores(self, tokens: torch.Tensor, context: Optional[PruningContext]) -> torch.Tensor:
        d = tokens.shape[-1]
        if d != self.hidden_size:
            raise ValueError(f"lightvla_star was built for hidden_size={self.hidden_size}, tokens have D={d}")
        v = rms_normalize(tokens, self.eps)
        q = rms_normalize(self.queries, self.eps).to(v.dtype)
        return torch.einsum("qd,bnd->bqn", q, v) / math.sqrt(d)

    def extra_repr(self) -> str:
        return f"hidden_size={self.hidden_size}, num_queries={self.queries.shape[0]}, {super().extra_repr()}"
