"""Greedy max-min cosine diversity (DivPrune's selection), batched (private).

Used by DivPrune itself, VLA-Pruner's reduction step and SparseVLM's
cluster seeding. Each greedy step is a handful of ``(B, N)`` tensor ops, so
choosing ``K`` of ``N`` tokens costs one ``(B, N, N)`` similarity matrix plus
``O(K)`` vectorised steps of ``O(N)`` work: no Python loop over pairs.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from ._utils import cosine_similarity_matrix


def greedy_maxmin(
    features: torch.Tensor,
    k: int,
    candidates: Optional[torch.Tensor] = None,
    preselected: Optional[torch.Tensor] = None,
    similarity: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Choose ``k`` tokens per row by greedy max-min cosine distance.

    Distance is ``1 - cos``. If a row has no preselected tokens, its first
    pick is the candidate with the largest nearest-neighbour distance (the
    most isolated token); every later pick is the candidate whose minimum
    distance to the chosen set is largest.

    Args:
        features: ``(B, N, D)``.
        k: tokens per row to end with (preselected ones included);
            ``1 <= k <= `` the number of candidates of every row.
        candidates: ``(B, N)`` bool, tokens that may be chosen (default all).
        preselected: ``(B, N)`` bool, tokens chosen before the greedy steps
            (must be candidates; at most ``k`` per row).
        similarity: optional precomputed ``(B, N, N)`` cosine similarity.

    Returns:
        ``mask (B, N)`` bool with exactly ``k`` True per row, and
        ``order (B, S)`` long: the greedily added tokens in pick order
        (``-1`` where a row needed fewer steps than the longest row).
    """
    b, n, _ = features.shape
    device = features.device
    if similarity is None:
        similarity = cosine_similarity_matrix(features)
    dist = similarity.float().neg().add_(1.0).clamp_min_(0.0)  # (B, N, N), fresh tensor
    cand = torch.ones(b, n, dtype=torch.bool, device=device) if candidates is None else candidates.bool()
    pre = torch.zeros(b, n, dtype=torch.bool, device=device)
    if preselected is not None:
        pre = preselected.bool() & cand
    n_cand = cand.sum(dim=1)
    if int(n_cand.min()) < k:
        raise ValueError(f"cannot choose {k} tokens from rows with only {int(n_cand.min())} candidates")
    n_pre = pre.sum(dim=1)
    if int(n_pre.max()) > k:
        raise ValueError(f"more than {k} preselected tokens in a row")
    rows = torch.arange(b, device=device)
    inf = torch.tensor(float("inf"), device=device)
    has_pre = n_pre > 0
    first = None
    if not bool(has_pre.all()):
        # First pick: the candidate with the largest nearest-neighbour distance.
        cand_pair = cand.unsqueeze(1) & cand.unsqueeze(2)
        eye = torch.eye(n, dtype=torch.bool, device=device).unsqueeze(0)
        nn_dist = torch.where(cand_pair & ~eye, dist, inf).amin(dim=2)
        nn_dist = torch.where(torch.isinf(nn_dist), torch.zeros_like(nn_dist), nn_dist)  # lone candidate
        first = nn_dist.masked_fill(~cand, -1.0).argmax(dim=1)
        first = torch.where(has_pre, torch.full_like(first, -1), first)
        pre = pre.clone()
        pre[rows[~has_pre], first[~has_pre]] = True
    # A negative self-distance makes "min with the picked token's row" mark the pick as
    # taken (-1 never wins the argmax again): each greedy step is argmax, gather, minimum.
    dist.diagonal(dim1=1, dim2=2).fill_(-1.0)
    mind = torch.where(pre.unsqueeze(2), dist, inf).amin(dim=1)  # min distance to the chosen set
    mind = mind.masked_fill(~cand, -1.0)
    need = k - pre.sum(dim=1)
    steps = int(need.max())
    uniform = bool((need == steps).all())
    picks = []
    for s in range(steps):
        idx = mind.argmax(dim=1)
        row = dist[rows, idx]  # (B, N)
        if uniform:
            torch.minimum(mind, row, out=mind)
            picks.append(idx)
        else:
            active = need > s
            torch.minimum(mind, row.masked_fill(~active.unsqueeze(1), float("inf")), out=mind)
            picks.append(idx.masked_fill(~active, -1))
    order = torch.stack(picks, dim=1) if picks else torch.zeros(b, 0, dtype=torch.long, device=device)
    selected = pre
    valid = order >= 0
    if steps:
        selected = selected.clone()
        selected[rows.unsqueeze(1).expand_as(order)[valid], order[valid]] = True
    if first is not None:
        order = torch.cat([first.unsqueeze(1), order], dim=1)
    return selected, order


def mask_to_indices(mask: torch.Tensor) -> torch.Tensor:
    """``(B, K)`` ascending indices of a ``(B, N)`` bool mask with ``K`` True per row."""
    b = mask.shape[0]
    return mask.nonzero(as_tuple=False)[:, 1].view(b, -1)
