"""Recovery samples: the expert's plan from wherever the car is, on the tiny planning world."""

import numpy as np
import pytest

from fastdrive.sim.closed_loop.episode import Camera
from fastdrive.sim.closed_loop.geometry import to_ego
from fastdrive.sim.closed_loop.recovery import Noise, collect_episode, expert_plan, nearest_log_time
from fastdrive.sim.closed_loop.replay import ReplayWorld


@pytest.fixture(scope="module")
def scene(planning_world_root):
    return ReplayWorld(planning_world_root).split("train")[0]


def test_on_the_log_the_expert_plan_is_the_logged_future(scene):
    x, y, yaw, _ = scene.ego_at(2.0)
    assert nearest_log_time(scene, x, y, 1.0) == pytest.approx(2.0)
    future = np.array([scene.ego_at(2.0 + 0.5 * k)[:2] for k in range(1, 7)])
    np.testing.assert_allclose(expert_plan(scene, x, y, yaw, 2.0), to_ego(future, x, y, yaw), atol=1e-9)


def test_off_the_log_the_plan_leads_back(scene):
    x, y, yaw, _ = scene.ego_at(2.0)
    left = (x - 1.0 * np.sin(yaw), y + 1.0 * np.cos(yaw))  # 1 m to the left of the logged car
    plan = expert_plan(scene, *left, yaw, 2.0)
    assert plan[-1, 1] < -0.5  # heads back right, towards the logged path
    ahead = (x + 3.0 * np.cos(yaw), y + 3.0 * np.sin(yaw))  # 3 m ahead: the logged pace from that place
    assert nearest_log_time(scene, *ahead, 2.0) > 2.0


def test_a_noisy_drive_records_one_sample_per_plan_step(scene):
    cam = Camera(("CAM_FRONT",), (320, 180), 0)
    clean = collect_episode(scene, cam, 3.0, np.random.default_rng(0), Noise(p=0.0))
    noisy = collect_episode(scene, cam, 3.0, np.random.default_rng(0), Noise(p=1.0, lateral_m=2.0))
    assert len(clean) == len(noisy) == 6
    s = noisy[3]
    assert s["image"].shape == (180, 320, 3) and np.asarray(s["target"]).shape == (6, 2)
    assert s["command"] in ("left", "right", "straight")
    lateral = lambda samples: max(abs(np.asarray(x["target"])[0, 1]) for x in samples)  # noqa: E731
    assert lateral(noisy) > lateral(clean)  # the noise moved the car off the path, the target corrects
