"""Kept-token overlay and foreground recall on hand-made masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastdrive.evaluation.token_overlay import (cell_edges, cell_fractions, foreground_recall,
                                                overlay_kept_tokens)


def _image(h: int = 40, w: int = 60) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(30, 226, size=(h, w, 3), dtype=np.uint8)


def test_overlay_keeps_kept_interiors_and_changes_pruned_cells():
    img = _image()  # 4 x 6 grid of 10 px cells
    kept = np.zeros((4, 6), dtype=bool)
    kept[1, 2] = kept[3, 5] = True
    out = overlay_kept_tokens(img, kept, alpha=0.8)
    assert out.shape == img.shape and out.dtype == np.uint8
    for r, c in [(1, 2), (3, 5)]:  # interiors (inside the 1 px grid line) are untouched
        y, x = r * 10, c * 10
        np.testing.assert_array_equal(out[y + 1:y + 9, x + 1:x + 9], img[y + 1:y + 9, x + 1:x + 9])
        assert not np.array_equal(out[y, x:x + 10], img[y, x:x + 10])  # grid line drawn
    pruned = ~np.repeat(np.repeat(kept, 10, 0), 10, 1)
    diff = np.abs(out.astype(int) - img.astype(int)).sum(-1)
    assert (diff[pruned] > 0).all()
    assert out[pruned].mean() < img[pruned].mean()  # dimmed
    assert np.array_equal(img, _image())  # input not modified


def test_overlay_alpha_zero_and_all_kept():
    img = _image()
    none_kept = np.zeros((4, 6), dtype=bool)
    np.testing.assert_array_equal(overlay_kept_tokens(img, none_kept, alpha=0.0), img)
    all_kept = overlay_kept_tokens(img, ~none_kept)
    inner = np.ones((40, 60), dtype=bool)
    inner[::10] = inner[9::10] = False
    inner[:, ::10] = inner[:, 9::10] = False
    np.testing.assert_array_equal(all_kept[inner], img[inner])


def test_overlay_draws_foreground_outline():
    img = np.full((40, 60, 3), 128, dtype=np.uint8)
    fg = np.zeros((40, 60), dtype=bool)
    fg[12:28, 22:38] = True
    out = overlay_kept_tokens(img, np.ones((4, 6), dtype=bool), fg)
    assert tuple(out[12, 25]) == (255, 40, 40) and tuple(out[20, 22]) == (255, 40, 40)
    assert tuple(out[15, 25]) == (128, 128, 128)  # inside the object, off the grid lines


def test_overlay_non_multiple_sizes_and_bad_input():
    img = _image(37, 53)
    kept = np.eye(3, 5, dtype=bool)
    assert overlay_kept_tokens(img, kept).shape == (37, 53, 3)
    with pytest.raises(ValueError):
        overlay_kept_tokens(img.astype(np.float32), kept)
    with pytest.raises(ValueError):
        overlay_kept_tokens(img, kept, fg_mask=np.zeros((10, 10), bool))
    with pytest.raises(ValueError):
        overlay_kept_tokens(img, kept, alpha=1.5)


def test_cell_fractions_and_edges():
    assert cell_edges(10, 3).tolist() == [0, 3, 7, 10]
    fg = np.zeros((4, 4), dtype=bool)
    fg[:2, :2] = True
    fg[2, 2] = True
    np.testing.assert_allclose(cell_fractions(fg, (2, 2)), [[1.0, 0.0], [0.0, 0.25]])


def test_foreground_recall_hand_made():
    fg = np.zeros((40, 60), dtype=bool)
    fg[0:10, 0:30] = True           # cells (0,0) (0,1) (0,2): full
    fg[10:16, 0:10] = True          # cell (1,0): 60% -> foreground
    fg[20:24, 0:10] = True          # cell (2,0): 40% -> not foreground
    kept = np.zeros((4, 6), dtype=bool)
    kept[0, 0] = kept[1, 0] = kept[2, 0] = kept[3, 5] = True
    assert foreground_recall(kept, fg) == pytest.approx(2 / 4)
    assert foreground_recall(kept, fg, cell_threshold=0.3) == pytest.approx(3 / 5)
    assert foreground_recall(np.ones((4, 6), bool), fg) == 1.0
    assert foreground_recall(np.zeros((4, 6), bool), fg) == 0.0
    assert math.isnan(foreground_recall(kept, np.zeros((40, 60), bool)))
    with pytest.raises(ValueError):
        foreground_recall(kept, fg, cell_threshold=1.0)
