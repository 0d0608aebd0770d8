"""Lidar points per annotation class in a generated world (issue 10, "World fidelity").

nuScenes' evaluators drop annotations without lidar points, so cones,
barriers and pedestrians close to the ego and in its line of sight must get
some, as they would from a real HDL-32E. The world is small (two scenes of
40 keyframes; no cameras are rendered, only the lidar sweeps and the
exporter's ``num_lidar_pts`` count).
"""

from typing import Dict, List, Sequence, Tuple

import numpy as np
import pytest

from fastdrive.sim.frame_sensors import lidar_sweep_and_counts
from fastdrive.sim.nuscenes_export import plan_world
from fastdrive.sim.nuscenes_schema import derive_seed
from fastdrive.sim.rig import nuscenes_rig, sensor_pose_global
from fastdrive.sim.scenario import generate_world
from fastdrive.sim.types import WorldObject

SEED, SCENES, SAMPLES = 1, 2, 40  # this world drives past roadworks (cones and barriers)
NEAR = 20.0  # m, horizontal distance from the lidar
SMALL_CLASSES = ("traffic_cone", "barrier", "pedestrian")
# Range (m) within which an unoccluded object always spans more than the 1.33 deg
# between two beams, seen from 1.84 m up: a 0.7 m cone to ~25 m, a 1 m barrier
# and a 1.6 m+ pedestrian beyond 40 m. Such objects must get points.
MUST_HIT_RANGE = {"traffic_cone": NEAR, "barrier": 2 * NEAR, "pedestrian": 2 * NEAR}
MIN_CANDIDATES = {"traffic_cone": 5, "barrier": 3, "pedestrian": 20}

Row = Tuple[str, float, bool, int]  # kind, distance (m), line of sight clear, num_lidar_pts


def segment_hits_boxes(p0: np.ndarray, p1: np.ndarray, boxes: Sequence[WorldObject]) -> np.ndarray:
    """Whether the segment ``p0 -> p1`` (``(3,)`` each, global) crosses each box -> ``(B,)`` bool."""
    if not boxes:
        return np.zeros(0, bool)
    center = np.array([b.center for b in boxes], float)  # (B, 3)
    half = np.array([[b.size[1], b.size[0], b.size[2]] for b in boxes], float) / 2.0  # length, width, height
    yaw = np.array([b.yaw for b in boxes], float)
    c, s = np.cos(yaw), np.sin(yaw)

    def local(v: np.ndarray) -> np.ndarray:  # (B, 3) global offsets -> box axes
        return np.stack([c * v[:, 0] + s * v[:, 1], -s * v[:, 0] + c * v[:, 1], v[:, 2]], -1)

    o = local(p0[None] - center)
    d = local(np.broadcast_to(p1 - p0, center.shape))
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(np.abs(d) > 1e-12, 1.0 / d, 1e12)
        t1, t2 = (-half - o) * inv, (half - o) * inv
    t_in = np.minimum(t1, t2).max(axis=1)
    t_out = np.maximum(t1, t2).min(axis=1)
    return (t_in <= t_out) & (t_out >= 0.0) & (t_in <= 1.0)


def annotation_rows(seed: int, num_scenes: int, samples_per_scene: int) -> List[Row]:
    """One row per planned annotation of every keyframe of a generated world."""
    scenes = generate_world(num_scenes, seed=seed, samples_per_scene=samples_per_scene)
    rig = nuscenes_rig((64, 36))  # cameras are not rendered here
    out: List[Row] = []
    for plan in plan_world(scenes, seed, rig):
        scene = scenes[plan.scene_idx]
        frame = scene.frames[plan.frame_idx]
        _, counts = lidar_sweep_and_counts(
            scene.town, frame, rig.lidar, [a.obj for a in plan.anns],
            seed=derive_seed(seed, scene.name, plan.frame_idx, rig.lidar.name),
        )
        origin = sensor_pose_global(rig.lidar.translation, rig.lidar.rotation, frame.ego)[:3, 3]
        everything = list(frame.objects) + list(scene.town.statics)
        for ann, n in zip(plan.anns, counts):
            others = [o for i, o in enumerate(everything) if i != ann.index]
            target = np.asarray(ann.obj.center, float)
            clear = not segment_hits_boxes(origin, target, others).any()
            dist = float(np.hypot(*(target[:2] - origin[:2])))
            out.append((ann.obj.kind, dist, clear, int(n)))
    return out


@pytest.fixture(scope="module")
def rows() -> List[Row]:
    """The rows of the test world."""
    return annotation_rows(SEED, SCENES, SAMPLES)


def test_segment_hits_boxes():
    box = WorldObject("b", "car", np.array([5.0, 0.0, 1.0]), np.array([2.0, 4.0, 2.0]), 0.3)
    p0 = np.array([0.0, 0.0, 1.0])
    assert segment_hits_boxes(p0, np.array([10.0, 0.0, 1.0]), [box]).tolist() == [True]
    assert segment_hits_boxes(p0, np.array([2.0, 0.0, 1.0]), [box]).tolist() == [False]  # stops short
    assert segment_hits_boxes(p0, np.array([10.0, 0.0, 6.0]), [box]).tolist() == [False]  # passes above
    assert segment_hits_boxes(p0, np.array([0.0, 10.0, 1.0]), [box]).tolist() == [False]


@pytest.mark.parametrize("kind", SMALL_CLASSES)
def test_unoccluded_small_objects_in_range_get_points(rows: List[Row], kind: str):
    """Every cone within 20 m, barrier and pedestrian within 40 m with a clear line of sight has points."""
    limit = MUST_HIT_RANGE[kind]
    near = [(d, n) for k, d, clear, n in rows if k == kind and d <= limit and clear]
    assert len(near) >= MIN_CANDIDATES[kind], (
        f"the seed-{SEED} world has only {len(near)} unoccluded {kind} annotations within {limit} m; "
        "pick a seed that drives past more"
    )
    empty = sorted(round(d, 1) for d, n in near if n == 0)
    assert not empty, f"{len(empty)}/{len(near)} {kind} annotations within {limit} m: 0 points at {empty} m"


def test_points_per_class_fall_with_distance(rows: List[Row]):
    """Mean points per unoccluded annotation: more within 20 m than at 20-40 m, for every small class."""
    stats: Dict[str, List[float]] = {}
    for kind in SMALL_CLASSES:
        near = [n for k, d, clear, n in rows if k == kind and clear and d <= NEAR]
        mid = [n for k, d, clear, n in rows if k == kind and clear and NEAR < d <= 2 * NEAR]
        if near and mid:
            stats[kind] = [float(np.mean(near)), float(np.mean(mid))]
    assert "pedestrian" in stats and "traffic_cone" in stats, stats
    for kind, (near_mean, mid_mean) in stats.items():
        assert near_mean > mid_mean > 0.0, (kind, near_mean, mid_mean)
