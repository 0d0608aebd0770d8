"""VisPruner: most attended tokens first, then diverse ones."""

import torch

from fastdrive.pruning import PruningContext, build_pruner
from fastdrive.pruning.vispruner import remove_duplicates, self_attention_received


def _basis(d):
    return torch.eye(d)


def test_keeps_top_attention_then_one_per_duplicate_group():
    torch.manual_seed(0)
    d = 16
    e = _basis(d)
    # 24 tokens: 4 "important" ones (ids 3, 9, 15, 21), the other 20 are 4 distinct
    # directions, each repeated 5 times in adjacent positions (like neighbouring patches).
    important = [3, 9, 15, 21]
    rest = [i for i in range(24) if i not in important]
    tokens = torch.zeros(24, d)
    for j, i in enumerate(rest):
        tokens[i] = e[4 + j // 5] + 0.01 * torch.randn(d)
    for j, i in enumerate(important):
        tokens[i] = e[10 + j]
    attn = torch.full((24,), 0.01)
    attn[important] = torch.tensor([0.5, 0.4, 0.3, 0.2])
    ctx = PruningContext(vision_attention=attn.unsqueeze(0))
    sel = build_pruner("vispruner", important_ratio=0.5).select(tokens.unsqueeze(0), 8, ctx)
    kept = sel.indices[0].tolist()
    assert set(important) <= set(kept)
    diverse = [i for i in kept if i not in important]
    groups = {rest.index(i) // 5 for i in diverse}
    assert groups == {0, 1, 2, 3}, "one token per duplicate group"


def test_important_ratio_one_is_pure_attention_topk():
    torch.manual_seed(0)
    tokens = torch.randn(2, 30, 8)
    attn = torch.rand(2, 30)
    ctx = PruningContext(vision_attention=attn)
    sel = build_pruner("vispruner", important_ratio=1.0).select(tokens, 10, ctx)
    assert sel.indices.tolist() == attn.topk(10).indices.sort().values.tolist()


def test_remove_duplicates_drops_twins_first():
    x = torch.eye(8)[[0, 0, 1, 1, 2, 2, 3, 3]] + 0.001 * torch.arange(64.0).view(8, 8) / 64
    xn = x / x.norm(dim=-1, keepdim=True)
    sim = (xn @ xn.T).unsqueeze(0)
    kept = remove_duplicates(sim, torch.arange(8).unsqueeze(0), 4)[0]
    assert sorted((kept // 2).tolist()) == [0, 1, 2, 3]


def test_fallback_attention_is_mean_received_softmax():
    x = torch.randn(1, 6, 4)
    recv = self_attention_received(x)
    ref = torch.softmax(x[0] @ x[0].T / 2.0, dim=-1).mean(dim=0)
    assert torch.allclose(recv[0], ref, atol=1e-6)
    assert abs(float(recv.sum()) - 1.0) < 1e-5
    sel = build_pruner("vispruner").select(x, 3)
    assert torch.equal(sel.scores, recv)
