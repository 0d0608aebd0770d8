"""The planner core: per-call pruning on a shared model, one bounded session store, batch-first planning,
request-option allow-lists, and imports light enough for the service."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from fastdrive.models import DrivingVLA
from fastdrive.planner import (EgoState, EmbeddedPlanner, PlanningInputError, PlanRequest, PruningSpec,
                               SessionStore)

from tiny_vla import tiny_vlm  # noqa: E402  (tests/models, on sys.path via tests/conftest.py)


@pytest.fixture(scope="module")
def model():
    m = DrivingVLA(vlm=tiny_vlm(num_layers=4), image_size=(112, 84), seed=1)
    with torch.no_grad():
        m.head[-1].weight.normal_(0, 0.5)  # let the LLM output matter
    return m.eval()


def _frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (90, 160, 3), dtype=np.uint8)


def _request(i: int, pruning=None, session=None) -> PlanRequest:
    ego = EgoState(speed=3.0 + i % 5, accel=0.1 * (i % 3), yaw_rate=0.01 * (i % 4))
    return PlanRequest(_frame(i), ego, ("left", "right", "straight")[i % 3], pruning, session)


def test_two_planners_on_one_model_do_not_race(model):
    """One thread prunes at 75% while another plans unpruned on the same model: no call sees the other's pruning."""
    pruning, plain = EmbeddedPlanner(model), EmbeddedPlanner(model)
    frames = [_request(i) for i in range(6)]
    reference = [plain.plan_batch([r])[0].waypoints for r in frames]
    diffs, kept, errors = [], [], []

    def prune_loop():
        try:
            for i in range(150):
                r = frames[i % 6]
                kept.append(pruning.plan(r.frames, r.ego_state, r.command, PruningSpec("grid", 0.75)).num_kept)
        except Exception as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    def plain_loop():
        try:
            for i in range(150):
                r = frames[i % 6]
                traj = plain.plan(r.frames, r.ego_state, r.command)
                diffs.append(float(np.abs(traj.waypoints - reference[i % 6]).max()))
                assert traj.num_kept == traj.num_visual
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=prune_loop), threading.Thread(target=plain_loop)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(diffs) == 150 and max(diffs) < 1e-6
    assert kept == [3] * 150
    # the planners share one adapter (one set of hooks), not one each
    assert pruning.pool.adapter is plain.pool.adapter


def test_a_forward_outside_a_request_is_the_stock_model(model):
    planner = EmbeddedPlanner(model)
    r = _request(1)
    img = planner._images([r.frames])
    args = (img, torch.tensor([0]), torch.from_numpy(r.ego_state.vector())[None],
            torch.from_numpy(r.ego_state.past())[None])
    with torch.no_grad():
        before = model.plan(*args)
        with planner.pool.pruning(PruningSpec("grid", 0.5), [None]) as call:
            pruned = model.plan(*args)
        after = model.plan(*args)
    assert call.last.num_kept.tolist() == [6]
    assert torch.equal(before, after) and not torch.allclose(before, pruned)


def test_plan_batch_matches_one_by_one_with_mixed_methods_and_sessions(model):
    batch_planner, single_planner = EmbeddedPlanner(model), EmbeddedPlanner(model)
    vla = PruningSpec("vla_pruner", 0.5, {"layer": 2})
    specs = [None, PruningSpec("grid", 0.5), PruningSpec("divprune", 0.75), PruningSpec("fastv", 0.25),
             PruningSpec("divprune", 0.5), vla, vla]
    # warm one VLA-Pruner session up to its window in both planners; the other session starts cold
    for p in (batch_planner, single_planner):
        for _ in range(3):
            p.plan_batch([_request(0, vla, "warm")])
    requests = [_request(i, s, "warm" if i == 5 else f"s{i}") for i, s in enumerate(specs)]
    batched = batch_planner.plan_batch(requests)
    single = [single_planner.plan_batch([r])[0] for r in requests]
    for b, s, r in zip(batched, single, requests):
        np.testing.assert_allclose(b.waypoints, s.waypoints, atol=1e-5)
        assert b.num_kept == s.num_kept and b.pruning == (r.pruning or PruningSpec())
        if s.kept_tokens is not None:
            assert np.array_equal(b.kept_tokens[0], s.kept_tokens[0])
    assert [t.num_kept for t in batched] == [12, 6, 3, 9, 6, 6, 12]  # the warm session prunes, the cold one not
    assert batched[2].batch_size == 1 and batched[1].batch_size == 1 and batched[5].batch_size == 2


def test_plan_batch_validates_every_request_first(model):
    planner = EmbeddedPlanner(model)
    bad = PlanRequest(_frame(0), EgoState(float("inf")), "left")
    with pytest.raises(PlanningInputError, match="request 1: .*finite"):
        planner.plan_batch([_request(0), bad])


def test_session_store_is_bounded_in_count_and_age():
    now = [0.0]
    store = SessionStore(max_sessions=64, ttl_s=30.0, clock=lambda: now[0])
    for i in range(10_000):
        store.put(f"car-{i}", "cfg", state=i)
        now[0] += 0.001
    assert len(store) == 64 and store.get("car-9999", "cfg").state == 9999 and store.get("car-0", "cfg") is None
    now[0] += 20.0
    store.get("car-9990", "cfg")  # a read keeps a session alive
    now[0] += 15.0
    assert len(store) == 1 and store.get("car-9990", "cfg") is not None
    store.put("car-1", "a")
    store.put("car-1", "b")
    store.reset("car-1")
    assert len(store) == 1
    with pytest.raises(ValueError):
        SessionStore(max_sessions=0)


def test_temporal_state_lives_only_in_the_bounded_store(model):
    planner = EmbeddedPlanner(model, sessions=SessionStore(max_sessions=16))
    spec = PruningSpec("vla_pruner", 0.5, {"layer": 2})
    for i in range(200):
        planner.plan(_frame(i % 4), EgoState(4.0), "left", spec, session_id=f"car-{i}")
    assert len(planner.pool.sessions) == 16
    pruner = planner.pool.pruner(spec)
    assert not [k for k, v in vars(pruner).items() if isinstance(v, dict) and len(v) > 10]


def test_request_options_are_an_allow_list(model):
    strict = EmbeddedPlanner(model, methods=["grid", "fastv", "lightvla_star"], strict_options=True)
    r = _request(3)
    ok = strict.plan(r.frames, r.ego_state, r.command, PruningSpec("fastv", 0.5, {"layer": 3}))
    assert ok.num_kept == 6
    with pytest.raises(PlanningInputError, match="cannot be set per request.*allowed: none"):
        strict.plan(r.frames, r.ego_state, r.command, PruningSpec("lightvla_star", 0.5, {"num_queries": 10 ** 6}))
    with pytest.raises(PlanningInputError, match="set by the host model"):
        strict.plan(r.frames, r.ego_state, r.command, PruningSpec("lightvla_star", 0.5, {"hidden_size": 10 ** 6}))
    with pytest.raises(PlanningInputError, match="choose one of: none, grid, fastv, lightvla_star"):
        strict.plan(r.frames, r.ego_state, r.command, PruningSpec("divprune", 0.5))
    with pytest.raises(PlanningInputError, match="number or a boolean"):
        strict.plan(r.frames, r.ego_state, r.command, PruningSpec("fastv", 0.5, {"layer": "2"}))
    # the evaluation (the operator) may set any argument, but never a host size either
    loose = EmbeddedPlanner(model)
    with pytest.raises(PlanningInputError, match="set by the host model"):
        loose.plan(r.frames, r.ego_state, r.command, PruningSpec("lightvla_star", 0.5, {"hidden_size": 8}))
    # option variants are built once and kept in a bounded cache
    for layer in (1, 2, 3, 1, 2, 3):
        strict.plan(r.frames, r.ego_state, r.command, PruningSpec("fastv", 0.5, {"layer": layer}))
    assert len(strict.pool._variants) == 3


def test_configured_pruners_are_built_at_start_up_in_the_model_dtype(model):
    double = DrivingVLA(vlm=tiny_vlm(num_layers=4), image_size=(112, 84), seed=1).double()
    planner = EmbeddedPlanner(double, methods=["lightvla_star"])
    pruner = planner.pool._defaults["lightvla_star"]
    assert {p.dtype for p in pruner.parameters()} == {torch.float64}
    with pytest.raises(PlanningInputError, match="unknown pruning method"):
        EmbeddedPlanner(model, methods=["nope"])


def test_importing_the_planner_loads_no_training_or_data_code():
    code = ("import sys, fastdrive.planner; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('mmengine', 'shapely') "
            "or m.startswith('fastdrive.datasets') or m.startswith('fastdrive.models')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
