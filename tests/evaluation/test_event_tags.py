"""``event_tags``: hand-built scene logs, the speed-profile fallback, and a generated tiny world."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastdrive.evaluation.event_tags import (TAGS, SampleTags, cv_departure, load_sample_frames,
                                             load_scene_events, tag_records, tag_sample)

ROOT = Path(__file__).resolve().parents[2]


def _scene(speed_fn, num_frames, curvature_fn=None, dt=0.01):
    """Keyframe poses of a hand-made drive.

    Args:
        speed_fn: t (s) -> speed (m/s); curvature_fn: arc length s (m) -> curvature (1/m), default straight.

    Returns:
        ``xy (F, 2)`` rear-axle positions (m), ``yaw (F,)`` rad, ``v (F,)`` m/s; keyframes 0.5 s apart.
    """
    t = np.arange(0.0, 0.5 * (num_frames - 1) + 1e-9, dt)
    v = np.array([speed_fn(x) for x in t])
    s = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * dt)])
    kappa = np.array([curvature_fn(x) for x in s]) if curvature_fn else np.zeros_like(s)
    yaw = np.concatenate([[0.0], np.cumsum(0.5 * (kappa[1:] + kappa[:-1]) * np.diff(s))])
    x = np.concatenate([[0.0], np.cumsum(np.cos(yaw[:-1]) * np.diff(s))])
    y = np.concatenate([[0.0], np.cumsum(np.sin(yaw[:-1]) * np.diff(s))])
    k = np.round(np.arange(num_frames) * 0.5 / dt).astype(int)
    return np.stack([x[k], y[k]], axis=1), yaw[k], v[k]


def _records(xy, yaw, v, scene="scene-x"):
    """Planning records (``gt_traj (6, 2)``, ``gt_valid``, ``past_traj (4, 2)``, ``speed``..) per keyframe."""
    out = []
    n = len(v)
    for f in range(n):
        c, s = np.cos(yaw[f]), np.sin(yaw[f])
        rot = np.array([[c, s], [-s, c]])  # global -> ego

        def ego(i, f=f, rot=rot):
            return rot @ (xy[i] - xy[f])

        gt = np.zeros((6, 2))
        valid = np.zeros(6, bool)
        for k in range(6):
            if f + k + 1 < n:
                gt[k], valid[k] = ego(f + k + 1), True
        past = np.array([[-v[f] * 0.5 * (4 - j), 0.0] for j in range(4)])
        pvalid = np.zeros(4, bool)
        for j in range(4):
            i = f - 4 + j
            if i >= 0:
                past[j], pvalid[j] = ego(i), True
        out.append(dict(sample_token=f"{scene}-{f}", scene_name=scene, gt_traj=gt, gt_valid=valid,
                        past_traj=past,
                        past_valid=pvalid, speed=float(v[f]), accel=0.0, yaw_rate=0.0, command="straight"))
    return out


def _stop_and_go(t):
    """Cruise 8 m/s, stop at t = 5 s (keyframe 10), stand 2 s, pull away at 2.5 m/s^2 from t = 7 s."""
    if t < 2.5:
        return 8.0
    if t < 5.0:
        return 8.0 * (5.0 - t) / 2.5
    if t < 7.0:
        return 0.0
    return min(8.0, 2.5 * (t - 7.0))


def _tags(rec, events, f, speeds=None):
    t = tag_sample(rec, events, f, speeds)
    return set(t.tags), t.critical


def test_stop_for_pedestrian_log():
    xy, yaw, v = _scene(_stop_and_go, 24)
    recs = _records(xy, yaw, v)
    events = [("stop_for_pedestrian", 10)]
    for f in range(4):  # the stop is more than 3 s away
        assert _tags(recs[f], events, f) == ({"cruise"}, False), f
    for f in range(4, 10):  # braking for the pedestrian within the horizon
        assert _tags(recs[f], events, f) == ({"pedestrian"}, True), f
    assert _tags(recs[10], events, 10) == ({"pedestrian"}, True)  # held; 1.25 m in 3 s: departs, no start
    for f in (11, 12, 13, 14):  # still held, pulls away within 3 s
        assert _tags(recs[f], events, f) == ({"pedestrian", "start"}, True), f
    assert _tags(recs[15], events, 15) == ({"cruise"}, False)  # 1.25 m/s: moved off; speeding up, no cause
    assert _tags(recs[23], events, 23) == ({"cruise"}, False)  # no future at all
    assert all(isinstance(tag_sample(r, events, f), SampleTags) for f, r in enumerate(recs))


def test_speed_profile_fallback_without_event_log():
    xy, yaw, v = _scene(_stop_and_go, 24)
    recs = _records(xy, yaw, v)
    assert _tags(recs[0], None, None) == ({"cruise"}, False)
    assert _tags(recs[5], None, 5) == ({"cruise"}, True)  # critical = departure from constant velocity
    assert _tags(recs[12], None, None) == ({"start"}, True)
    assert _tags(recs[10], None, None) == ({"cruise"}, True)
    assert _tags(recs[20], None, None) == ({"cruise"}, False)
    assert cv_departure(recs[5]) and not cv_departure(recs[0])


def test_turn_by_event_and_by_heading():
    # 6 m/s; a 90 deg left arc of radius 12 m from s = 30 m (t = 5 s, keyframe 10) to s = 48.8 m
    xy, yaw, v = _scene(lambda t: 6.0, 24, lambda s: 1.0 / 12.0 if 30.0 <= s < 30.0 + 6.0 * np.pi else 0.0)
    recs = _records(xy, yaw, v)
    events = [("turn_left", 10)]
    assert _tags(recs[0], events, 0) == ({"cruise"}, False)
    assert _tags(recs[4], events, 4) == ({"turn"}, False)  # event in 3 s, heading still straight
    assert _tags(recs[4], None, None) == ({"cruise"}, False)
    assert _tags(recs[12], events, 12) == ({"turn"}, False)  # event passed, future heading swings > 20 deg
    assert _tags(recs[12], None, None) == ({"turn"}, False)
    assert _tags(recs[4], [("go_straight", 10)], 4) == ({"cruise"}, False)


def test_old_episode_is_not_held_after_moving_off():
    # red light at keyframe 2 (stand until t = 2.5 s), drive off, stop behind a lead at keyframe 14 (t = 7 s)
    def speed(t):
        if t < 2.5:
            return 0.0
        if t < 4.5:
            return 3.0 * (t - 2.5)
        return max(0.0, 6.0 - 2.4 * (t - 4.5))

    xy, yaw, v = _scene(speed, 20)
    recs = _records(xy, yaw, v)
    events = [("red_light", 2), ("stop_for_lead", 14)]
    speeds = {f: float(s) for f, s in enumerate(v)}
    assert v[14] < 0.3 <= v[13]
    assert "red_light" in _tags(recs[3], events, 3)[0] and "start" in _tags(recs[3], events, 3)[0]
    for f, spd in ((15, speeds), (15, None), (17, speeds)):  # speeds or past 2 s show it moved off
        tags, _ = _tags(recs[f], events, f, spd)
        assert "lead" in tags and "red_light" not in tags, (f, spd is None)
    assert "red_light" in _tags(recs[17], events, 17, None)[0]  # limit: without speeds, 2 s back only
    assert "red_light" not in _tags(recs[8], events, 8, speeds)[0]
    assert _tags(recs[8], events, 8, speeds) == ({"lead"}, True)  # stop in 3 s


@pytest.fixture(scope="module")
def lead_world(tmp_path_factory):
    """Seed 1, 3 scenes x 14 keyframes at 160x90: scene-0001 stops behind a lead (stop_for_lead@frame=12)."""
    root = tmp_path_factory.mktemp("tags_world") / "world"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "data_tools.make_world", "--out", str(root), "--scenes", "3", "--seed", "1",
           "--samples-per-scene", "14", "--image-size", "160x90", "--workers", "1", "--quiet"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return str(root)


def test_tags_on_generated_world(lead_world, tmp_path):
    from nuscenes.nuscenes import NuScenes

    from fastdrive.datasets.planning import build_records

    events = load_scene_events(lead_world)
    frames = load_sample_frames(lead_world)
    assert events is not None and frames is not None and len(frames) == 42
    nusc = NuScenes("v1.0-fastdrive", lead_world, verbose=False)
    records = build_records(nusc, sorted(events))
    tags = tag_records(records, lead_world)
    assert len(tags) == len(records) == 42
    assert all(t.tags and t.tags <= set(TAGS) for t in tags)
    assert all(("cruise" not in t.tags) or t.tags == {"cruise"} for t in tags)
    lead_scenes = [s for s, ev in events.items() if any(name == "stop_for_lead" for name, _ in ev)]
    assert lead_scenes, events
    for scene in lead_scenes:
        stop = min(k for name, k in events[scene] if name == "stop_for_lead")
        before = [frames[r["sample_token"]] for r, t in zip(records, tags)
                  if r["scene_name"] == scene and frames[r["sample_token"]] < stop and "lead" in t.tags]
        assert before and min(before) >= stop - 6, before
    assert any(t.critical for t in tags)
    # a dataroot without fastdrive_gt (real nuScenes) falls back to the speed-profile tags
    assert load_scene_events(str(tmp_path)) is None and load_sample_frames(str(tmp_path)) is None
    fallback = tag_records(records, str(tmp_path))
    assert all(not (t.tags & {"pedestrian", "lead", "red_light"}) for t in fallback)


def test_event_parsing(tmp_path):
    gt = tmp_path / "fastdrive_gt"
    gt.mkdir()
    world = {"scenes": {"a": {"events": ["stop_for_lead@frame=11", "turn_left@frame=5"]},
                        "b": {"events": []}}}
    (gt / "world.json").write_text(json.dumps(world))
    assert load_scene_events(str(tmp_path)) == {"a": [("stop_for_lead", 11), ("turn_left", 5)], "b": []}
    (gt / "world.json").write_text(json.dumps({"scenes": {"a": {"events": ["oops"]}}}))
    with pytest.raises(ValueError):
        load_scene_events(str(tmp_path))
