"""Uniform-grid pruner: evenly spread over the token grid."""

import pytest
import torch

from fastdrive.pruning import PruningContext, build_pruner
from fastdrive.pruning.grid import evenly_spaced, grid_indices


def _rows_cols(idx, width):
    return idx // width, idx % width


@pytest.mark.parametrize("h,w", [(8, 8), (6, 10), (57, 57)])
def test_half_covers_every_row_and_column(h, w):
    tokens = torch.zeros(2, h * w, 4)
    sel = build_pruner("grid").select(tokens, 0.5, PruningContext(grid_hw=[(h, w)]))
    assert sel.indices.shape == (2, (h * w) // 2)
    r, c = _rows_cols(sel.indices[0], w)
    assert set(r.tolist()) == set(range(h))
    assert set(c.tolist()) == set(range(w))
    counts_per_row = torch.bincount(r, minlength=h)
    assert int(counts_per_row.max() - counts_per_row.min()) <= 1
    counts_per_col = torch.bincount(c, minlength=w)
    assert int(counts_per_col.max() - counts_per_col.min()) <= 2


def test_half_on_even_grid_is_a_checkerboard():
    idx = grid_indices(4, 4, 8)
    r, c = _rows_cols(idx, 4)
    assert torch.all((r + c) % 2 == 0) or torch.all((r + c) % 2 == 1)


@pytest.mark.parametrize("keep", [0.25, 0.75])
def test_other_ratios_spread_over_columns(keep):
    h = w = 8
    ctx = PruningContext(grid_hw=[(h, w)])
    idx = build_pruner("grid").select(torch.zeros(1, 64, 2), keep, ctx).indices[0]
    r, c = _rows_cols(idx, w)
    assert torch.bincount(r, minlength=h).tolist() == [int(keep * w)] * h
    assert set(c.tolist()) == set(range(w))


def test_budget_split_over_images_and_fallback():
    ctx = PruningContext(grid_hw=[(4, 4), (2, 8)])
    idx = build_pruner("grid").select(torch.zeros(1, 32, 2), 0.5, ctx).indices[0]
    assert int((idx < 16).sum()) == 8 and int((idx >= 16).sum()) == 8
    # Without a grid (or a grid that does not match N): evenly spaced indices.
    idx = build_pruner("grid").select(torch.zeros(1, 30, 2), 10).indices[0]
    assert idx.tolist() == evenly_spaced(30, 10).tolist()
    gaps = idx[1:] - idx[:-1]
    assert set(gaps.tolist()) == {3}


def test_each_sample_gets_its_own_grid():
    """A batch of a landscape (3x6) and a portrait (6x3) frame: every row spreads over its own grid."""
    tokens = torch.zeros(2, 18, 2)
    ctx = PruningContext(grid_hw=[(3, 6)], sample_grids=[[(3, 6)], [(6, 3)]])
    idx = build_pruner("grid").select(tokens, 0.5, ctx).indices
    for row, (h, w) in zip(idx, [(3, 6), (6, 3)]):
        assert row.tolist() == grid_indices(h, w, 9).tolist()
        r, c = _rows_cols(row, w)
        assert set(r.tolist()) == set(range(h)) and set(c.tolist()) == set(range(w))
    assert idx[0].tolist() != idx[1].tolist()
