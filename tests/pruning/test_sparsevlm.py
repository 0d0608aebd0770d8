"""SparseVLM: above-mean raters, rater->vision scores, recycling of deleted tokens."""

import pytest
import torch

from fastdrive.pruning import PruningContext, build_pruner
from fastdrive.pruning.sparsevlm import rater_mask

D = 8


def _setup(n=40, seed=0):
    """Visual tokens lie along e0; text: t0, t1 = 3 e0 (relevant), t2 = -3 e0, t3 = e1, t4 padding."""
    g = torch.Generator().manual_seed(seed)
    e = torch.eye(D)
    tokens = e[0] * (1 + torch.rand(1, n, 1, generator=g)) + 0.05 * torch.randn(1, n, D, generator=g)
    text = torch.stack([3 * e[0], 3 * e[0], -3 * e[0], e[1], 5 * e[0]]).unsqueeze(0)
    mask = torch.tensor([[True, True, True, True, False]])
    attn = torch.rand(1, 5, n, generator=g) * 0.01
    return tokens, text, mask, attn


def test_raters_are_exactly_the_above_mean_text_tokens():
    tokens, text, mask, attn = _setup()
    raters = rater_mask(tokens, text, mask, attn)
    assert raters.tolist() == [[True, True, False, False, False]]
    # The rule itself on random inputs: relevance = mean_v softmax_t(V T^T), raters = above the mean.
    g = torch.Generator().manual_seed(1)
    v, t = torch.randn(2, 10, D, generator=g), torch.randn(2, 6, D, generator=g)
    rel = torch.softmax(v @ t.transpose(1, 2), dim=-1).mean(dim=1)
    assert torch.equal(rater_mask(v, t, None, torch.rand(2, 6, 10)), rel > rel.mean(dim=1, keepdim=True))


def test_scores_use_only_rater_rows():
    tokens, text, mask, attn = _setup()
    attn[0, 0, [3, 7]] = 1.0    # rater rows favour tokens 3, 7, 11, 30
    attn[0, 1, [11, 30]] = 1.0
    attn[0, 2, :20] = 5.0       # non-raters (and padding) shout for other tokens
    attn[0, 3, 20:] = 5.0
    attn[0, 4, 1] = 50.0
    ctx = PruningContext(text_embeds=text, text_mask=mask, attention=attn)
    sel = build_pruner("sparsevlm", recycle=False).select(tokens, 4, ctx)
    assert sel.indices.tolist() == [[3, 7, 11, 30]]
    assert sel.extra_tokens is None
    assert torch.allclose(sel.scores, attn[:, :2].mean(dim=1))


def test_recycled_centres_are_means_of_deleted_clusters():
    n, keep = 40, 20
    tokens, text, mask, _ = _setup(n)
    e = torch.eye(D)
    scores = torch.linspace(0.0, 1.0, n)  # token i scores i / 39 -> keep 20..39, delete 0..19
    attn = scores.view(1, 1, n).expand(1, 5, n).clone()
    # The 30% best deleted (6 tokens: 14..19) form two tight groups.
    group_a, group_b = [14, 16, 18], [15, 17, 19]
    tokens = tokens.clone()
    tokens[0, group_a] = e[2] + 0.01 * torch.arange(3.0).view(3, 1)
    tokens[0, group_b] = e[3] * torch.tensor([1.0, 1.2, 1.4]).view(3, 1)
    ctx = PruningContext(text_embeds=text, text_mask=mask, attention=attn)
    pruner = build_pruner("sparsevlm", recycle=True, recycle_ratio=0.3, cluster_ratio=1 / 3)
    sel = pruner.select(tokens, keep, ctx)
    assert sel.indices.tolist() == [list(range(20, 40))]
    assert sel.extra_tokens.shape == (1, 2, D)
    expected = [tokens[0, group_a].mean(dim=0), tokens[0, group_b].mean(dim=0)]
    got = sorted(sel.extra_tokens[0], key=lambda c: int(c.argmax()))
    for c, ref in zip(got, expected):
        assert torch.allclose(c, ref, atol=1e-6)


def test_mismatched_text_rows_error():
    tokens, text, mask, attn = _setup()
    with pytest.raises(ValueError, match="text rows"):
        build_pruner("sparsevlm").select(tokens, 4, PruningContext(text_embeds=text, attention=attn[:, :3]))
