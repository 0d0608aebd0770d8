"""DART: duplication-aware token reduction with pivot tokens (in-LLM).

Follows the authors' Qwen2.5-VL implementation (``get_retained_image_token``
of ``Qwen2_5-VL/Qwen2_5VL_DART/modeling_qwen2_5_vl_self.py`` in the DART
repository, ZichenWen1/DART). Before LLM layer ``K`` (2 by default):

1. Pivots, by the L1 norm of layer ``K-1``'s key states (``context.keys``):
   the ``P_img`` image tokens with the largest norm (``num_pivots``, 4) and
   the ``P_txt`` prompt tokens *after the image span* with the largest norm
   (``num_text_pivots``, 4; every real token after the last visual token,
   ``<|vision_end|>`` included, as the authors slice ``k[start + N:]``).
2. Each pivot in turn adds the ``T`` image tokens least cosine-similar to it
   among those not yet taken (image pivots count as taken from the start).
   Similarity is computed on the *final-normed* hidden states: the host
   model's ``language_model.norm`` applied to layer ``K-1``'s output
   (``context.extra['final_norm']``, a callable the adapter passes).
3. The text pivots are dropped from the kept set; the image pivots stay.

Pivot order (``pivot_order``): the authors iterate ``list(set(pivots))``
over the pivots' sequence positions, i.e. CPython's set order of those
integers; ``'authors'`` reproduces it (positions counted from the sample's
first real token, as in an unpadded batch-1 run). ``'norm'`` takes the image
pivots by decreasing norm, then the text pivots by decreasing norm.

Budget (``budget``), with ``K = resolve_keep(keep, N)`` and
``P = P_img + P_txt``:

* ``'exact'`` (default, a FastDrive choice: every method keeps the same
  count, so ratios compare across methods): exactly ``K`` tokens. Each pivot
  adds ``T = (K - P_img) // P`` tokens; the rest of the budget goes to the
  untaken tokens whose highest similarity to any pivot is lowest. If
  ``K <= P_img`` the ``K`` largest-norm image tokens are kept.
* ``'authors'``: the authors' count ``P_img + T * P`` with
  ``T = K // P`` (= their ``int(N * (1 - r) / P)``), e.g. 148 instead of
  144 at ``N = 576``, ``r = 0.75``. :meth:`DART.authors_count` reports it
  for any ``(N, keep)`` in either mode.

Missing inputs: without ``context.hidden_states (B, L, D)`` of the full
sequence, ``visual_positions`` and full-sequence keys (standalone use on
visual tokens only) there are no text pivots and ``P = P_img``; a sample
with fewer than ``P_txt`` tokens after the image uses those it has. Without
``final_norm`` the raw hidden states are compared. Without keys the pivots
rank by the hidden states' own L1 norm.

Earlier FastDrive behaviour (8 image pivots, no text pivots, raw hidden
states, pivots by norm) is ``num_pivots=8, num_text_pivots=0,
normed_similarity=False, pivot_order='norm'`` with the exact budget.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import torch

from ..registry import PRUNERS
from ._utils import all_indices, check_tokens, l2_normalize
from .base import (KeepSpec, PruningContext, Selection, TokenPruner, pad_rows, resolve_keep,
                   topk_sorted)

BUDGETS = ("exact", "authors")
PIVOT_ORDERS = ("authors", "norm")


def _flat_keys(keys: torch.Tensor) -> torch.Tensor:
    """``(B, L, D_k)`` float keys; per-head ``(B, H, L, d)`` become ``(B, L, H * d)``."""
    keys = keys.float()
    return keys.transpose(1, 2).flatten(2) if keys.dim() == 4 else keys


def key_norms(tokens: torch.Tensor, context: Optional[PruningContext]) -> torch.Tensor:
    """``(B, N)`` L1 norm of each image token's key state (hidden state as fallback)."""
    b, n, _ = tokens.shape
    keys = context.keys if context is not None else None
    if keys is None:
        return tokens.float().abs().sum(dim=-1)
    keys = _flat_keys(keys.to(tokens.device))
    pos = context.visual_positions
    if pos is None:
        if keys.shape[1] != n:
            raise ValueError("dart: context.visual_positions is required when keys cover the full sequence")
        vis = keys
    else:
        vis = keys.gather(1, pos.to(tokens.device).long().unsqueeze(-1).expand(-1, -1, keys.shape[-1]))
    return vis.abs().sum(dim=-1)


def post_image_columns(context: Optional[PruningContext]) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """Columns of the real tokens after the last visual token, per sample.

    Needs ``context.hidden_states (B, L, D)``, ``visual_positions (B, N)``
    and ``keys`` over the same ``L``; ``context.extra['sequence_mask']``
    ``(B, L)`` (1 = real token) excludes padding when given.

    Returns:
        ``cols (B, T)`` long (ascending, padded with ``L - 1``) and
        ``valid (B, T)`` bool, or None when the inputs are missing or no
        sample has a token after its image.
    """
    if context is None or context.hidden_states is None or context.visual_positions is None \
            or context.keys is None:
        return None
    hidden = context.hidden_states
    length = hidden.shape[1]
    keys_len = context.keys.shape[-2] if context.keys.dim() == 4 else context.keys.shape[1]
    if keys_len != length:
        return None
    device = hidden.device
    col = torch.arange(length, device=device)[None]
    after = col > context.visual_positions.to(device).long()[:, -1:]
    real = context.extra.get("sequence_mask")
    if real is not None:
        after = after & real.to(device)[:, :length].bool()
    t = int(after.sum(dim=1).max())
    if t == 0:
        return None
    cols = torch.where(after, col, torch.full_like(col, length)).sort(dim=1).values[:, :t]
    valid = cols < length
    return cols.clamp_max(length - 1), valid


def authors_pivot_order(positions: List[int]) -> List[int]:
    """Slots of ``positions`` in the order the authors visit them.

    They iterate ``list(set(image_positions + text_positions))``: CPython's
    set order of the integers (hash = value, so roughly by value modulo the
    table size). Built the same way here, so the order is theirs by
    construction.
    """
    slot = {p: i for i, p in enumerate(positions)}
    return [slot[p] for p in set(positions)]


@PRUNERS.register_module(name="dart")
class DART(TokenPruner):
    """Image and text pivots by key norm, then the tokens least similar to each.

    Args:
        layer: LLM layer before which tokens are dropped (keys and hidden
            states come from layer ``layer - 1``'s output).
        num_pivots: image pivots ``P_img`` (authors: ``pivot_image_token`` = 4).
        num_text_pivots: text pivots ``P_txt`` (authors:
            ``pivot_text_token`` = 4); 0 = image pivots only.
        normed_similarity: compare the final-normed hidden states
            (authors); False compares the raw ones.
        budget: ``'exact'`` keeps ``K`` tokens (FastDrive), ``'authors'``
            keeps ``P_img + (K // P) * P`` (see the module docstring).
        pivot_order: ``'authors'`` (CPython set order of the pivots'
            positions) or ``'norm'``.
    """

    stage = "in_llm"
    request_options = ("layer", "num_pivots", "num_text_pivots")
    attention_rows = "none"
    needs_keys = True

    def __init__(self, layer: int = 2, num_pivots: int = 4, num_text_pivots: int = 4,
                 normed_similarity: bool = True, budget: str = "exact",
                 pivot_order: str = "authors") -> None:
        super().__init__()
        if num_pivots < 1:
            raise ValueError(f"num_pivots must be >= 1, got {num_pivots}")
        if num_text_pivots < 0:
            raise ValueError(f"num_text_pivots must be >= 0, got {num_text_pivots}")
        if budget not in BUDGETS:
            raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
        if pivot_order not in PIVOT_ORDERS:
            raise ValueError(f"pivot_order must be one of {PIVOT_ORDERS}, got {pivot_order!r}")
        self.layer = int(layer)
        self.num_pivots = int(num_pivots)
        self.num_text_pivots = int(num_text_pivots)
        self.normed_similarity = bool(normed_similarity)
        self.budget = budget
        self.pivot_order = pivot_order

    def authors_count(self, num_tokens: int, keep: KeepSpec) -> int:
        """Tokens the authors' code keeps for ``N = num_tokens`` at ``keep``:
        ``min(N, P_img + (K // P) * P)`` with every text pivot present."""
        k = resolve_keep(keep, num_tokens)
        p = self.num_pivots + self.num_text_pivots
        return min(num_tokens, self.num_pivots + (k // p) * p)

    def _features(self, x: torch.Tensor, context: Optional[PruningContext]) -> torch.Tensor:
        """Unit vectors ``(B, S, D)`` of hidden states ``x``, final-normed if asked and available."""
        norm: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
        if self.normed_similarity and context is not None:
            norm = context.extra.get("final_norm")
        if norm is not None:
            x = norm(x)
        return l2_normalize(x)

    def _text_pivots(self, context: Optional[PruningContext], device: torch.device
                     ) -> Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Text pivots: ``cols (B, P_t)``, ``valid (B, P_t)``, hidden ``(B, P_t, D)``."""
        if self.num_text_pivots == 0:
            return None
        found = post_image_columns(context)
        if found is None:
            return None
        cols, valid = found
        keys = _flat_keys(context.keys.to(device))
        norms = keys.gather(1, cols.unsqueeze(-1).expand(-1, -1, keys.shape[-1])).abs().sum(dim=-1)
        norms = norms.masked_fill(~valid, float("-inf"))
        top = norms.topk(min(self.num_text_pivots, cols.shape[1]), dim=1).indices
        t_cols, t_valid = cols.gather(1, top), valid.gather(1, top)
        hidden = context.hidden_states.to(device)
        t_hidden = hidden.gather(1, t_cols.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
        return t_cols, t_valid, t_hidden

    def _order(self, img_cols: torch.Tensor, txt_cols: Optional[torch.Tensor],
               piv_valid: torch.Tensor, context: Optional[PruningContext]) -> torch.Tensor:
        """``(B, P)`` permutation of the pivot slots (image slots first) into visiting order."""
        b, p = piv_valid.shape
        if self.pivot_order == "norm":
            return torch.arange(p, device=piv_valid.device)[None].expand(b, -1)
        real = None if context is None else context.extra.get("sequence_mask")
        cols = img_cols if txt_cols is None else torch.cat([img_cols, txt_cols], dim=1)
        perm = []
        for i in range(b):
            offset = 0 if real is None else int(real[i].bool().long().argmax())
            ok = piv_valid[i].tolist()
            pos = [c - offset for c, v in zip(cols[i].tolist(), ok) if v]
            slots = [j for j in range(p) if ok[j]]
            order = [slots[s] for s in authors_pivot_order(pos)]
            perm.append(order + [j for j in range(p) if not ok[j]])
        return torch.tensor(perm, dtype=torch.long, device=piv_valid.device)

    def select(self, tokens: torch.Tensor, keep: KeepSpec,
               context: Optional[PruningContext] = None) -> Selection:
        """Keep image pivots plus the tokens least similar to each pivot.

        Args:
            tokens: ``(B, N, D)`` hidden states of the visual tokens (layer
                ``K-1``'s output).
            keep: count or share (see :func:`resolve_keep`).
            context: ``keys (B, L, D_k)``, ``visual_positions (B, N)``,
                ``hidden_states (B, L, D)``, ``extra['final_norm']`` and
                ``extra['sequence_mask'] (B, L)`` (see the module docstring).

        Returns:
            ``indices (B, K)`` ascending (``budget='authors'``: ``(B, K')``
            with ``counts``, padded with -1 where samples differ); ``scores``
            ``(B, N)`` the image key L1 norms used for the pivots.
        """
        check_tokens(tokens)
        b, n, _ = tokens.shape
        device = tokens.device
        k = resolve_keep(keep, n)
        norms = key_norms(tokens, context)
        if k == n:
            return Selection(indices=all_indices(b, n, device), scores=norms)
        p_img = min(self.num_pivots, n)
        exact = self.budget == "exact"
        if exact and k <= p_img:
            return Selection(indices=topk_sorted(norms, k), scores=norms)
        pivots = norms.topk(p_img, dim=1).indices  # (B, P_img), largest norm first
        x = self._features(tokens, context)  # (B, N, D)
        piv_x = x.gather(1, pivots.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        piv_valid = torch.ones(b, p_img, dtype=torch.bool, device=device)
        text = self._text_pivots(context, device)
        txt_cols = None
        if text is not None:
            txt_cols, t_valid, t_hidden = text
            piv_x = torch.cat([piv_x, self._features(t_hidden, context)], dim=1)
            piv_valid = torch.cat([piv_valid, t_valid], dim=1)
        img_cols = pivots if context is None or context.visual_positions is None else \
            context.visual_positions.to(device).long().gather(1, pivots)
        perm = self._order(img_cols, txt_cols, piv_valid, context)
        piv_x = piv_x.gather(1, perm.unsqueeze(-1).expand(-1, -1, piv_x.shape[-1]))
        piv_valid = piv_valid.gather(1, perm)
        sim = piv_x @ x.transpose(1, 2)  # (B, P, N)

        p_all = self.num_pivots + (self.num_text_pivots if text is not None else 0)
        per = (k - p_img) // p_all if exact else k // p_all
        chosen = torch.zeros(b, n, dtype=torch.bool, device=device).scatter_(1, pivots, True)
        for j in range(piv_x.shape[1] if per > 0 else 0):
            cand = sim[:, j].masked_fill(chosen, float("inf"))
            pick = (-cand).topk(min(per, n), dim=1).indices  # taken ones rank last
            add = torch.zeros_like(chosen).scatter_(1, pick, True) & piv_valid[:, j:j + 1]
            chosen |= add
        if exact:
            rest = k - chosen.sum(dim=1)  # (B,)
            if bool((rest > 0).any()):
                fill = sim.masked_fill(~piv_valid.unsqueeze(-1), float("-inf")).amax(dim=1)
                order = fill.masked_fill(chosen, float("inf")).argsort(dim=1, stable=True)
                rank = torch.empty_like(order).scatter_(
                    1, order, torch.arange(n, device=device)[None].expand(b, -1).contiguous())
                chosen |= rank < rest.unsqueeze(1)
            indices = chosen.nonzero(as_tuple=False)[:, 1].view(b, k)
            return Selection(indices=indices, scores=norms)
        idx, counts = pad_rows([chosen[i].nonzero(as_tuple=False)[:, 0] for i in range(b)], device=device)
        return Selection(indices=idx, scores=norms, counts=counts)

    def extra_repr(self) -> str:
        return (f"layer={self.layer}, num_pivots={self.num_pivots}, "
                f"num_text_pivots={self.num_text_pivots}, normed_similarity={self.normed_similarity}, "
                f"budget={self.budget!r}, pivot_order={self.pivot_order!r}")
