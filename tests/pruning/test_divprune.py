"""DivPrune: greedy max-min cosine diversity."""

import torch

from fastdrive.pruning import build_pruner


def _clusters(sizes, d=16, noise=0.02, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.linalg.qr(torch.randn(d, d, generator=g))[0][: len(sizes)]
    labels = torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)])
    perm = torch.randperm(len(labels), generator=g)
    labels = labels[perm]
    x = centres[labels] + noise * torch.randn(len(labels), d, generator=g)
    return x, labels


def _reference(x, k):
    """Plain-Python DivPrune on one sample (N x D)."""
    xn = x / x.norm(dim=-1, keepdim=True)
    dist = 1 - xn @ xn.T
    n = len(x)
    nn_dist = [min(float(dist[i, j]) for j in range(n) if j != i) for i in range(n)]
    chosen = [max(range(n), key=lambda i: nn_dist[i])]
    while len(chosen) < k:
        rest = [i for i in range(n) if i not in chosen]
        chosen.append(max(rest, key=lambda i: min(float(dist[i, j]) for j in chosen)))
    return chosen


def test_one_per_cluster_with_k_clusters():
    x, labels = _clusters([7, 3, 5, 9, 4])
    xb = torch.stack([x, x.flip(0)])
    sel = build_pruner("divprune").select(xb, 5)
    assert set(labels[sel.indices[0]].tolist()) == set(range(5))
    assert set(labels.flip(0)[sel.indices[1]].tolist()) == set(range(5))


def test_first_picks_cover_clusters_before_repeats():
    x, labels = _clusters([6, 6, 6, 6], seed=3)
    sel = build_pruner("divprune").select(x.unsqueeze(0), 12)
    first_four = sel.scores[0].topk(4).indices  # pick rank: first pick scores highest
    assert set(labels[first_four].tolist()) == {0, 1, 2, 3}


def test_first_pick_is_most_isolated_token():
    x, _ = _clusters([5, 5], seed=4)
    outlier = torch.zeros(1, 16)
    outlier[0, -1] = 1.0
    x = torch.cat([x[:3], outlier, x[3:]])
    sel = build_pruner("divprune").select(x.unsqueeze(0), 1)
    assert sel.indices.tolist() == [[3]]


def test_matches_plain_python_reference():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 30, 8, generator=g)
    sel = build_pruner("divprune").select(x, 9)
    for b in range(2):
        assert sel.indices[b].tolist() == sorted(_reference(x[b], 9))
