"""One picture of what ReconPruner does to an image (for the training visualiser and docs)."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import torch


def _rgb(x: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float [0, 1] or uint8 -> ``(H, W, 3)`` uint8."""
    x = x.detach().float().cpu()
    if x.max() > 1.5:
        x = x / 255.0
    return (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _cells(values: np.ndarray, grid_hw: Tuple[int, int], size_hw: Tuple[int, int]) -> np.ndarray:
    """``(N,)`` per-token values -> ``(H, W)`` nearest upsampling of the token grid."""
    h, w = grid_hw
    grid = values.reshape(h, w)
    rows = np.minimum(np.arange(size_hw[0]) * h // size_hw[0], h - 1)
    cols = np.minimum(np.arange(size_hw[1]) * w // size_hw[1], w - 1)
    return grid[rows][:, cols]


def recon_panel(img: torch.Tensor, scores: torch.Tensor, grid_hw: Tuple[int, int], ratio: float = 0.5,
                recons: Sequence[Optional[torch.Tensor]] = ()) -> np.ndarray:
    """Image | score heat map | kept tokens at ``ratio`` | reconstructions, side by side.

    Args:
        img: ``(3, H, W)`` the input image (uint8 or [0, 1]).
        scores: ``(N,)`` ReconPruner scores on the ``grid_hw`` token grid.
        grid_hw: ``(h, w)`` token grid, ``h * w = N``.
        ratio: pruning ratio of the kept-token view.
        recons: ``(3, h, w)`` reconstructions in [0, 1], any size (shown at ``H x W``; None entries skipped).

    Returns:
        ``(H, W * (3 + R), 3)`` uint8, ``R`` the reconstructions that are not None.
    """
    import matplotlib

    base = _rgb(img)
    hw = base.shape[:2]
    s = scores.detach().float().cpu().numpy()
    span = max(float(np.abs(s).max()), 1e-6)
    heat = matplotlib.colormaps["coolwarm"](_cells((s / span + 1) / 2, grid_hw, hw))[..., :3]
    heat = (0.45 * base / 255.0 + 0.55 * heat) * 255
    k = max(1, int(s.size * (1.0 - ratio)))
    kept = np.zeros(s.size, dtype=bool)
    kept[np.argsort(-s, kind="stable")[:k]] = True
    kept_px = _cells(kept, grid_hw, hw)[..., None]
    kept_img = np.where(kept_px, base, base * 0.2)
    panels = [base, heat.round().astype(np.uint8), kept_img.round().astype(np.uint8)]
    for r in recons:  # reconstructions may be at a lower resolution: nearest upsampling
        if r is not None:
            r = torch.nn.functional.interpolate(r.detach().float()[None], size=hw, mode="nearest")[0]
            panels.append(_rgb(r))
    return np.concatenate(panels, axis=1)
