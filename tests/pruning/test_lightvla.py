"""LightVLA / LightVLA*: union of per-query argmaxes, adaptive count, STE training."""

import math

import torch

from fastdrive.pruning import PruningContext, build_pruner

D = 16


def _rms(x):
    return x / x.pow(2).mean(-1, keepdim=True).sqrt()


def _known_case():
    """Visual tokens: v0 = e0, v1 = e1, v2 = (e0 + e1) / sqrt 2, v3..v9 = e3..e9 (off-text).

    Sample 0 has text {e0, e1}: queries from v0 pick v0, from v1 pick v1, every
    other query (mixed text) picks v2 -> kept {0, 1, 2}. Sample 1 has only the
    text token e0 (e1 is padding): every query equals e0 and picks v0 -> kept {0}.
    """
    e = torch.eye(D)
    v = torch.stack([e[0], e[1], (e[0] + e[1]) / math.sqrt(2)] + [e[i] for i in range(3, 10)])
    tokens = torch.stack([v, v])
    text = torch.stack([torch.stack([e[0], e[1]]), torch.stack([e[0], e[1]])])
    mask = torch.tensor([[True, True], [True, False]])
    return tokens, PruningContext(text_embeds=text, text_mask=mask)


def test_known_union_and_adaptive_counts():
    tokens, ctx = _known_case()
    sel = build_pruner("lightvla").select(tokens, None, ctx)
    assert sel.counts.tolist() == [3, 1]
    assert sel.row(0).tolist() == [0, 1, 2]
    assert sel.indices[1].tolist() == [0, -1, -1]


def test_count_equals_distinct_argmaxes_on_random_tokens():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(3, 40, D, generator=g)
    text = torch.randn(3, 5, D, generator=g)
    sel = build_pruner("lightvla").select(tokens, None, PruningContext(text_embeds=text))
    for b in range(3):
        v, t = _rms(tokens[b]), _rms(text[b])
        q = torch.softmax(v @ t.T / math.sqrt(D), dim=-1) @ t
        picks = (q @ v.T / math.sqrt(D)).argmax(dim=1)
        distinct = sorted(set(picks.tolist()))
        assert int(sel.counts[b]) == len(distinct)
        assert sel.row(b).tolist() == distinct


def test_keep_caps_the_union():
    tokens, ctx = _known_case()
    sel = build_pruner("lightvla").select(tokens, 2, ctx)
    assert sel.counts.tolist() == [2, 1]
    assert set(sel.row(0).tolist()) < {0, 1, 2}


def test_training_soft_mask_is_hard_forward_with_gradient():
    tokens, ctx = _known_case()
    tokens = tokens.clone().requires_grad_(True)
    pruner = build_pruner("lightvla").train()
    sel = pruner.select(tokens, None, ctx)
    hard = torch.zeros(2, tokens.shape[1])
    for b in range(2):
        hard[b, sel.row(b)] = 1.0
    assert torch.allclose(sel.soft_mask, hard)
    (sel.soft_mask * torch.arange(tokens.shape[1], dtype=torch.float)).sum().backward()
    assert tokens.grad is not None and float(tokens.grad.abs().sum()) > 0


def test_noise_scale_perturbs_selection_only_in_training():
    g = torch.Generator().manual_seed(1)
    tokens = torch.randn(1, 60, D, generator=g)
    ctx = PruningContext(text_embeds=torch.randn(1, 4, D, generator=g))
    pruner = build_pruner("lightvla", noise_scale=50.0)
    clean = pruner.select(tokens, None, ctx).row(0).tolist()
    assert pruner.select(tokens, None, ctx).row(0).tolist() == clean, "no noise at inference"
    pruner.train()
    torch.manual_seed(0)
    noisy = pruner.select(tokens, None, ctx).row(0).tolist()
    assert noisy != clean
    pruner.noise_scale = 0.0
    assert pruner.select(tokens, None, ctx).row(0).tolist() == clean


def test_lightvla_star_learnable_queries():
    e = torch.eye(D)
    pruner = build_pruner("lightvla_star", hidden_size=D, num_queries=2)
    with torch.no_grad():
        pruner.queries.copy_(torch.stack([e[2], e[5]]))
    tokens = torch.stack([e[i] + 0.1 * e[(i + 1) % D] for i in range(D)]).unsqueeze(0)
    sel = pruner.select(tokens, None)
    assert sel.row(0).tolist() == [2, 5]
    pruner.train()
    out = pruner.select(tokens, None)
    out.soft_mask.sum().backward()
    assert pruner.queries.grad is not None and float(pruner.queries.grad.abs().sum()) > 0


def test_without_text_the_tokens_attend_to_themselves():
    g = torch.Generator().manual_seed(2)
    tokens = torch.randn(1, 40, D, generator=g)  # N > D takes the (softmax T) V^T branch
    sel = build_pruner("lightvla").select(tokens, None)
    v = _rms(tokens[0])
    q = torch.softmax(v @ v.T / math.sqrt(D), dim=-1) @ v
    assert sel.row(0).tolist() == sorted(set((q @ v.T).argmax(dim=1).tolist()))
