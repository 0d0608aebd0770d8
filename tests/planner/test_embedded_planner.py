"""``EmbeddedPlanner``: the Planner interface over the driving VLA, pruning per call, input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastdrive.models import DrivingVLA
from fastdrive.models.driving_vla_io import export_driving_vla
from fastdrive.planner import EgoState, EmbeddedPlanner, PlanningInputError, PruningSpec
from fastdrive.pruning import list_pruners

from tiny_vla import tiny_vlm  # noqa: E402  (tests/models, on sys.path via tests/conftest.py)

SMALL = tiny_vlm(num_layers=4)


@pytest.fixture(scope="module")
def planner(tmp_path_factory):
    model = DrivingVLA(vlm=SMALL, image_size=(112, 84), seed=1)
    with torch.no_grad():
        model.head[-1].weight.normal_(0, 0.5)  # let the LLM output matter
    path = tmp_path_factory.mktemp("planner") / "p.pth"
    export_driving_vla(model, path, half=False)
    return EmbeddedPlanner.from_checkpoint(str(path))


def _frame(seed: int = 0, h: int = 90, w: int = 160) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_plan_matches_the_model_and_reports_tokens(planner):
    frame = _frame()
    ego = EgoState(speed=6.0, accel=-0.3, yaw_rate=0.02)
    traj = planner.plan({"CAM_FRONT": frame, "CAM_BACK": _frame(1)}, ego, "left")
    assert traj.waypoints.shape == (6, 2) and traj.dt == 0.5
    assert traj.num_visual == traj.num_kept == 12 and traj.kept_tokens is None
    assert traj.grids == [(3, 4)] and traj.cameras == ["CAM_FRONT"]
    assert set(traj.timings) >= {"preprocess", "model", "pruner", "total"}
    img = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        ref = planner.model.plan(img, torch.tensor([0]), torch.tensor([[6.0, -0.3, 0.02]]),
                                 torch.from_numpy(ego.past())[None])[0]
    np.testing.assert_allclose(traj.waypoints, ref.double().numpy(), atol=1e-5)
    # a single array means the front camera; float frames in [0, 1] are accepted
    again = planner.plan(frame.astype(np.float32) / 255.0, ego, 0)
    np.testing.assert_allclose(again.waypoints, traj.waypoints, atol=1e-2)


@pytest.mark.parametrize("method", ["grid", "fastv", "divprune"])
def test_pruning_per_call_then_back_to_full(planner, method):
    frame, ego = _frame(2), EgoState(4.0)
    full = planner.plan(frame, ego, "straight")
    pruned = planner.plan(frame, ego, "straight", PruningSpec(method, 0.75))
    assert pruned.num_kept == 3 and pruned.kept_tokens[0].shape == (3, 2)
    assert (pruned.kept_tokens[0] >= 0).all() and (pruned.kept_tokens[0] < np.array([3, 4])).all()
    assert not np.allclose(pruned.waypoints, full.waypoints)
    after = planner.plan(frame, ego, "straight")  # the pruner is detached again
    np.testing.assert_allclose(after.waypoints, full.waypoints, atol=1e-6)
    zero = planner.plan(frame, ego, "straight", PruningSpec(method, 0.0))
    np.testing.assert_allclose(zero.waypoints, full.waypoints, atol=1e-6)


def test_every_registered_method_runs(planner):
    frame, ego = _frame(3), EgoState(5.0, 0.2, -0.05)
    for name in list_pruners():
        if name == "recon":  # its shipped weights fit the shipped planner, not this tiny one: a clear error
            with pytest.raises(PlanningInputError, match="trained for another host.*recon_untrained"):
                planner.plan(frame, ego, "right", PruningSpec(name, 0.5), session_id="s")
            continue
        traj = planner.plan(frame, ego, "right", PruningSpec(name, 0.5), session_id="s")
        assert np.all(np.isfinite(traj.waypoints)), name
        assert 1 <= traj.num_kept <= traj.num_visual, name
    planner.reset("s")


@pytest.mark.parametrize("call, match", [
    (lambda p: p.plan(_frame(), EgoState(3.0), "reverse"), "command"),
    (lambda p: p.plan(np.zeros((10, 10, 3), np.uint8), EgoState(3.0), "left"), "RGB image"),
    (lambda p: p.plan({"CAM_BACK": _frame()}, EgoState(3.0), "left"), "missing camera"),
    (lambda p: p.plan(_frame(), EgoState(float("nan")), "left"), "finite"),
    (lambda p: p.plan(_frame(), EgoState(3.0, past_traj=np.zeros((3, 2))), "left"), "past_traj"),
    (lambda p: p.plan(_frame(), EgoState(3.0), "left", PruningSpec("nope", 0.5)), "unknown pruning method"),
    (lambda p: p.plan(_frame(), EgoState(3.0), "left", PruningSpec("fastv", 0.5, {"bogus": 1})), "cannot build"),
    (lambda p: PruningSpec("grid", 1.0), "ratio"),
    (lambda p: p.plan(_frame(), EgoState(3.0), "left", PruningSpec("fastv", 0.5, {"layer": 9})), "does not fit"),
])
def test_bad_inputs_raise_planning_input_error(planner, call, match):
    with pytest.raises(PlanningInputError, match=match):
        call(planner)


def test_vla_pruner_warms_up_on_plan_query_attention(planner):
    """VLA-Pruner's action signal comes from the plan queries' prefill attention: it prunes after its window."""
    frame, ego = _frame(4), EgoState(5.0)
    spec = PruningSpec("vla_pruner", 0.5, {"layer": 2})
    planner.reset()
    kept = [planner.plan(frame, ego, "left", spec, session_id="a").num_kept for _ in range(4)]
    assert kept[:3] == [12, 12, 12] and kept[3] == 6
    # another session starts its own warm-up; reset forgets a session
    assert planner.plan(frame, ego, "left", spec, session_id="b").num_kept == 12
    planner.reset("a")
    assert planner.plan(frame, ego, "left", spec, session_id="a").num_kept == 12


def test_two_frame_planner_reads_the_previous_keyframe_per_request():
    """``prev_frames`` travels with each request: a batch mixing a clip and a still equals one-by-one
    calls, a missing previous frame is the still, and a single-frame planner ignores it."""
    from fastdrive.planner import PlanRequest

    model = DrivingVLA(vlm=SMALL, image_size=(112, 84), seed=1, frame_pair=True)
    with torch.no_grad():
        model.head[-1].weight.normal_(0, 0.5)
    pair = EmbeddedPlanner(model)
    assert pair.reads_prev_frames
    ego = EgoState(speed=0.0)
    cur, prev = _frame(3), _frame(4)
    clip = pair.plan({"CAM_FRONT": cur}, ego, "straight", prev_frames={"CAM_FRONT": prev}).waypoints
    still = pair.plan(cur, ego, "straight").waypoints
    assert not np.allclose(clip, still, atol=1e-4)
    np.testing.assert_allclose(pair.plan(cur, ego, "straight", prev_frames=cur).waypoints, still, atol=1e-5)
    both = pair.plan_batch([PlanRequest(cur, ego, "straight", prev_frames=prev),
                            PlanRequest(cur, ego, "straight", pruning=None)])
    np.testing.assert_allclose(both[0].waypoints, clip, atol=1e-5)
    np.testing.assert_allclose(both[1].waypoints, still, atol=1e-5)
    with torch.no_grad():
        ref = model.plan(pair._images([cur]), torch.tensor([2]), torch.zeros(1, 3), torch.zeros(1, 4, 2),
                         imgs_prev=pair._images([prev]))
    np.testing.assert_allclose(clip, ref[0].double().numpy(), atol=1e-5)
    with pytest.raises(PlanningInputError, match="previous keyframe"):
        pair.plan(cur, ego, "straight", prev_frames=np.zeros((5, 5), np.uint8))
    with pytest.raises(PlanningInputError, match="previous keyframe: missing camera"):
        pair.plan(cur, ego, "straight", prev_frames={"CAM_BACK": prev})
    single = EmbeddedPlanner(DrivingVLA(vlm=SMALL, image_size=(112, 84), seed=1))
    assert not single.reads_prev_frames
    np.testing.assert_allclose(single.plan(cur, ego, "straight", prev_frames=prev).waypoints,
                               single.plan(cur, ego, "straight").waypoints)
    single.plan(cur, ego, "straight", prev_frames=np.zeros((5, 5), np.uint8))  # ignored, not checked
