"""Peaks first: one token per blob of the score map before a second token of any blob.

A top-``K`` by score spends a tight budget on the several adjacent tokens of
a large object (a near vehicle covers many cells, and its halo scores next)
and leaves far, small objects out. Local maxima of the score map (a token
not below any of its 8 neighbours in its image's token grid, as in keypoint
heads such as CenterNet) mark separate blobs. :func:`peaks_first` keeps the
foreground (score above the threshold) first, peaks before the rest, and
then the peaks of the remaining map before its other tokens, so that the
budget left after the foreground reaches other blobs instead of the halo.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch.nn import functional as F

from .base import PruningContext

Grid = Tuple[int, int]


def sample_grids(context: Optional[PruningContext], batch: int, num_tokens: int) -> Optional[List[List[Grid]]]:
    """Per sample, the ``(H, W)`` token grid of each image, or None when the context has none that adds up to ``N``."""
    if context is None:
        return None
    grids = context.per_sample_grids(batch)
    if any(g is None or sum(h * w for h, w in g) != num_tokens for g in grids):
        return None
    return grids


def peak_mask(scores: torch.Tensor, grids: Sequence[Sequence[Grid]], threshold: float = 0.0) -> torch.Tensor:
    """``(B, N)`` bool: tokens whose score exceeds ``threshold`` and is a maximum of its 3x3 grid neighbourhood.

    Args:
        scores: ``(B, N)`` token scores; tokens concatenated image by image in row-major order.
        grids: per sample, the ``(H, W)`` grid of each image (sizes add up to ``N``).
        threshold: only tokens scored above it can be peaks (0: the ReconPruner's foreground).
    """
    out = torch.zeros_like(scores, dtype=torch.bool)
    for b, images in enumerate(grids):
        start = 0
        for h, w in images:
            s = scores[b, start:start + h * w].reshape(1, 1, h, w).float()
            pooled = F.max_pool2d(s, kernel_size=3, stride=1, padding=1)
            out[b, start:start + h * w] = ((s >= pooled) & (s > threshold)).flatten()
            start += h * w
    return out


def peaks_first(scores: torch.Tensor, grids: Sequence[Sequence[Grid]], threshold: float = 0.0) -> torch.Tensor:
    """``(B, N)`` ranking keys in four tiers, each by score: peaks above ``threshold`` (one per
    foreground blob), the other tokens above it, then the peaks of the rest of the map (one per
    faint blob: a far object scored just below the threshold, rather than the halo around a
    near one), then every other token.
    """
    s = scores.float()
    lift = (s.max() - s.min()).abs() + 1.0
    above = s > threshold
    peaks = peak_mask(s, grids, threshold=float("-inf"))
    return s + lift * (2.0 * (above & peaks).float() + above.float() + peaks.float())
