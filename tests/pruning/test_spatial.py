"""Spatial fill: farthest-point sampling on the token grid, seeded with ReconPruner's top scores."""

from __future__ import annotations

import pytest
import torch

from fastdrive.pruning import build_pruner
from fastdrive.pruning._spatial import spatial_fill, token_coordinates
from fastdrive.pruning.base import PruningContext

KW = dict(hidden_size=32, num_heads=4, num_kv_heads=2, intermediate_size=64)


def test_fill_goes_to_the_farthest_cells_first():
    pre = torch.zeros(1, 12, dtype=torch.bool)
    pre[0, 0] = True  # top-left of a 3 x 4 grid
    mask = spatial_fill(pre, 3, [[(3, 4)]])
    # farthest from (0, 0) is the opposite corner (2, 3) = 11; the third token is the one whose
    # nearer distance to those two is largest (brute force below)
    assert mask[0, 0] and mask[0, 11]
    coords = token_coordinates([(3, 4)], 12)
    d = torch.cdist(coords, coords)
    third = int(torch.minimum(d[0], d[11]).argmax())
    assert mask[0].nonzero().flatten().tolist() == sorted([0, 11, third])


def test_ties_go_to_the_higher_score_and_rows_are_independent():
    pre = torch.zeros(2, 9, dtype=torch.bool)
    pre[:, 4] = True  # the centre of a 3 x 3 grid: the four corners tie
    scores = torch.zeros(2, 9)
    scores[0, 8] = 1.0
    scores[1, 2] = 1.0
    mask = spatial_fill(pre, 2, [[(3, 3)], [(3, 3)]], scores=scores)
    assert mask[0].nonzero().flatten().tolist() == [4, 8]
    assert mask[1].nonzero().flatten().tolist() == [2, 4]


def test_every_image_gets_a_token_before_a_second_fill_nearby():
    pre = torch.zeros(1, 12, dtype=torch.bool)
    pre[0, 0] = True  # image 0 (2 x 3) has one token, image 1 (2 x 3) none
    mask = spatial_fill(pre, 2, [[(2, 3), (2, 3)]])
    assert int(mask[0, 6:].sum()) == 1


def test_empty_rows_start_at_the_centre_and_counts_are_exact():
    mask = spatial_fill(torch.zeros(3, 25, dtype=torch.bool), 7, [[(5, 5)]] * 3)
    assert mask.sum(dim=1).tolist() == [7, 7, 7] and bool(mask[:, 12].all())
    assert spatial_fill(torch.zeros(1, 10, dtype=torch.bool), 10).all()  # no grid: tokens on a line
    with pytest.raises(ValueError, match="k must be"):
        spatial_fill(torch.zeros(1, 4, dtype=torch.bool), 5)
    with pytest.raises(ValueError, match="hold 6 tokens"):
        token_coordinates([(2, 3)], 7)


def test_recon_spatial_fill_keeps_the_top_scores_and_spreads_the_rest():
    torch.manual_seed(0)
    tokens = torch.randn(2, 16, 32)
    plain = build_pruner("recon_untrained", **KW)
    spread = build_pruner("recon_untrained", spatial_fill=0.5, **KW)
    spread.load_state_dict(plain.state_dict())
    context = PruningContext(grid_hw=[(4, 4)])
    s = plain.scores(tokens)
    sel = spread.select(tokens, 8, context).indices
    top4 = s.topk(4, dim=-1).indices
    pre = torch.zeros(2, 16, dtype=torch.bool)
    pre.scatter_(1, top4, True)
    expect = spatial_fill(pre, 8, [[(4, 4)], [(4, 4)]], scores=s)
    for b in range(2):
        assert sel[b].tolist() == expect[b].nonzero().flatten().tolist()
    assert "spatial_fill=0.5" in repr(spread)
    with pytest.raises(ValueError, match="cannot both be above 0"):
        build_pruner("recon_untrained", spatial_fill=0.5, diverse_fill=0.5, **KW)
    with pytest.raises(ValueError, match=r"spatial_fill must be in \[0, 1\)"):
        build_pruner("recon_untrained", spatial_fill=1.0, **KW)


def test_a_request_that_sets_one_fill_drops_the_files_other(tmp_path):
    pruner = build_pruner("recon_untrained", **KW)
    path = tmp_path / "recon.pth"
    torch.save(pruner.checkpoint_dict(selection={"diverse_fill": 0.5}), path)
    asked = build_pruner("recon", **KW, weights=str(path), spatial_fill=0.25)
    assert (asked.spatial_fill, asked.diverse_fill) == (0.25, 0.0)
    assert build_pruner("recon", **KW, weights=str(path)).diverse_fill == 0.5


def test_two_large_images_match_a_float64_brute_force():
    """Distances inside the second image stay exact (no matrix-product rounding at large offsets)."""
    grids = [(8, 8), (8, 8)]
    pre = torch.zeros(1, 128, dtype=torch.bool)
    pre[0, [3, 70]] = True  # one token in each image
    mask = spatial_fill(pre, 20, [grids])
    coords = [(j, r, c) for j, (h, w) in enumerate(grids) for r in range(h) for c in range(w)]
    kept = [3, 70]
    while len(kept) < 20:  # farthest point first, lowest index on ties
        def nearest(i):
            return min(((coords[i][1] - coords[q][1]) ** 2 + (coords[i][2] - coords[q][2]) ** 2) ** 0.5
                       + (1e4 if coords[i][0] != coords[q][0] else 0.0) for q in kept)
        best = max((i for i in range(128) if i not in kept), key=lambda i: (round(nearest(i), 6), -i))
        kept.append(best)
    assert mask[0].nonzero().flatten().tolist() == sorted(kept)


def test_a_file_recommending_spatial_fill_keeps_it_under_other_requests(tmp_path):
    pruner = build_pruner("recon_untrained", **KW)
    path = tmp_path / "recon.pth"
    torch.save(pruner.checkpoint_dict(selection={"spatial_fill": 0.5}), path)
    peaks = build_pruner("recon", **KW, weights=str(path), peaks_first=True)
    assert (peaks.spatial_fill, peaks.peaks_first) == (0.5, True)
    diverse = build_pruner("recon", **KW, weights=str(path), diverse_fill=0.25)
    assert (diverse.spatial_fill, diverse.diverse_fill) == (0.0, 0.25)
    tokens = torch.randn(1, 16, 32)
    assert len(peaks.select(tokens, 1, PruningContext(grid_hw=[(4, 4)])).indices[0]) == 1  # k=1: the top score
