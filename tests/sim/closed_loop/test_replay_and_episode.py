"""Closed loop on the tiny planning world: the world re-simulates, log replay scores ~1, the reference
drivers and failure handling work, and an episode is reproducible."""

from __future__ import annotations

import json
import shutil

import httpx
import numpy as np
import pytest

from fastdrive.sim.closed_loop.drivers import ConstantVelocityDriver, EpisodeFailure, PlanInput, ServiceDriver
from fastdrive.sim.closed_loop.episode import Camera, EpisodeSpec, run_episode
from fastdrive.sim.closed_loop.replay import ReplayWorld, WorldError
from fastdrive.sim.closed_loop.runner import episodes, format_table, reference_rows, run_rows, table


@pytest.fixture(scope="module")
def world(planning_world_root):
    return ReplayWorld(planning_world_root)


def test_the_world_comes_back_from_its_seed(world, planning_world_root):
    meta = json.loads((__import__("pathlib").Path(planning_world_root) / "fastdrive_gt" / "world.json").read_text())
    assert sorted(world.scenes) == sorted(meta["scenes"])
    scene = world.split("val")[0]
    assert scene.log.split == "val" and scene.duration == pytest.approx(7.5)
    # the ego replays the simulation's own 10 Hz track, which passes through every keyframe
    f2, f3 = scene.log.frames[2], scene.log.frames[3]
    assert len(scene.log.ego_track) == 5 * (len(scene.log.frames) - 1) + 1
    x2, y2, yaw2, v2 = scene.ego_at(1.0)
    assert (x2, y2, yaw2, v2) == pytest.approx((f2.ego.x, f2.ego.y, f2.ego.yaw, f2.ego.speed))
    # the other agents: linear between keyframes
    mid = {o.token: o for o in scene.objects_at(1.25)}
    a = next(o for o in f2.objects if o.token in {p.token for p in f3.objects})
    b = next(o for o in f3.objects if o.token == a.token)
    assert mid[a.token].center[:2] == pytest.approx((a.center[:2] + b.center[:2]) / 2)
    assert scene.drivable.contains(__import__("shapely").geometry.Point(f2.ego.x, f2.ego.y))


def test_a_world_that_does_not_come_back_is_a_clear_error(planning_world_root, tmp_path):
    with pytest.raises(WorldError, match="not a FastDrive world"):
        ReplayWorld(str(tmp_path))
    root = tmp_path / "w"
    shutil.copytree(planning_world_root, root, ignore=shutil.ignore_patterns("samples", "sweeps"))
    meta_path = root / "fastdrive_gt" / "world.json"
    meta = json.loads(meta_path.read_text())
    meta["seed"] += 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(WorldError, match="does not give back"):
        ReplayWorld(str(root))
    with pytest.raises(WorldError, match="unknown scene"):
        ReplayWorld(planning_world_root).split(names=["scene-9999"])


def test_log_replay_scores_near_one_on_every_scene(world):
    specs = episodes(list(world.scenes.values()), seconds=5.0, starts=3)
    assert len(specs) == 6 and {s.start_s for s in specs} == {0.0, 1.5, 2.5}
    results = run_rows(reference_rows()[:3], specs, client=None, camera=None)
    replay = [r.pdm.pdms for r in results["log replay"]]
    assert min(replay) >= 0.95, [r.pdm.events for r in results["log replay"]]
    # the logged future as the plan, through the vehicle model and the tracker: tracking costs little
    tracked = [r.pdm.pdms for r in results["log plan, tracked"]]
    assert np.mean(tracked) >= 0.9, [r.pdm.events for r in results["log plan, tracked"]]
    rows = table(results, resamples=200)
    assert rows[0]["pdms"] >= 0.95 and rows[0]["pdms_ci"][0] <= rows[0]["pdms"] <= rows[0]["pdms_ci"][1]
    assert "| log replay |" in format_table(rows)


def test_constant_velocity_driver_drives_straight(world):
    inp = PlanInput({}, 4.0, 0.0, 0.3, np.zeros((4, 2)), "left", "s")
    wp = ConstantVelocityDriver().plan(inp).waypoints
    assert wp.shape == (6, 2) and wp[-1].tolist() == [12.0, 0.0]  # straight, whatever the yaw rate
    scene = world.split("train")[0]
    res = run_episode(EpisodeSpec(scene, 0.0, 5.0), ConstantVelocityDriver().plan, "cv", None)
    assert res.pdm is not None and res.steps == 50


def _driver(handler, **kw):
    client = httpx.Client(base_url="http://planner.test", transport=httpx.MockTransport(handler))
    return ServiceDriver(client, {"method": "none", "ratio": 0.0}, **kw)


@pytest.mark.parametrize("handler, match", [
    (lambda req: httpx.Response(500, json={"error": "ModelError", "detail": "boom"}), "HTTP 500 ModelError: boom"),
    (lambda req: httpx.Response(422, json={"error": "PlanningInputError", "detail": "bad"}), "HTTP 422"),
    (lambda req: httpx.Response(200, text="<html>"), "not JSON"),
    (lambda req: httpx.Response(200, json={"waypoints": [[1, 2]]}), "unusable plan"),
    (lambda req: httpx.Response(200, content=b'{"waypoints": [' + b"[NaN, 0], " * 5 + b"[NaN, 0]]}"), "unusable plan"),
])
def test_bad_answers_end_the_episode_with_a_clear_message(world, handler, match):
    scene = world.split("val")[0]
    camera = Camera(("CAM_FRONT",), (320, 180), world.seed)
    res = run_episode(EpisodeSpec(scene, 0.0, 5.0), _driver(handler).plan, "bad", camera)
    assert res.pdm is None and match in res.failure and res.failure.startswith("t=0.0 s")


def test_a_slow_server_times_out_and_the_run_goes_on(world):
    def slow(req):
        raise httpx.ReadTimeout("too slow", request=req)

    driver = _driver(slow, timeout_s=0.5)
    with pytest.raises(EpisodeFailure, match="no plan within 0.5 s"):
        driver.plan(PlanInput({"CAM_FRONT": np.zeros((180, 320, 3), np.uint8)}, 3.0, 0.0, 0.0,
                              np.zeros((4, 2)), "left", "s"))
    client = httpx.Client(base_url="http://planner.test", transport=httpx.MockTransport(slow))
    specs = episodes(list(world.scenes.values()), 5.0, 1)
    results = run_rows([reference_rows()[3]], specs, client, Camera(("CAM_FRONT",), (320, 180), world.seed))
    assert [r.failure is not None for r in results["unpruned"]] == [True, True]
    assert table(results)[0]["failures"] == 2


@pytest.mark.parametrize("send", [False, True])
def test_the_previous_steps_frame_goes_with_each_plan_when_the_model_reads_two(world, send):
    """From the second plan on, ``prev_images`` is the frame posted at the step before (0.5 s earlier);
    the first plan has none; a driver for a single-frame model sends none at all."""
    bodies = []

    def answer(req):
        bodies.append(json.loads(req.content))
        return httpx.Response(200, json={"waypoints": [[0.5 * (i + 1), 0.0] for i in range(6)]})

    scene = world.split("val")[0]
    camera = Camera(("CAM_FRONT",), (320, 180), world.seed)
    res = run_episode(EpisodeSpec(scene, 0.0, 2.0), _driver(answer, send_prev_frames=send).plan, "pair", camera)
    assert res.failure is None and len(bodies) == 4  # plans at 0.0, 0.5, 1.0, 1.5 s
    if not send:
        assert all("prev_images" not in b for b in bodies)
        return
    assert "prev_images" not in bodies[0]
    for before, body in zip(bodies, bodies[1:]):
        assert body["prev_images"] == before["images"] and body["images"] != before["images"]
