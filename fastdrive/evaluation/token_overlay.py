"""Kept-token overlays over a camera image, and foreground recall of a kept mask.

A VLA's merged visual tokens tile the (resized) camera image in an ``h x w``
grid. :func:`overlay_kept_tokens` draws which cells a pruner kept (pruned
cells dimmed and greyed, kept cells unchanged with thin grid lines, like the
figures of LightVLA and FastDriveVLA); :func:`foreground_recall` is the
share of foreground token cells that were kept (DESIGN.md section 6).

Pure functions on numpy arrays: no file I/O.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

__all__ = ["cell_edges", "cell_fractions", "foreground_recall", "overlay_kept_tokens"]

_GRID_RGB = np.array([255, 255, 255], dtype=np.float32)
_OUTLINE_RGB = np.array([255, 40, 40], dtype=np.uint8)


def cell_edges(size: int, cells: int) -> np.ndarray:
    """``(cells + 1,)`` int pixel boundaries splitting ``size`` pixels into ``cells`` near-equal cells."""
    return np.round(np.linspace(0, size, cells + 1)).astype(np.int64)


def _check_mask(kept_mask: np.ndarray) -> np.ndarray:
    kept = np.asarray(kept_mask)
    if kept.ndim != 2 or kept.shape[0] < 1 or kept.shape[1] < 1:
        raise ValueError(f"kept_mask must be a non-empty (h, w) array, got shape {kept.shape}")
    return kept.astype(bool)


def cell_fractions(fg_mask: np.ndarray, grid: Tuple[int, int]) -> np.ndarray:
    """``(h, w)`` float share of foreground pixels in each token cell.

    Args:
        fg_mask: ``(H, W)`` bool (or 0/1) foreground mask at image resolution.
        grid: ``(h, w)`` token grid; cells use :func:`cell_edges` boundaries
            (the image need not be a multiple of the grid).
    """
    fg = np.asarray(fg_mask).astype(np.float64)
    if fg.ndim != 2:
        raise ValueError(f"fg_mask must be (H, W), got shape {fg.shape}")
    h, w = grid
    if fg.shape[0] < h or fg.shape[1] < w:
        raise ValueError(f"fg_mask {fg.shape} is smaller than the token grid {grid}")
    ys, xs = cell_edges(fg.shape[0], h), cell_edges(fg.shape[1], w)
    # summed-area table: cell sums in O(H*W + h*w)
    sat = np.zeros((fg.shape[0] + 1, fg.shape[1] + 1))
    sat[1:, 1:] = fg.cumsum(0).cumsum(1)
    sums = sat[ys[1:, None], xs[None, 1:]] - sat[ys[:-1, None], xs[None, 1:]] \
        - sat[ys[1:, None], xs[None, :-1]] + sat[ys[:-1, None], xs[None, :-1]]
    area = np.diff(ys)[:, None] * np.diff(xs)[None, :]
    return sums / area


def foreground_recall(kept_mask: np.ndarray, fg_mask: np.ndarray, cell_threshold: float = 0.5) -> float:
    """Share of foreground token cells that are kept.

    A cell counts as foreground when more than ``cell_threshold`` of its
    pixels are foreground ("mostly foreground").

    Args:
        kept_mask: ``(h, w)`` bool, True on kept tokens.
        fg_mask: ``(H, W)`` bool foreground mask of the same image (any
            resolution at least the grid's).
        cell_threshold: minimum foreground share (exclusive) of a
            foreground cell, in ``[0, 1)``.

    Returns:
        Recall in ``[0, 1]``, or ``nan`` when no cell is foreground.
    """
    kept = _check_mask(kept_mask)
    if not 0.0 <= cell_threshold < 1.0:
        raise ValueError(f"cell_threshold must be in [0, 1), got {cell_threshold}")
    fg_cells = cell_fractions(fg_mask, kept.shape) > cell_threshold
    total = int(fg_cells.sum())
    if total == 0:
        return float("nan")
    return float((fg_cells & kept).sum()) / total


def _outline(mask: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool inner boundary pixels of a bool mask (4-neighbourhood)."""
    m = mask.astype(bool)
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def overlay_kept_tokens(
    image: np.ndarray,
    kept_mask: np.ndarray,
    fg_mask: Optional[np.ndarray] = None,
    alpha: float = 0.8,
) -> np.ndarray:
    """Draw kept tokens over an image.

    Pruned cells are greyed and darkened with strength ``alpha`` (0 leaves
    them unchanged, 1 makes them flat dark grey). Kept cells keep their
    pixels, except for a 1 px light grid line along the cell boundaries that
    lie between a kept cell and anything else (so neighbouring kept cells
    read as separate tokens without hiding the image). With ``fg_mask`` the
    foreground outline is drawn in red on top (in kept and pruned cells).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        kept_mask: ``(h, w)`` bool over the merged token grid; cell ``(r, c)``
            covers rows ``cell_edges(H, h)[r:r+2]`` and columns
            ``cell_edges(W, w)[c:c+2]`` of the image.
        fg_mask: optional ``(H, W)`` bool foreground mask.
        alpha: dimming strength of pruned cells, in ``[0, 1]``.

    Returns:
        ``(H, W, 3)`` uint8 RGB; the input is not modified.
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got shape {img.shape} dtype {img.dtype}")
    kept = _check_mask(kept_mask)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    H, W = img.shape[:2]
    h, w = kept.shape
    if H < h or W < w:
        raise ValueError(f"image {H}x{W} is smaller than the token grid {h}x{w}")
    ys, xs = cell_edges(H, h), cell_edges(W, w)
    row_of = np.repeat(np.arange(h), np.diff(ys))  # (H,) cell row of each pixel row
    col_of = np.repeat(np.arange(w), np.diff(xs))  # (W,)
    kept_px = kept[row_of[:, None], col_of[None, :]]  # (H, W)

    out = img.astype(np.float32)
    grey = out.mean(axis=2, keepdims=True)
    dim = (1.0 - alpha) * out + alpha * (0.25 * grey + 12.0)
    out = np.where(kept_px[..., None], out, dim)

    # 1 px grid lines on the inner border of kept cells
    top = np.zeros(H, dtype=bool)
    top[ys[:-1]] = True
    left = np.zeros(W, dtype=bool)
    left[xs[:-1]] = True
    bottom = np.zeros(H, dtype=bool)
    bottom[ys[1:] - 1] = True
    right = np.zeros(W, dtype=bool)
    right[xs[1:] - 1] = True
    border = (top | bottom)[:, None] | (left | right)[None, :]
    line = kept_px & border
    out[line] = 0.55 * out[line] + 0.45 * _GRID_RGB
    res = np.clip(np.round(out), 0, 255).astype(np.uint8)

    if fg_mask is not None:
        fg = np.asarray(fg_mask).astype(bool)
        if fg.shape != (H, W):
            raise ValueError(f"fg_mask shape {fg.shape} does not match the image {(H, W)}")
        res[_outline(fg)] = _OUTLINE_RGB
    return res
