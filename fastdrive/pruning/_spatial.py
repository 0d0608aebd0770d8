"""Spatial fill: complete a preselected token set by farthest-point sampling on the token grid.

A top-``K`` by a foreground score spends the whole budget on one kind of
token (objects, then whatever the scorer ranks next). A planner also reads
the layout of the scene (road edges, the horizon) from tokens spread over the
image. :func:`spatial_fill` keeps the preselected tokens and adds, one at a
time, the token farthest (Euclidean, in token-grid cells) from every token
kept so far: the classic farthest-point sampling, seeded with the selection.
Ties (a regular grid has many) go to the higher score.

Tokens are concatenated image by image in row-major order. Tokens of different
images are :data:`_IMAGE_GAP` cells apart, so an image without a kept token
gets one before any image gets a second fill token nearby. Without the grids
(no context) the tokens are spaced by their index, which on an image spreads
them by rows rather than over the image.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch

Grid = Tuple[int, int]

_IMAGE_GAP = 1.0e4
"""Grid cells between consecutive images' coordinate frames (farther than any in-image distance)."""

_TIE_WEIGHT = 1.0e-4
"""Weight of the normalised score in the pick key: below the smallest gap between distinct
in-grid distances (for the first pick in an empty image, float32 near 1e4 resolves about 1e-3:
the tie then goes to the lower index)."""


def token_coordinates(grids: Optional[Sequence[Grid]], num_tokens: int) -> torch.Tensor:
    """``(N, 3)`` float (image index, row, column) of each token in its image's grid.

    Without ``grids`` (None) the tokens lie on one row of one image, at their index.
    """
    if grids is None:
        idx = torch.arange(num_tokens, dtype=torch.float32)
        return torch.stack([torch.zeros_like(idx), torch.zeros_like(idx), idx], dim=1)
    parts: List[torch.Tensor] = []
    for j, (h, w) in enumerate(grids):
        rows = torch.arange(h, dtype=torch.float32).repeat_interleave(w)
        cols = torch.arange(w, dtype=torch.float32).repeat(h)
        parts.append(torch.stack([torch.full_like(rows, float(j)), rows, cols], dim=1))
    coords = torch.cat(parts, dim=0)
    if coords.shape[0] != num_tokens:
        raise ValueError(f"grids {list(grids)} hold {coords.shape[0]} tokens, not {num_tokens}")
    return coords


def grid_distances(coords: torch.Tensor) -> torch.Tensor:
    """``(B, N, N)`` distances in grid cells between tokens of ``coords (B, N, 3)``.

    Within an image: the Euclidean distance, computed from coordinate differences (exact for
    grid cells; ``torch.cdist``'s matrix-product shortcut is not). Between images:
    :data:`_IMAGE_GAP` plus the in-grid distance.
    """
    image, row, col = coords.unbind(dim=-1)  # (B, N) each
    planar = torch.hypot(row.unsqueeze(2) - row.unsqueeze(1), col.unsqueeze(2) - col.unsqueeze(1))
    return planar + _IMAGE_GAP * (image.unsqueeze(2) != image.unsqueeze(1)).to(planar.dtype)


def spatial_fill(preselected: torch.Tensor, k: int, grids: Optional[Sequence[Sequence[Grid]]] = None,
                 scores: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Complete ``preselected`` to ``k`` tokens per row by farthest-point sampling on the token grid.

    Args:
        preselected: ``(B, N)`` bool, tokens kept already (at most ``k`` per row).
        k: tokens per row to end with (``1 <= k <= N``).
        grids: per sample, the ``(H, W)`` grid of each image (adding up to ``N``),
            or None (tokens on a line, by index).
        scores: optional ``(B, N)`` scores; among equally far tokens the higher
            score is picked (else the lower index).

    Returns:
        ``(B, N)`` bool with exactly ``k`` True per row, ``preselected`` included.
    """
    b, n = preselected.shape
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    mask = preselected.bool().clone()
    if int(mask.sum(dim=1).max()) > k:
        raise ValueError(f"more than k={k} tokens preselected in a row")
    device = preselected.device
    coords = torch.stack([token_coordinates(None if grids is None else grids[i], n)
                          for i in range(b)]).to(device)
    dist = grid_distances(coords)  # (B, N, N)
    tie = torch.zeros(b, n, device=device)
    if scores is not None:
        s = scores.detach().float().to(device)
        lo, hi = s.amin(dim=1, keepdim=True), s.amax(dim=1, keepdim=True)
        tie = _TIE_WEIGHT * (s - lo) / (hi - lo).clamp_min(1e-12)
    # distance of every token to the kept set; rows with nothing kept start from the first image's centre
    nearest = dist.masked_fill(~mask.unsqueeze(1), torch.finfo(dist.dtype).max).amin(dim=2)
    for row in torch.nonzero(~mask.any(dim=1)).flatten().tolist():
        h, w = grids[row][0] if grids is not None else (1, n)
        centre = (h // 2) * w + w // 2
        nearest[row] = dist[row, centre]
        mask[row, centre] = True
    need = k - mask.sum(dim=1)
    for _ in range(int(need.max())):
        active = need > 0
        key = torch.where(mask, torch.full_like(nearest, -1.0), nearest + tie)
        pick = key.argmax(dim=1)  # (B,)
        rows = torch.nonzero(active).flatten()
        mask[rows, pick[rows]] = True
        nearest[rows] = torch.minimum(nearest[rows], dist[rows, pick[rows]])
        need = need - active.long()
    return mask
