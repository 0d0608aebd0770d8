"""Uniform-grid pruning: keep a spatially even subset (pre-LLM baseline).

With ``context.grid_hw`` (the merged token grid ``(H, W)`` of each image
of a sample, tokens concatenated image by image in row-major order) the
budget ``K`` is split over the images in proportion to their token counts;
inside an image it is split over the ``H`` rows as evenly as possible, and
each row keeps evenly spaced columns whose phase is chosen row by row to
balance the column counts (a generalised checkerboard), so at 50% every row
and every column of the grid keeps tokens. Without a grid (or if the grid
does not add up to ``N``) it keeps evenly spaced token indices. Grids are
the merged LLM-token grids, e.g. ``(57, 57)`` for a 1596 x 1596 image.
"""

from __future__ import annotations

import functools
import math
from typing import List, Optional, Sequence, Tuple

import torch

from ..registry import PRUNERS
from ._utils import check_tokens
from .base import KeepSpec, PruningContext, Selection, TokenPruner, resolve_keep


def _split_evenly(total: int, weights: Sequence[int]) -> List[int]:
    """Split ``total`` into ``len(weights)`` integers proportional to ``weights``."""
    cum = 0
    acc = 0
    out = []
    wsum = sum(weights)
    for w in weights:
        cum += w
        nxt = (total * cum) // wsum
        out.append(nxt - acc)
        acc = nxt
    return out


def evenly_spaced(num_tokens: int, k: int) -> torch.Tensor:
    """``(k,)`` long: ``k`` centred, evenly spaced indices in ``[0, num_tokens)``."""
    t = torch.arange(k, dtype=torch.float64)
    return torch.floor((t + 0.5) * num_tokens / k).long().clamp_max(num_tokens - 1)


@functools.lru_cache(maxsize=256)
def _grid_indices_cached(height: int, width: int, k: int, phases: int) -> Tuple[int, ...]:
    per_row = _split_evenly(k, [1] * height)
    col_count = [0] * width
    out: List[int] = []
    for r, n_r in enumerate(per_row):
        if n_r == 0:
            continue
        step = width / n_r
        best_cost, best_cols = None, None
        for j in range(phases):
            offset = (j + 0.5) / phases * step
            cols = [min(width - 1, int(math.floor(offset + t * step + 1e-9))) for t in range(n_r)]
            cost = sum(col_count[c] for c in cols)
            if best_cost is None or cost < best_cost:
                best_cost, best_cols = cost, cols
        for c in best_cols:
            col_count[c] += 1
        out.extend(r * width + c for c in best_cols)
    return tuple(out)


def grid_indices(height: int, width: int, k: int, phases: int = 16) -> torch.Tensor:
    """``(k,)`` ascending row-major indices of an even ``k``-subset of an ``H x W`` grid.

    Rows get ``k / H`` tokens each (differing by at most one); a row's
    tokens are evenly spaced with step ``W / n_row``, and its phase is the
    one of ``phases`` candidates that lands on the columns used least so far,
    which balances the column counts (a checkerboard at 50% on even grids).
    Cached per ``(H, W, k)``.
    """
    return torch.tensor(_grid_indices_cached(int(height), int(width), int(k), int(phases)), dtype=torch.long)


def _grid_selection(grids: Optional[Sequence[Tuple[int, int]]], n: int, k: int) -> torch.Tensor:
    """``(k,)`` indices spread over each image's ``(H, W)`` grid (evenly spaced without grids)."""
    if not grids or sum(int(h) * int(w) for h, w in grids) != n:
        return evenly_spaced(n, k)
    sizes = [int(h) * int(w) for h, w in grids]
    budgets = _split_evenly(k, sizes)
    parts, start = [], 0
    for (h, w), size, k_i in zip(grids, sizes, budgets):
        if k_i > 0:
            parts.append(grid_indices(int(h), int(w), k_i) + start)
        start += size
    return torch.cat(parts)


@PRUNERS.register_module(name="grid")
class GridPruner(TokenPruner):
    """Uniform spatial subsampling over the token grid; content-independent."""

    stage = "pre_llm"

    def select(self, tokens: torch.Tensor, keep: KeepSpec,
               context: Optional[PruningContext] = None) -> Selection:
        """The same indices for every row whose grids are the same; ``scores`` is None."""
        check_tokens(tokens)
        b, n, _ = tokens.shape
        k = resolve_keep(keep, n)
        rows = context.per_sample_grids(b) if context is not None else [None] * b
        keys = [tuple(grids) if grids else None for grids in rows]
        by_grids = {key: _grid_selection(key, n, k) for key in set(keys)}
        idx = torch.stack([by_grids[key] for key in keys]).to(tokens.device)
        return Selection(indices=idx)
