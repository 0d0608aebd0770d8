"""DART: pivots by key L1 norm, then the tokens least similar to each pivot."""

import torch

from fastdrive.pruning import PruningContext, build_pruner

D = 8


def test_pivots_by_key_norm_then_least_similar():
    e = torch.eye(D)
    n = 12
    tokens = torch.zeros(1, n, D)
    tokens[0, 0] = e[0]        # pivot A (largest key norm)
    tokens[0, 5] = e[1]        # pivot B
    tokens[0, 1] = -e[0]       # least similar to A
    tokens[0, 2] = -e[0] + 0.3 * e[4]
    tokens[0, 3] = -e[1]       # least similar to B
    tokens[0, 4] = -e[1] + 0.3 * e[5]
    for i in range(6, n):      # filler, similar to both pivots
        tokens[0, i] = e[0] + e[1] + 0.1 * i * e[6]
    keys = torch.rand(1, n + 3, 4) * 0.1
    pos = (torch.arange(n) + 3).unsqueeze(0)
    keys[0, 3 + 0] = 10.0
    keys[0, 3 + 5] = 8.0
    ctx = PruningContext(keys=keys, visual_positions=pos)
    pruner = build_pruner("dart", num_pivots=2)
    assert pruner.layer == 2 and pruner.needs_keys
    sel = pruner.select(tokens, 6, ctx)
    assert sel.indices.tolist() == [[0, 1, 2, 3, 4, 5]]
    assert torch.allclose(sel.scores, keys[0, 3:].abs().sum(-1).unsqueeze(0))


def test_pivots_follow_keys_not_hidden_states():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(2, 30, D, generator=g)
    keys = torch.rand(2, 30, 4, generator=g)
    keys[0, 17] = 100.0
    keys[1, 4] = 100.0
    sel = build_pruner("dart", num_pivots=1).select(tokens, 1, PruningContext(keys=keys))
    assert sel.indices.tolist() == [[17], [4]]
    # Per-head keys (B, H, L, d) work too.
    per_head = keys.view(2, 30, 2, 2).transpose(1, 2)
    sel2 = build_pruner("dart", num_pivots=1).select(tokens, 1, PruningContext(keys=per_head))
    assert sel2.indices.tolist() == [[17], [4]]


def test_without_keys_hidden_state_norm_picks_pivots():
    g = torch.Generator().manual_seed(1)
    tokens = torch.randn(1, 20, D, generator=g)
    tokens[0, 9] *= 50
    sel = build_pruner("dart", num_pivots=1).select(tokens, 5)
    assert 9 in sel.indices[0].tolist()
    xn = tokens[0] / tokens[0].norm(dim=-1, keepdim=True)
    least = (xn @ xn[9]).topk(4, largest=False).indices.tolist()
    assert sorted([9] + least) == sel.indices[0].tolist()
