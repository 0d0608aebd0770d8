"""VLA-Pruner: warm-up, decayed action history, per-sample state it is handed (no session table), union + diversity."""

import pytest
import torch

from fastdrive.pruning import PruningContext, build_pruner
from fastdrive.pruning.vla_pruner import smooth_history

N, D = 20, 8


def _semantic(top, b=1):
    attn = torch.full((b, 2, N), 0.01)
    attn[:, :, top] = 1.0
    return attn


def _action(top):
    a = torch.full((1, N), 0.01)
    a[0, top] = 1.0
    return a


def _ctx(sem_top, act_top, state=None):
    return PruningContext(attention=_semantic(sem_top), state=state, extra={"action_attention": _action(act_top)})


TOKENS = torch.randn(1, N, D, generator=torch.Generator().manual_seed(0))
A, B = [0, 1, 2, 3, 4], [10, 11, 12, 13, 14]


def _steps(pruner, contexts, tokens=TOKENS, keep=5):
    """Run a sequence of calls, each handed the state the previous one returned."""
    state, sel = None, None
    for ctx in contexts:
        ctx.state = state
        sel = pruner.select(tokens, keep, ctx)
        state = sel.state
    return sel


def test_no_pruning_until_window_is_full():
    pruner = build_pruner("vla_pruner")
    assert pruner.layer == 3 and pruner.stateful
    state = None
    for step in range(2):
        sel = pruner.select(TOKENS, 5, _ctx(B, B, state))
        assert sel.indices.shape == (1, N), f"step {step} must keep all"
        assert len(sel.state[0]["history"]) == step + 1
        state = sel.state
    sel = pruner.select(TOKENS, 5, _ctx(B, B, state))
    assert sel.indices.tolist() == [B]


def test_the_pruner_keeps_no_memory_of_its_own():
    pruner = build_pruner("vla_pruner")
    for _ in range(5):
        sel = pruner.select(TOKENS, 5, _ctx(B, B))  # never handed its state back
    assert sel.indices.shape == (1, N) and len(sel.state[0]["history"]) == 1


def test_recent_steps_weigh_more():
    assert torch.allclose(smooth_history([_action(A), _action(B)], 0.8)[0, B[0]] -
                          smooth_history([_action(A), _action(B)], 0.8)[0, A[0]],
                          torch.tensor((1 - 0.8) / 1.8 * 0.99), atol=1e-6)
    neutral = torch.full((1, N), 0.5)
    pruner = build_pruner("vla_pruner")
    # Oldest step favours A, newest favours B: B wins and agrees with semantics -> exactly B.
    sel = _steps(pruner, [PruningContext(attention=_semantic(B), extra={"action_attention": act})
                          for act in (_action(A), neutral, _action(B))])
    assert sel.indices.tolist() == [B]
    # Reversed order: A is now the action top-5, so A tokens enter the union.
    sel = _steps(pruner, [PruningContext(attention=_semantic(B), extra={"action_attention": act})
                          for act in (_action(B), neutral, _action(A))])
    assert sel.indices.tolist() != [B]
    assert set(sel.indices[0].tolist()) <= set(A) | set(B)


def test_state_round_trips_through_a_fresh_pruner():
    sel = _steps(build_pruner("vla_pruner"), [_ctx(B, B) for _ in range(3)])
    assert sel.indices.shape == (1, 5)
    fresh = build_pruner("vla_pruner")
    assert fresh.select(TOKENS, 5, _ctx(B, B, state=sel.state)).indices.tolist() == [B]


def test_samples_of_one_batch_warm_up_independently():
    warm = _steps(build_pruner("vla_pruner"), [_ctx(B, B) for _ in range(2)]).state[0]
    tokens = TOKENS.expand(2, -1, -1)
    ctx = PruningContext(attention=_semantic(B, b=2), state=[warm, None],
                         extra={"action_attention": [_action(B)[0], None]})
    sel = build_pruner("vla_pruner").select(tokens, 5, ctx)
    assert sel.counts.tolist() == [5, N]  # sample 0 has a full window, sample 1 starts
    assert sel.row(0).tolist() == B
    assert len(sel.state[0]["history"]) == 3 and len(sel.state[1]["history"]) == 0
    with pytest.raises(ValueError, match="one entry per sample"):
        build_pruner("vla_pruner").select(tokens, 5, PruningContext(attention=_semantic(B, b=2), state=[warm]))


def test_union_larger_than_budget_is_reduced_by_diversity():
    e = torch.eye(D)
    tokens = torch.zeros(1, N, D)
    # Semantic top {0, 1, 2, 3}; action top {2, 3, 4, 5}; tokens 0 & 1 are twins, 4 & 5 are twins.
    for i, v in {0: e[0], 1: e[0] * 1.01, 2: e[1], 3: e[2], 4: e[3], 5: e[3] * 1.01}.items():
        tokens[0, i] = v
    tokens[0, 6:] = e[7]
    sel = _steps(build_pruner("vla_pruner"), [_ctx([0, 1, 2, 3], [2, 3, 4, 5]) for _ in range(3)], tokens, 4)
    kept = sel.indices[0].tolist()
    assert len(kept) == 4 and {2, 3} <= set(kept)
    assert len({0, 1} & set(kept)) == 1 and len({4, 5} & set(kept)) == 1
