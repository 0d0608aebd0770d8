"""DART: pivots by key L1 norm, then the tokens least similar to each pivot."""

import pytest
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


# ------------------------------------------------------- the authors' rule

def authors_dart(hidden, keys, start, n, p_img, p_txt, k, norm):
    """The authors' ``get_retained_image_token`` rule, batch 1, in plain Python sets.

    hidden ``(L, D)`` layer K-1's output, keys ``(L, D_k)``, image span
    ``[start, start + n)``, ``k`` = their ``N * (1 - r)``. Returns sorted
    image indices into ``[0, n)``.
    """
    per = k // (p_img + p_txt)
    state = norm(hidden)
    img_norm = keys[start:start + n].abs().sum(-1)
    txt_norm = keys[start + n:].abs().sum(-1)
    image_idx = (img_norm.topk(p_img).indices + start).tolist()
    text_idx = (txt_norm.topk(p_txt).indices + start + n).tolist()
    kept = set(image_idx + text_idx)
    free = set(range(start, start + n)) - set(image_idx)
    for pivot in list(kept):
        cand = list(free)
        cos = torch.nn.functional.cosine_similarity(state[pivot][None], state[cand], dim=-1)
        picks = [cand[i] for i in (-cos).topk(per).indices.tolist()]
        kept.update(picks)
        free.difference_update(picks)
    kept.difference_update(text_idx)
    return sorted(i - start for i in kept)


def _sequence(seed, n=40, prefix=5, text=9, d=16, dk=12):
    g = torch.Generator().manual_seed(seed)
    length = prefix + n + text
    hidden = torch.randn(1, length, d, generator=g)
    keys = torch.randn(1, length, dk, generator=g)
    weight = torch.rand(d, generator=g) * 3 + 0.1
    pos = (torch.arange(n) + prefix).unsqueeze(0)
    return hidden, keys, weight, pos, prefix, n


def _context(hidden, keys, pos, norm=None, mask=None):
    extra = {} if norm is None else {"final_norm": norm}
    if mask is not None:
        extra["sequence_mask"] = mask
    return PruningContext(hidden_states=hidden, keys=keys, visual_positions=pos, extra=extra)


def test_defaults_are_the_authors():
    p = build_pruner("dart")
    assert (p.layer, p.num_pivots, p.num_text_pivots) == (2, 4, 4)
    assert p.normed_similarity and p.pivot_order == "authors" and p.budget == "exact"
    assert p.authors_count(576, 0.25) == 148  # 4 + 18 * 8, beside FastDrive's exact 144


def test_authors_budget_matches_the_authors_rule():
    differs = 0
    for seed in range(6):
        hidden, keys, weight, pos, start, n = _sequence(seed)
        norm = lambda x, w=weight: x * w  # noqa: E731  (RMSNorm's scale drops out of the cosine)
        for keep in (0.25, 0.5):
            k = int(n * keep)
            ref = authors_dart(hidden[0], keys[0], start, n, 4, 4, k, norm)
            pruner = build_pruner("dart", budget="authors")
            sel = pruner.select(hidden[:, start:start + n], keep, _context(hidden, keys, pos, norm))
            assert sel.row(0).tolist() == ref
            assert len(ref) == pruner.authors_count(n, keep) == 4 + (k // 8) * 8
            by_norm = build_pruner("dart", budget="authors", pivot_order="norm").select(
                hidden[:, start:start + n], keep, _context(hidden, keys, pos, norm))
            differs += by_norm.row(0).tolist() != ref
    assert differs > 0, "the pivot order must matter on these inputs"


def test_exact_budget_keeps_k_close_to_the_authors_set():
    hidden, keys, weight, pos, start, n = _sequence(7, n=576, text=20)
    norm = lambda x: x * weight  # noqa: E731
    ctx = _context(hidden, keys, pos, norm)
    exact = build_pruner("dart").select(hidden[:, start:start + n], 0.25, ctx).row(0).tolist()
    authors = build_pruner("dart", budget="authors").select(hidden[:, start:start + n], 0.25, ctx)
    assert len(exact) == 144 and int(authors.counts[0]) == 148
    assert len(set(exact) & set(authors.row(0).tolist())) >= 120


def _pivot_scene():
    """One image pivot (id 0, along e0) and one text pivot (along e2).

    Tokens 1, 2 are least similar to the image pivot, 3, 4 to the text
    pivot; the fillers resemble both pivots.
    """
    e = torch.eye(D)
    n, prefix, text = 12, 2, 3
    length = prefix + n + text
    hidden = torch.zeros(1, length, D)
    img = hidden[0, prefix:prefix + n]
    img[0] = e[0]
    img[1], img[2] = -e[0], -e[0] + 0.3 * e[4]
    img[3], img[4] = -e[2] + 2 * e[0], -e[2] + 0.3 * e[5] + 2 * e[0]  # close to the image pivot
    for i in range(5, n):
        img[i] = e[0] + e[2] + 0.1 * i * e[6]
    hidden[0, prefix + n + 1] = e[2]  # the text pivot
    hidden[0, prefix + n] = e[0] + e[2] + e[7]
    hidden[0, prefix + n + 2] = e[0] + e[2] + e[7]
    keys = torch.rand(1, length, 4) * 0.1
    keys[0, prefix + 0] = 10.0
    keys[0, prefix + n + 1] = 9.0
    pos = (torch.arange(n) + prefix).unsqueeze(0)
    return hidden, keys, pos, prefix, n


def test_text_pivot_pulls_in_the_tokens_least_similar_to_it_and_is_not_kept():
    hidden, keys, pos, start, n = _pivot_scene()
    tokens = hidden[:, start:start + n]
    ctx = _context(hidden, keys, pos)
    with_text = build_pruner("dart", num_pivots=1, num_text_pivots=1, budget="authors")
    sel = with_text.select(tokens, 4, ctx)  # T = 4 // 2 = 2 per pivot
    assert sel.row(0).tolist() == [0, 1, 2, 3, 4]  # 1 + 2 * 2: the text pivot itself is not kept
    assert int(sel.counts[0]) == with_text.authors_count(n, 4) == 5
    exact = build_pruner("dart", num_pivots=1, num_text_pivots=1).select(tokens, 5, ctx)
    assert exact.row(0).tolist() == [0, 1, 2, 3, 4]
    image_only = build_pruner("dart", num_pivots=1, num_text_pivots=0).select(tokens, 5, ctx)
    assert image_only.row(0).tolist() == [0, 1, 2, 10, 11]
    # Without the full sequence (standalone use) there are no text pivots.
    alone = build_pruner("dart", num_pivots=1, num_text_pivots=1).select(
        tokens, 5, PruningContext(keys=keys, visual_positions=pos))
    assert alone.row(0).tolist() == image_only.row(0).tolist()


def test_text_pivots_are_the_largest_key_norms_after_the_image_among_real_tokens():
    hidden, keys, pos, start, n = _pivot_scene()
    keys[0, 0] = 50.0  # before the image: never a text pivot
    keys[0, start + n + 2] = 20.0  # after the image but padding
    mask = torch.ones(1, hidden.shape[1], dtype=torch.long)
    mask[0, start + n + 2] = 0
    sel = build_pruner("dart", num_pivots=1, num_text_pivots=1, budget="authors").select(
        hidden[:, start:start + n], 4, _context(hidden, keys, pos, mask=mask))
    assert sel.row(0).tolist() == [0, 1, 2, 3, 4]


def test_similarity_uses_the_final_norm():
    e = torch.eye(D)
    n = 6
    tokens = torch.zeros(1, n, D)
    tokens[0, 0] = e[0] + e[1]  # pivot
    tokens[0, 1] = -e[0]  # least similar raw (cos -0.71), nearly orthogonal once normed
    tokens[0, 2] = -e[1] + 0.3 * e[0]  # least similar once e1 is scaled up by the norm
    for i in range(3, n):
        tokens[0, i] = e[0] + e[1] + 0.2 * i * e[3]
    keys = torch.zeros(1, n, 4)
    keys[0, 0] = 5.0
    weight = torch.ones(D)
    weight[1] = 10.0
    normed = PruningContext(keys=keys, extra={"final_norm": lambda x: x * weight})
    kw = dict(num_pivots=1, num_text_pivots=0)
    assert build_pruner("dart", **kw).select(tokens, 2, normed).row(0).tolist() == [0, 2]
    raw = build_pruner("dart", normed_similarity=False, **kw).select(tokens, 2, normed)
    assert raw.row(0).tolist() == [0, 1]
    no_norm = build_pruner("dart", **kw).select(tokens, 2, PruningContext(keys=keys))
    assert no_norm.row(0).tolist() == [0, 1]


def _old_fastdrive_dart(tokens, keys, k, p=8):
    """FastDrive's DART before issue 14 (image pivots by norm, raw states)."""
    b, n, _ = tokens.shape
    norms = keys.abs().sum(-1)
    pivots = norms.topk(p, dim=1).indices
    x = tokens / tokens.norm(dim=-1, keepdim=True)
    sim = x.gather(1, pivots.unsqueeze(-1).expand(-1, -1, x.shape[-1])) @ x.transpose(1, 2)
    chosen = torch.zeros(b, n, dtype=torch.bool).scatter_(1, pivots, True)
    per = (k - p) // p
    for j in range(p if per else 0):
        pick = (-sim[:, j].masked_fill(chosen, float("inf"))).topk(per, dim=1).indices
        chosen.scatter_(1, pick, True)
    rest = k - int(chosen[0].sum())
    if rest > 0:
        fill = sim.amax(dim=1).masked_fill(chosen, float("inf"))
        chosen.scatter_(1, (-fill).topk(rest, dim=1).indices, True)
    return chosen.nonzero()[:, 1].view(b, k).tolist()


def test_explicit_options_restore_the_old_fastdrive_rule():
    old = build_pruner("dart", num_pivots=8, num_text_pivots=0, normed_similarity=False,
                       pivot_order="norm")
    changed = 0
    for seed in range(4):
        g = torch.Generator().manual_seed(seed)
        hidden = torch.randn(2, 60, D, generator=g)
        keys = torch.randn(2, 60, 6, generator=g)
        pos = (torch.arange(50) + 3).unsqueeze(0).expand(2, -1)
        tokens = hidden[:, 3:53]
        weight = torch.rand(D, generator=g) + 0.5
        ctx = _context(hidden, keys, pos, lambda x, w=weight: x * w)
        for k in (9, 20, 37):
            ref = _old_fastdrive_dart(tokens, keys[:, 3:53], k)
            assert old.select(tokens, k, ctx).indices.tolist() == ref
            changed += build_pruner("dart").select(tokens, k, ctx).indices.tolist() != ref
    assert changed > 0


def test_left_padding_changes_nothing():
    """Positions count from the first real token (the pivot order depends on them)."""
    pruner = build_pruner("dart", budget="authors")
    ignored = 0
    for seed in range(4):
        hidden, keys, weight, pos, start, n = _sequence(seed)
        norm = lambda x, w=weight: x * w  # noqa: E731
        plain = pruner.select(hidden[:, start:start + n], 0.5, _context(hidden, keys, pos, norm))
        for pad in (3, 13, 29):
            hidden_p = torch.cat([torch.zeros(1, pad, hidden.shape[-1]), hidden], dim=1)
            keys_p = torch.cat([torch.full((1, pad, keys.shape[-1]), 99.0), keys], dim=1)
            mask = torch.ones(1, hidden_p.shape[1], dtype=torch.long)
            mask[0, :pad] = 0
            tokens = hidden_p[:, start + pad:start + pad + n]
            padded = pruner.select(tokens, 0.5, _context(hidden_p, keys_p, pos + pad, norm, mask))
            assert padded.row(0).tolist() == plain.row(0).tolist()
            unmasked = pruner.select(tokens, 0.5, _context(hidden_p, keys_p, pos + pad, norm))
            ignored += unmasked.row(0).tolist() != plain.row(0).tolist()
    assert ignored > 0, "the padding offset must matter on these inputs"


def test_bad_options_raise():
    for kw in (dict(num_pivots=0), dict(num_text_pivots=-1), dict(budget="x"), dict(pivot_order="x")):
        with pytest.raises(ValueError):
            build_pruner("dart", **kw)
