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


# ------------------------------------------------------- the authors' rule

def _sim(n, pairs):
    """``(1, n, n)`` similarity: identity plus the given symmetric pairs."""
    s = torch.eye(n)
    for (i, j), v in pairs.items():
        s[i, j] = s[j, i] = v
    return s.unsqueeze(0)


def test_at_most_eight_dropped_per_round_changes_which_tokens_stay():
    # A = evens, B = odds; A token 2i twins B token 2i + 1, less so as i grows.
    pairs = {(2 * i, 2 * i + 1): 0.9 - 0.05 * i for i in range(10)}
    pairs.update({(1, 3): 0.8, (5, 7): 0.7})  # only meet across groups in round 2
    sim, rem = _sim(20, pairs), torch.arange(20).unsqueeze(0)
    kept = remove_duplicates(sim, rem, 10)
    # Round 1 drops A 0..14 (8 of them), the list becomes [16, 18, 1, 3, ..., 19];
    # round 2 splits it again and drops 1 and 5 (the most duplicated of its group A).
    assert kept.tolist() == [[16, 9, 13, 17, 18, 3, 7, 11, 15, 19]]
    # Without the cap the first round drops all of A and only the odd tokens stay.
    assert sorted(remove_duplicates(sim, rem, 10, per_round=10)[0].tolist()) == list(range(1, 20, 2))


def test_remainder_keeps_descending_attention_order():
    e = torch.eye(8)
    tokens = torch.stack([e[0], e[0] + 0.1 * e[4], e[1], e[1] + 0.2 * e[5],
                          e[2], e[2] + 0.3 * e[6], e[3], e[3] + 0.4 * e[7]]).unsqueeze(0)
    pruner = build_pruner("vispruner", important_ratio=0.0)
    by_index = torch.linspace(1.0, 0.3, 8).unsqueeze(0)  # attention order == index order
    sel = pruner.select(tokens, 4, PruningContext(vision_attention=by_index))
    assert sel.indices.tolist() == [[1, 3, 5, 7]]  # each A token's twin is in B
    # Attention order 0, 2, 1, 3, 4, 6, 5, 7: the split now puts twins on the same side.
    attn = torch.zeros(1, 8)
    attn[0, [0, 2, 1, 3, 4, 6, 5, 7]] = torch.linspace(1.0, 0.3, 8)
    sel = pruner.select(tokens, 4, PruningContext(vision_attention=attn))
    assert sel.indices.tolist() == [[2, 3, 6, 7]]


def test_important_count_is_floored_and_an_odd_remainder_works():
    e = torch.eye(16)
    tokens = torch.stack([e[i] for i in range(10)])
    tokens[5] = e[4] + 1.0 * e[5]  # twins of the B tokens 4, 6, 8, ever closer
    tokens[7] = e[6] + 0.75 * e[7]
    tokens[9] = e[8] + 0.5 * e[9]
    attn = (1.0 - 0.05 * torch.arange(10.0)).unsqueeze(0)
    # K = 7, r = 0.5: int(3.5) = 3 important (0, 1, 2); the remainder 3..9 is odd (7).
    sel = build_pruner("vispruner").select(tokens.unsqueeze(0), 7, PruningContext(vision_attention=attn))
    assert sel.indices.tolist() == [[0, 1, 2, 3, 4, 6, 8]]


def _authors_vispruner(feats, attn, k, ratio):
    """The authors' ``encode_images`` selection (even remainders only)."""
    b = feats.shape[0]
    imp = int(k * ratio)
    div = k - imp
    order = attn.argsort(dim=-1, descending=True, stable=True)
    important, residual = order[:, :imp], order[:, imp:]
    x = feats / feats.norm(dim=-1, keepdim=True)
    rows = torch.arange(b).unsqueeze(-1)
    while div > 0:
        r = min(8, residual.shape[1] - div)
        if r <= 0:
            break
        tok = x[rows, residual]
        score = (tok[:, ::2] @ tok[:, 1::2].transpose(-1, -2)).max(dim=-1).values
        keep = score.argsort(dim=-1, descending=True, stable=True)[:, r:]
        residual = torch.cat([residual[:, ::2][rows, keep], residual[:, 1::2]], dim=-1)
    return torch.cat([important, residual], dim=-1).sort(dim=-1).values


def test_matches_the_authors_selection_on_random_inputs():
    g = torch.Generator().manual_seed(0)
    for k in (16, 24, 32):
        feats = torch.randn(2, 64, 12, generator=g)
        attn = torch.rand(2, 64, generator=g)
        sel = build_pruner("vispruner").select(feats, k, PruningContext(vision_attention=attn))
        assert sel.indices.tolist() == _authors_vispruner(feats, attn, k, 0.5).tolist()
