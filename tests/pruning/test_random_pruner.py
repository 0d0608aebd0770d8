"""Random pruner: seeded, reproducible, varied."""

import torch

from fastdrive.pruning import PruningContext, build_pruner

X = torch.randn(2, 50, 8)


def test_same_seed_same_selection_and_reset_repeats():
    a, b = build_pruner("random", seed=7), build_pruner("random", seed=7)
    first = a.select(X, 0.5).indices
    assert torch.equal(first, b.select(X, 0.5).indices)
    second = a.select(X, 0.5).indices
    assert not torch.equal(first, second), "successive calls draw new subsets"
    a.reset()
    assert torch.equal(a.select(X, 0.5).indices, first)


def test_different_seeds_differ_and_rows_differ():
    a = build_pruner("random", seed=1).select(X, 0.5).indices
    b = build_pruner("random", seed=2).select(X, 0.5).indices
    assert not torch.equal(a, b)
    assert not torch.equal(a[0], a[1]), "each sample gets its own subset"


def test_context_seed_override_and_coverage():
    p = build_pruner("random", seed=0)
    ctx = PruningContext(extra={"seed": 123})
    assert torch.equal(p.select(X, 10, ctx).indices, p.select(X, 10, ctx).indices)
    hits = torch.zeros(50)
    for _ in range(200):
        hits[p.select(X[:1], 0.25).indices[0]] += 1
    assert hits.min() > 0, "every token is drawn sometimes"
