"""FastV: keep exactly the top last-row attention over the image span."""

import pytest
import torch

from fastdrive.pruning import PruningContext, build_pruner


def test_keeps_top_last_row_attention_on_visual_columns():
    g = torch.Generator().manual_seed(0)
    b, n, prefix, suffix = 2, 20, 4, 6
    length = prefix + n + suffix
    attn = torch.rand(b, 1, length, generator=g)
    attn[:, :, :prefix] = 10.0  # huge attention on text must not matter
    pos = (torch.arange(n) + prefix).unsqueeze(0).expand(b, -1)
    pruner = build_pruner("fastv")
    assert pruner.layer == 2 and pruner.attention_rows == "last"
    sel = pruner.select(torch.randn(b, n, 8), 0.25, PruningContext(attention=attn, visual_positions=pos))
    vis = attn[:, 0, prefix:prefix + n]
    expected = vis.topk(5, dim=1).indices.sort(dim=1).values
    assert torch.equal(sel.indices, expected)
    assert torch.equal(sel.scores, vis)


def test_per_head_attention_is_head_averaged_and_last_row_used():
    g = torch.Generator().manual_seed(1)
    attn = torch.rand(1, 4, 3, 10, generator=g)  # (B, H, Q, L) with L == N
    sel = build_pruner("fastv", layer=3).select(torch.randn(1, 10, 4), 4, PruningContext(attention=attn))
    ref = attn.mean(dim=1)[0, -1]
    assert sel.indices[0].tolist() == sorted(ref.topk(4).indices.tolist())


def test_missing_attention_is_a_clear_error():
    with pytest.raises(ValueError, match="fastv needs context.attention"):
        build_pruner("fastv").select(torch.randn(1, 10, 4), 0.5)
