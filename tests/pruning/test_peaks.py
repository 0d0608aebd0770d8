"""ReconPruner's selection options: peaks first (one token per score blob before a second of any), diverse fill."""

from __future__ import annotations

import pytest
import torch

from fastdrive.pruning import build_pruner
from fastdrive.pruning._peaks import peak_mask, peaks_first, sample_grids
from fastdrive.pruning.base import PruningContext, topk_sorted

# a 3 x 4 grid: a large blob top-left (tokens 0, 1, 4, 5; peak at 1), a small one bottom-right (11),
# a weak isolated positive token (3) and negatives elsewhere
SCORES = torch.tensor([[2.0, 3.0, -1.0, 0.5,
                        2.5, 2.8, -1.0, -1.0,
                        -1.0, -1.0, -1.0, 1.0]])


def test_peaks_are_positive_local_maxima_of_the_grid():
    assert peak_mask(SCORES, [[(3, 4)]]).nonzero()[:, 1].tolist() == [1, 3, 11]
    # the same scores as two 3 x 2 images side by side in the sequence: maxima per image
    two = torch.tensor([[2.0, 3.0, 2.5, 2.8, -1.0, -1.0, -1.0, 0.5, -1.0, -1.0, -1.0, 1.0]])
    assert peak_mask(two, [[(3, 2), (3, 2)]]).nonzero()[:, 1].tolist() == [1, 7, 11]


def test_peaks_first_keeps_every_blob_before_a_second_token_of_the_large_one():
    plain = topk_sorted(SCORES, 3)[0].tolist()
    assert plain == [1, 4, 5]  # top-3 spends the budget on the near blob
    ranked = topk_sorted(peaks_first(SCORES, [[(3, 4)]]), 3)[0].tolist()
    assert ranked == [1, 3, 11]  # one token per blob
    # past the peaks the rest follows by score: the same set as top-K once K covers them
    assert set(topk_sorted(peaks_first(SCORES, [[(3, 4)]]), 6)[0].tolist()) == {0, 1, 3, 4, 5, 11}


def test_after_the_foreground_a_faint_blob_comes_before_the_halo_of_a_near_one():
    # 2 x 5: one positive token (0) with its halo (1, 5 at -0.1), a faint far blob (4 at -0.5)
    scores = torch.tensor([[1.0, -0.1, -2.0, -2.0, -0.5,
                            -0.1, -0.2, -2.0, -2.0, -2.0]])
    assert topk_sorted(scores, 2)[0].tolist() == [0, 1]  # top-2 keeps the halo
    assert topk_sorted(peaks_first(scores, [[(2, 5)]]), 2)[0].tolist() == [0, 4]


def test_sample_grids_from_context_or_none():
    assert sample_grids(None, 1, 12) is None
    assert sample_grids(PruningContext(grid_hw=[(3, 4)]), 2, 12) == [[(3, 4)], [(3, 4)]]
    assert sample_grids(PruningContext(grid_hw=[(3, 4)], sample_grids=[[(3, 4)], [(4, 3)]]), 2, 12) == \
        [[(3, 4)], [(4, 3)]]
    assert sample_grids(PruningContext(grid_hw=[(3, 5)]), 1, 12) is None  # does not add up: plain top-K


def test_recon_pruner_selects_peaks_first_only_when_asked():
    torch.manual_seed(0)
    tokens = torch.randn(2, 12, 32)
    kw = dict(hidden_size=32, num_heads=4, num_kv_heads=2, intermediate_size=64)
    plain = build_pruner("recon_untrained", **kw)
    peaky = build_pruner("recon_untrained", peaks_first=True, **kw)
    peaky.load_state_dict(plain.state_dict())
    ctx = PruningContext(grid_hw=[(3, 4)])
    s = plain.scores(tokens, ctx)
    assert torch.equal(plain.select(tokens, 4, ctx).indices, topk_sorted(s, 4))
    assert torch.equal(peaky.select(tokens, 4, ctx).indices, topk_sorted(peaks_first(s, [[(3, 4)]] * 2), 4))
    assert torch.equal(peaky.select(tokens, 4, None).indices, topk_sorted(s, 4))  # no grid: top-K
    assert "peaks_first=True" in repr(peaky)


def test_recon_diverse_fill_keeps_the_top_scores_and_fills_by_diversity():
    from fastdrive.pruning._similarity import greedy_maxmin, mask_to_indices

    torch.manual_seed(1)
    tokens = torch.randn(2, 12, 32)
    kw = dict(hidden_size=32, num_heads=4, num_kv_heads=2, intermediate_size=64)
    plain = build_pruner("recon_untrained", **kw)
    filled = build_pruner("recon_untrained", diverse_fill=0.5, **kw)
    filled.load_state_dict(plain.state_dict())
    s = plain.scores(tokens)
    sel = filled.select(tokens, 6).indices
    top3 = s.topk(3, dim=-1).indices
    for b in range(2):
        assert set(top3[b].tolist()) <= set(sel[b].tolist())  # the 3 best scores stay
    pre = torch.zeros(2, 12, dtype=torch.bool)
    pre.scatter_(1, top3, True)
    assert torch.equal(sel, mask_to_indices(greedy_maxmin(tokens, 6, preselected=pre)[0]))
    assert not torch.equal(sel, plain.select(tokens, 6).indices)
    with pytest.raises(ValueError, match="diverse_fill"):
        build_pruner("recon_untrained", diverse_fill=1.0, **kw)
