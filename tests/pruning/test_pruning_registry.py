"""Registry and the contract every method shares (counts, order, batch)."""

import dataclasses

import pytest
import torch

from fastdrive.pruning import TokenPruner, build_pruner, list_pruners
from pruning_inputs import build_kwargs, full_context

ALL = ["random", "grid", "divprune", "vispruner", "lightvla", "lightvla_star", "recon", "fastv",
       "sparsevlm", "dart", "vla_pruner"]
ADAPTIVE = {"lightvla", "lightvla_star"}
PRE_LLM = {"random", "grid", "divprune", "vispruner", "lightvla", "lightvla_star", "recon"}
B, N, D = 2, 40, 32


def test_list_pruners_has_every_method():
    assert set(ALL) <= set(list_pruners())
    assert list_pruners() == sorted(list_pruners())


def test_unknown_name_raises_clear_key_error():
    with pytest.raises(KeyError, match="unknown pruner 'nope'.*divprune"):
        build_pruner("nope")


@pytest.mark.parametrize("name", ALL)
def test_stage_and_type(name):
    pruner = build_pruner(name, **build_kwargs(name, D))
    assert isinstance(pruner, TokenPruner)
    assert pruner.stage == ("pre_llm" if name in PRE_LLM else "in_llm")
    if pruner.stage == "in_llm":
        assert pruner.layer >= 1


@pytest.mark.parametrize("name", sorted(set(ALL) - ADAPTIVE))
def test_presets_keep_floor_sorted_unique(name):
    torch.manual_seed(1)
    tokens = torch.randn(B, N, D)
    pruner = build_pruner(name, **build_kwargs(name, D))
    for p in (0.25, 0.5, 0.75):
        ctx = full_context(B, N, D)
        sel = pruner.select(tokens, 1.0 - p, ctx)
        k = int(N * (1 - p) + 1e-6)
        assert sel.indices.shape == (B, k)
        assert sel.counts.tolist() == [k] * B
        for row in sel.indices:
            assert torch.all(row[1:] > row[:-1]), "indices must be strictly ascending (sorted, unique)"
            assert 0 <= int(row.min()) and int(row.max()) < N


@pytest.mark.parametrize("name", ALL)
def test_keep_all_returns_every_index(name):
    tokens = torch.randn(B, N, D)
    pruner = build_pruner(name, **build_kwargs(name, D))
    sel = pruner.select(tokens, 1.0, full_context(B, N, D))
    assert sel.indices.tolist() == [list(range(N))] * B


@pytest.mark.parametrize("name", sorted(ADAPTIVE))
def test_adaptive_methods_report_counts(name):
    tokens = torch.randn(B, N, D)
    pruner = build_pruner(name, **build_kwargs(name, D))
    sel = pruner.select(tokens, 0.5, full_context(B, N, D))
    assert sel.counts.shape == (B,)
    assert int(sel.counts.max()) <= N // 2
    for b in range(B):
        row = sel.row(b)
        assert torch.all(row[1:] > row[:-1])
        assert torch.all(sel.indices[b, int(sel.counts[b]):] == -1)


def _slice_context(ctx, b):
    def cut(x):
        return x[b:b + 1] if isinstance(x, torch.Tensor) else x
    state = None if ctx.state is None else [ctx.state[b]]
    return dataclasses.replace(
        ctx, text_embeds=cut(ctx.text_embeds), text_mask=cut(ctx.text_mask),
        visual_positions=cut(ctx.visual_positions), attention=cut(ctx.attention), keys=cut(ctx.keys),
        hidden_states=cut(ctx.hidden_states), vision_attention=cut(ctx.vision_attention), state=state,
        extra={k: cut(v) for k, v in ctx.extra.items()})


@pytest.mark.parametrize("name", sorted(set(ALL) - {"random"}))
def test_batch_rows_match_single_samples(name):
    torch.manual_seed(2)
    tokens = torch.randn(B, N, D)
    pruner = build_pruner(name, **build_kwargs(name, D))
    ctx = full_context(B, N, D, seed=3)
    batched = pruner.select(tokens, 0.5, ctx)
    rows = []
    for b in range(B):
        single = pruner.select(tokens[b:b + 1], 0.5, _slice_context(ctx, b))
        assert single.row(0).tolist() == batched.row(b).tolist()
        rows.append(single.row(0).tolist())
    if name != "grid":  # content-driven methods choose per sample
        assert rows[0] != rows[1]
