"""VLA-Pruner: warm-up, decayed action history, per-session state, union + diversity."""

import torch

from fastdrive.pruning import PruningContext, build_pruner
from fastdrive.pruning.vla_pruner import smooth_history

N, D = 20, 8


def _semantic(top):
    attn = torch.full((1, 2, N), 0.01)
    attn[0, :, top] = 1.0
    return attn


def _action(top):
    a = torch.full((1, N), 0.01)
    a[0, top] = 1.0
    return a


def _ctx(sem_top, act_top, session="s", state=None):
    return PruningContext(attention=_semantic(sem_top), session_id=session, state=state,
                          extra={"action_attention": _action(act_top)})


TOKENS = torch.randn(1, N, D, generator=torch.Generator().manual_seed(0))
A, B = [0, 1, 2, 3, 4], [10, 11, 12, 13, 14]


def test_no_pruning_until_window_is_full():
    pruner = build_pruner("vla_pruner")
    assert pruner.layer == 3 and pruner.stateful
    for step in range(2):
        sel = pruner.select(TOKENS, 5, _ctx(B, B))
        assert sel.indices.shape == (1, N), f"step {step} must keep all"
        assert len(sel.state["history"]) == step + 1
    sel = pruner.select(TOKENS, 5, _ctx(B, B))
    assert sel.indices.tolist() == [B]


def test_recent_steps_weigh_more():
    assert torch.allclose(smooth_history([_action(A), _action(B)], 0.8)[0, B[0]] -
                          smooth_history([_action(A), _action(B)], 0.8)[0, A[0]],
                          torch.tensor((1 - 0.8) / 1.8 * 0.99), atol=1e-6)
    neutral = torch.full((1, N), 0.5)
    # Oldest step favours A, newest favours B: B wins and agrees with semantics -> exactly B.
    pruner = build_pruner("vla_pruner")
    for act in (_action(A), neutral, _action(B)):
        sel = pruner.select(TOKENS, 5, PruningContext(attention=_semantic(B), session_id="r",
                                                      extra={"action_attention": act}))
    assert sel.indices.tolist() == [B]
    # Reversed order: A is now the action top-5, so A tokens enter the union.
    pruner.reset()
    for act in (_action(B), neutral, _action(A)):
        sel = pruner.select(TOKENS, 5, PruningContext(attention=_semantic(B), session_id="r",
                                                      extra={"action_attention": act}))
    assert sel.indices.tolist() != [B]
    assert set(sel.indices[0].tolist()) <= set(A) | set(B)


def test_sessions_are_separate_and_state_round_trips():
    pruner = build_pruner("vla_pruner")
    for _ in range(3):
        sel = pruner.select(TOKENS, 5, _ctx(B, B, session="a"))
    assert sel.indices.shape == (1, 5)
    assert pruner.select(TOKENS, 5, _ctx(B, B, session="b")).indices.shape == (1, N)
    fresh = build_pruner("vla_pruner")
    assert fresh.select(TOKENS, 5, _ctx(B, B, state=sel.state)).indices.tolist() == [B]
    pruner.reset("a")
    assert pruner.session_state("a") is None and pruner.session_state("b") is not None


def test_union_larger_than_budget_is_reduced_by_diversity():
    e = torch.eye(D)
    tokens = torch.zeros(1, N, D)
    # Semantic top {0, 1, 2, 3}; action top {2, 3, 4, 5}; tokens 0 & 1 are twins, 4 & 5 are twins.
    for i, v in {0: e[0], 1: e[0] * 1.01, 2: e[1], 3: e[2], 4: e[3], 5: e[3] * 1.01}.items():
        tokens[0, i] = v
    tokens[0, 6:] = e[7]
    pruner = build_pruner("vla_pruner")
    for _ in range(3):
        sel = pruner.select(tokens, 4, _ctx([0, 1, 2, 3], [2, 3, 4, 5]))
    kept = sel.indices[0].tolist()
    assert len(kept) == 4 and {2, 3} <= set(kept)
    assert len({0, 1} & set(kept)) == 1 and len({4, 5} & set(kept)) == 1


def test_oldest_sessions_are_evicted():
    pruner = build_pruner("vla_pruner", max_sessions=2)
    for s in ("a", "b", "a", "c"):
        pruner.select(TOKENS, 5, _ctx(B, B, session=s))
    assert pruner.session_state("b") is None
    assert len(pruner.session_state("a")["history"]) == 2 and pruner.session_state("c") is not None
