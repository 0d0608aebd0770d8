"""The ray-cast LIDAR_TOP: layout, ground, boxes, occlusion, determinism."""

import numpy as np

from fastdrive.sim.frame_sensors import lidar_to_global, points_in_boxes
from fastdrive.sim.lidar import lidar_directions, raycast_lidar, ray_window, ring_elevations
from fastdrive.sim.render.toy import toy_ego, toy_objects, toy_town
from fastdrive.sim.rig import LidarSpec, ego_pose_matrix, nuscenes_rig, sensor_pose_global
from fastdrive.sim.types import SEMANTIC_ID, EgoState, GroundRaster, Town, WorldObject

LIDAR = nuscenes_rig().lidar
EGO = EgoState(x=3.0, y=-2.0, yaw=0.4, speed=0.0)


def _town(statics=()) -> Town:
    cls = np.full((400, 400), SEMANTIC_ID["road"], np.uint8)
    ground = GroundRaster(classes=cls, origin=(-100.0, -100.0), resolution=0.5)
    return Town(name="boston-seaport", extent=(-100, -100, 100, 100), road_segments=[], lanes={},
                ped_crossings=[], walkways=[], stop_lines=[], traffic_lights=[], lane_dividers=[],
                road_dividers=[], ground=ground, statics=list(statics))


def _to_global(points: np.ndarray, lidar: LidarSpec, ego: EgoState) -> np.ndarray:
    """``(N, 5)`` lidar-frame points -> ``(N, 3)`` global xyz."""
    ego_xyz = points[:, :3] @ lidar.rotation_matrix.T + lidar.translation
    m = ego_pose_matrix(ego)
    return ego_xyz @ m[:3, :3].T + m[:3, 3]


def test_layout_and_ground_plane():
    pts = raycast_lidar(_town(), [], EGO, LIDAR, seed=0)
    assert pts.dtype == np.float32 and pts.ndim == 2 and pts.shape[1] == 5
    # on an empty flat world every downward ray within range hits the ground
    d = lidar_directions(LIDAR) @ LIDAR.rotation_matrix.T  # ego frame (C, S, 3)
    t = -LIDAR.translation[2] / np.where(d[..., 2] < 0, d[..., 2], np.nan)
    expected = np.sum((t >= 1.0) & (t <= LIDAR.max_range))
    assert len(pts) == expected
    assert 0.3 * LIDAR.channels * LIDAR.azimuth_steps < len(pts) <= LIDAR.channels * LIDAR.azimuth_steps
    g = _to_global(pts, LIDAR, EGO)
    assert np.abs(g[:, 2]).max() < 0.1  # range noise only
    rings = pts[:, 4]
    assert rings.min() >= 0 and rings.max() < LIDAR.channels and np.all(rings == np.round(rings))
    assert (pts[:, 3] >= 0).all() and (pts[:, 3] <= 255).all()
    assert np.linalg.norm(pts[:, :3], axis=1).max() <= LIDAR.max_range + 0.1


def test_points_on_a_box_lie_inside_it_and_it_casts_a_shadow():
    box = WorldObject(token="b", kind="building", center=np.array([13.0, 3.0, 2.0]),
                      size=np.array([4.0, 3.0, 4.0]),
                      yaw=0.9)
    empty = raycast_lidar(_town(), [], EGO, LIDAR)
    pts = raycast_lidar(_town(), [box], EGO, LIDAR)
    g = _to_global(pts, LIDAR, EGO)
    above = g[:, 2] > 0.1
    assert above.sum() > 100
    # transform the raised points into the box frame: all inside (+ noise margin)
    c, s = np.cos(box.yaw), np.sin(box.yaw)
    local = (g[above] - box.center) @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    half = np.array([box.size[1], box.size[0], box.size[2]]) / 2
    assert (np.abs(local) <= half + 0.06).all()
    # the box hides the ground behind it: fewer ground returns than without it
    assert (~above).sum() < len(empty) - 100
    ge = _to_global(empty, LIDAR, EGO)
    behind = np.linalg.norm(ge[:, :2] - box.center[:2], axis=1) < 1.0
    assert behind.sum() > 0  # the empty world had returns where the box now stands
    assert not (np.linalg.norm(g[~above][:, :2] - box.center[:2], axis=1) < 1.0).any()


def test_object_parts_and_statics_are_hit_in_toy_town():
    town, objs, ego = toy_town(), toy_objects(), toy_ego()
    pts = raycast_lidar(town, objs, ego, LIDAR, seed=1)
    g = _to_global(pts, LIDAR, ego)
    assert 0.5 * LIDAR.channels * LIDAR.azimuth_steps < len(pts) <= LIDAR.channels * LIDAR.azimuth_steps
    # the lead car 14 m ahead in the ego lane returns points inside its box
    car = objs[0]
    near_car = np.linalg.norm(g[:, :2] - car.center[:2], axis=1) < 3.0
    assert (near_car & (g[:, 2] > 0.2)).sum() > 20
    # lane markings and the zebra crossing are brighter than asphalt
    flat = np.abs(g[:, 2]) < 0.1
    cls = town.ground.lookup(g[flat, :2])
    inten = pts[flat, 3]
    road = inten[cls == SEMANTIC_ID["road"]].mean()
    paint = inten[(cls == SEMANTIC_ID["lane_marking"]) | (cls == SEMANTIC_ID["crossing"])].mean()
    assert paint > 2 * road


def test_deterministic_and_seeded():
    town, objs, ego = toy_town(), toy_objects(), toy_ego()
    a = raycast_lidar(town, objs, ego, LIDAR, seed=5)
    b = raycast_lidar(town, objs, ego, LIDAR, seed=5)
    c = raycast_lidar(town, objs, ego, LIDAR, seed=6)
    assert a.tobytes() == b.tobytes()
    assert a.shape == c.shape and not np.array_equal(a, c)
    small = LidarSpec(channels=8, azimuth_steps=100)
    assert len(raycast_lidar(town, objs, ego, small)) <= 800


def _box_count(obj: WorldObject, ego: EgoState, statics=(), seed: int = 0) -> int:
    """Points of one sweep inside ``obj``'s box (the exporter's ``num_lidar_pts``)."""
    pts = raycast_lidar(_town(statics), [obj], ego, LIDAR, seed=seed)
    return int(points_in_boxes(lidar_to_global(pts, LIDAR, ego), [obj])[0])


def test_small_objects_get_points_at_every_bearing():
    """A lone cone at 20 m, a barrier and a pedestrian at 35 m are hit whatever their bearing.

    The sensor is tilted ~2.7 deg on the ego (nuScenes calibration), so a ray
    column's global azimuth differs from ring to ring; objects a few columns
    wide used to be missed when that was ignored.
    """
    kinds = {"traffic_cone": ((0.4, 0.4, 0.7), 20.0), "barrier": ((2.0, 0.4, 1.0), 35.0),
             "pedestrian": ((0.65, 0.65, 1.7), 35.0)}
    for kind, (size, dist) in kinds.items():
        counts = []
        for bearing in np.radians(np.arange(0.0, 360.0, 15.0)):
            c = np.array([EGO.x + dist * np.cos(bearing), EGO.y + dist * np.sin(bearing), size[2] / 2])
            counts.append(_box_count(WorldObject("o", kind, c, np.array(size), float(bearing) + 0.3), EGO))
        assert min(counts) > 0, (kind, counts)


def test_far_or_hidden_cone_gets_no_points():
    size = np.array([0.4, 0.4, 0.7])
    ahead = np.array([np.cos(EGO.yaw), np.sin(EGO.yaw), 0.0])
    base = np.array([EGO.x, EGO.y, 0.35])
    assert _box_count(WorldObject("c", "traffic_cone", base + 10.0 * ahead, size, 0.0), EGO) > 0
    assert _box_count(WorldObject("c", "traffic_cone", base + 75.0 * ahead, size, 0.0), EGO) == 0
    wall = WorldObject("w", "building", base + 7.0 * ahead + np.array([0, 0, 1.65]),
                       np.array([6.0, 1.0, 4.0]), EGO.yaw)
    assert _box_count(WorldObject("c", "traffic_cone", base + 10.0 * ahead, size, 0.0), EGO, [wall]) == 0


def test_ray_window_contains_every_ray_that_hits():
    """``ray_window`` is conservative: an exhaustive ray-box test finds no hit outside it."""
    rng = np.random.default_rng(3)
    elev = ring_elevations(LIDAR)
    d_l = lidar_directions(LIDAR)  # (C, S, 3)
    ego = EgoState(x=0.0, y=0.0, yaw=0.7, speed=0.0)
    pose = sensor_pose_global(LIDAR.translation, LIDAR.rotation, ego)
    for _ in range(40):
        r, a = rng.uniform(1.5, 40.0), rng.uniform(-np.pi, np.pi)
        size = rng.uniform(0.2, 3.0, size=3)
        obj = WorldObject("o", "building", np.array([r * np.cos(a), r * np.sin(a), rng.uniform(0.0, 3.0)]),
                          size, float(rng.uniform(-np.pi, np.pi)))
        corners_l = (obj.corners().T - pose[:3, 3]) @ pose[:3, :3]  # (8, 3) lidar frame
        rings, cols = ray_window(corners_l, elev, LIDAR.azimuth_steps)
        inside = np.zeros(d_l.shape[:2], bool)
        inside[rings, cols[:, None]] = True  # rings x cols (any order)
        # exhaustive slab test in the box frame (axes from corner differences)
        centre_l = corners_l.mean(axis=0)
        c0 = corners_l[0]
        axes = np.stack([c0 - corners_l[4], c0 - corners_l[3], c0 - corners_l[1]])  # (3, 3) edge vectors
        half = np.linalg.norm(axes, axis=1) / 2
        axes /= 2 * half[:, None]
        o = axes @ -centre_l  # (3,)
        d = d_l @ axes.T  # (C, S, 3)
        with np.errstate(divide="ignore"):
            inv = 1.0 / d
        t1, t2 = (-half - o) * inv, (half - o) * inv
        hit = np.minimum(t1, t2).max(-1) <= np.maximum(t1, t2).min(-1)
        hit &= np.maximum(t1, t2).min(-1) > 0
        assert hit.any() and not (hit & ~inside).any()
