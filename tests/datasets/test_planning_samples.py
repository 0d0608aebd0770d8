"""Planning records from the nuScenes tables of a generated world: frames, boxes, map, commands."""

from __future__ import annotations

import numpy as np
import pytest
from pyquaternion import Quaternion

from planning_world import VERSION, planning_world

from fastdrive.datasets.planning._drivable import from_wkt
from fastdrive.datasets.planning.samples import (
    build_record,
    build_records,
    derive_command,
    load_maps,
    read_ego_states,
)
from fastdrive.evaluation.planning_metrics import collision_flags, ego_polygons, offroad_flags, path_headings


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    from nuscenes import NuScenes

    root = planning_world(tmp_path_factory)
    nusc = NuScenes(version=VERSION, dataroot=str(root), verbose=False)
    records = build_records(nusc, [s["name"] for s in nusc.scene])
    return nusc, records


def _to_ego(pose: dict, xyz) -> np.ndarray:
    """Global point -> ego frame by the devkit's own quaternion algebra (independent of the code)."""
    p = np.asarray(xyz, float) - np.asarray(pose["translation"], float)
    return Quaternion(pose["rotation"]).inverse.rotate(p)


def _lidar_pose(nusc, sample_token: str) -> dict:
    sd = nusc.get("sample_data", nusc.get("sample", sample_token)["data"]["LIDAR_TOP"])
    return nusc.get("ego_pose", sd["ego_pose_token"])


def test_future_and_past_waypoints_equal_hand_transformed_poses(world):
    nusc, records = world
    rec = records[5]  # a sample with 5 past and >= 6 future keyframes in the scene
    pose = _lidar_pose(nusc, rec["sample_token"])
    sample = nusc.get("sample", rec["sample_token"])
    nxt = sample
    for k in range(6):
        nxt = nusc.get("sample", nxt["next"])
        expected = _to_ego(pose, _lidar_pose(nusc, nxt["token"])["translation"])[:2]
        np.testing.assert_allclose(rec["gt_traj"][k], expected, atol=1e-6)
    assert rec["gt_valid"].all()
    prv = sample
    for k in range(4):
        prv = nusc.get("sample", prv["prev"])
        expected = _to_ego(pose, _lidar_pose(nusc, prv["token"])["translation"])[:2]
        np.testing.assert_allclose(rec["past_traj"][3 - k], expected, atol=1e-6)
    assert rec["past_valid"].all()
    assert rec["gt_traj"][-1, 0] > 1.0  # the ego drives forward (+x)


def test_valid_masks_at_scene_ends(world):
    _, records = world
    by_scene = {}
    for r in records:
        by_scene.setdefault(r["scene_name"], []).append(r)
    for recs in by_scene.values():
        assert [int(r["gt_valid"].sum()) for r in recs[-7:]] == [6, 5, 4, 3, 2, 1, 0]
        assert not recs[-1]["gt_valid"].any() and np.all(recs[-1]["gt_traj"] == 0)
        assert [int(r["past_valid"].sum()) for r in recs[:5]] == [0, 1, 2, 3, 4]
        first = recs[0]  # no history: extrapolated backwards at the current speed
        np.testing.assert_allclose(first["past_traj"][:, 0], -first["speed"] * 0.5 * np.arange(4, 0, -1))


def test_future_boxes_match_devkit_boxes(world):
    nusc, records = world
    rec = records[3]
    pose = _lidar_pose(nusc, rec["sample_token"])
    fut = nusc.get("sample", nusc.get("sample", rec["sample_token"])["next"])
    fut = nusc.get("sample", fut["next"])  # step index 1 (t = 1.0 s)
    assert len(rec["future_boxes"][1]) == len(fut["anns"]) > 0
    for ann_tok in fut["anns"]:
        ann = nusc.get("sample_annotation", ann_tok)
        box = nusc.get_box(ann_tok)
        box.translate(-np.asarray(pose["translation"]))
        box.rotate(Quaternion(pose["rotation"]).inverse)
        j = rec["future_instances"][1].index(ann["instance_token"])
        x, y, length, width, yaw = rec["future_boxes"][1][j]
        np.testing.assert_allclose([x, y], box.center[:2], atol=1e-6)
        np.testing.assert_allclose([width, length], box.wlh[:2], atol=1e-9)
        assert abs(np.sin(yaw - box.orientation.yaw_pitch_roll[0])) < 1e-6


def test_logged_trajectory_never_collides_nor_leaves_the_road(world):
    _, records = world
    full = [r for r in records if r["gt_valid"].all()]
    assert len(full) >= 16
    for r in full:
        drivable = from_wkt(r["drivable_wkt"])
        assert drivable.area > 500.0
        assert not collision_flags(r["gt_traj"], r["future_boxes"]).any(), r["sample_token"]
        assert not offroad_flags(r["gt_traj"], drivable).any(), r["sample_token"]
        assert drivable.contains(ego_polygons(np.array([[0.0, 0.0], [1.0, 0.0]]))[0])  # the ego now


def test_map_and_boxes_can_flag_a_bad_trajectory(world):
    """The consistency test above is not vacuous: a path 8 m sideways leaves the road."""
    _, records = world
    r = next(r for r in records if r["gt_valid"].all())
    shifted = r["gt_traj"] + np.array([0.0, 8.0])
    assert offroad_flags(shifted, from_wkt(r["drivable_wkt"])).any() or offroad_flags(
        r["gt_traj"] - np.array([0.0, 8.0]), from_wkt(r["drivable_wkt"])
    ).any()
    others = [b for b in r["future_boxes"] if len(b)]
    assert others, "the world should have annotated objects near the ego"
    # a trajectory that drives exactly through an agent's future box collides
    k = next(k for k, b in enumerate(r["future_boxes"]) if len(b))
    through = r["gt_traj"].copy()
    through[k] = r["future_boxes"][k][0, :2]
    assert collision_flags(through, r["future_boxes"])[k]


def test_commands_match_turning_behaviour(world):
    _, records = world
    turns = 0
    for r in records:
        if not r["gt_valid"].all():
            continue
        heading = np.degrees(path_headings(r["gt_traj"])[-1])
        if abs(heading) >= 40.0:  # an intersection turn, sharper than any road curve
            turns += 1
            assert r["command"] == ("left" if heading > 0 else "right"), (heading, r["command"])
        assert r["motion_source"] == "log"
    assert turns >= 1


def test_real_nuscenes_fallback_uses_poses_and_st_p3_rule(world):
    nusc, records = world
    maps = load_maps(nusc.dataroot, [r["location"] for r in records])
    logged = read_ego_states(nusc.dataroot)
    for r in records[2:8]:
        fb = build_record(nusc, r["sample_token"], maps, ego_states=None)
        assert fb["motion_source"] == "ego_pose"
        assert fb["command"] == derive_command(fb["gt_traj"], fb["gt_valid"])
        np.testing.assert_allclose(fb["gt_traj"], r["gt_traj"])
        assert abs(fb["speed"] - logged[r["sample_token"]]["speed"]) < 1.0
        assert abs(fb["yaw_rate"] - logged[r["sample_token"]]["yaw_rate"]) < 0.2


def test_derive_command_rule():
    t = np.arange(1, 7)[:, None] * np.array([[2.0, 0.0]])
    valid = np.ones(6, bool)
    assert derive_command(t, valid) == "straight"
    assert derive_command(t + [0.0, 2.5], valid) == "left"
    assert derive_command(t - [0.0, 2.5], valid) == "right"
    bent = t.copy()
    bent[-1, 1] = 3.0  # only the last (3 s) point decides
    assert derive_command(bent, valid) == "left"
    part = valid.copy()
    part[3:] = False  # the last valid point decides when the scene ends early
    assert derive_command(bent, part) == "straight"
