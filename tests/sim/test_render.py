"""The pinhole rasteriser: geometry, occlusion, classes, ground, determinism."""

import numpy as np
import pytest
from shapely.geometry import MultiPoint, Point

from fastdrive.sim.render import CameraImage, render_camera
from fastdrive.sim.render.shapes import PART_TEMPLATES
from fastdrive.sim.render.toy import TOY_LIGHTING, toy_ego, toy_objects, toy_town
from fastdrive.sim.rig import global_to_ego, nuscenes_rig, project_points
from fastdrive.sim.types import (OBJECT_KIND_TO_SEMANTIC, SEMANTIC_ID, EgoState, GroundRaster, Town,
                                 WorldObject)

SIZE = (800, 450)
RIG = nuscenes_rig(SIZE)
FRONT = RIG.camera("CAM_FRONT")
EGO = EgoState(x=0.0, y=0.0, yaw=0.0, speed=0.0)
ROAD_HALF = 3.5


def _ground() -> GroundRaster:
    """Road along x for |y| < 3.5, sidewalk to |y| < 6, terrain beyond."""
    res = 0.1
    xs = -100 + (np.arange(3000) + 0.5) * res
    ys = -50 + (np.arange(1000) + 0.5) * res
    _, yy = np.meshgrid(xs, ys)
    cls = np.full(yy.shape, SEMANTIC_ID["terrain"], np.uint8)
    cls[np.abs(yy) < 6.0] = SEMANTIC_ID["sidewalk"]
    cls[np.abs(yy) < ROAD_HALF] = SEMANTIC_ID["road"]
    return GroundRaster(classes=cls, origin=(-100.0, -50.0), resolution=res)


GROUND = _ground()


def _town(statics=()) -> Town:
    return Town(name="boston-seaport", extent=(-100, -50, 200, 50), road_segments=[], lanes={},
                ped_crossings=[], walkways=[], stop_lines=[], traffic_lights=[], lane_dividers=[],
                road_dividers=[], ground=GROUND, statics=list(statics))


def _box(kind: str, x: float, y: float, wlh, yaw: float = 0.0, token: str = "o") -> WorldObject:
    return WorldObject(token=token, kind=kind, center=np.array([x, y, wlh[2] / 2.0]),
                       size=np.array(wlh, float),
                       yaw=yaw, color=(200, 60, 60))


def _hull_contains(obj: WorldObject, cam, pixels_rc: np.ndarray, ego: EgoState = EGO) -> np.ndarray:
    """For pixel (row, col) indices, whether the pixel centre is inside the
    projected convex hull of the object's 3D box (the devkit check)."""
    pts = global_to_ego(obj.corners(), ego)
    uv, depth = project_points(pts, cam)
    assert (depth > 0.1).all()
    hull = MultiPoint([tuple(p) for p in uv.T]).convex_hull.buffer(1e-6)
    return np.array([hull.contains(Point(c + 0.5, r + 0.5)) for r, c in pixels_rc])


def test_output_types_and_shapes():
    img = render_camera(_town(), [_box("car", 12, 0, (1.9, 4.5, 1.6))], EGO, FRONT)
    assert isinstance(img, CameraImage)
    assert img.rgb.shape == (450, 800, 3) and img.rgb.dtype == np.uint8
    assert img.semantic.shape == (450, 800) and img.semantic.dtype == np.uint8
    assert img.depth.shape == (450, 800) and img.depth.dtype == np.float32
    assert img.instance.shape == (450, 800) and img.instance.dtype == np.int32
    # the top rows are sky: class 0, infinite depth, no instance
    assert (img.semantic[:20] == SEMANTIC_ID["sky"]).all()
    assert np.isinf(img.depth[:20]).all() and (img.instance[:20] == -1).all()
    # bottom rows are road right in front of the ego, at a finite depth
    assert (img.semantic[-5:, 350:450] == SEMANTIC_ID["road"]).all()
    assert np.isfinite(img.depth[-5:]).all()


def test_box_in_front_appears_centred_with_class_and_depth():
    # a plain box (building kind: one cuboid filling its box) 15 m ahead, 4 m wide
    obj = _box("building", 15.0, 0.0, (4.0, 2.0, 3.0))
    img = render_camera(_town(), [obj], EGO, FRONT)
    mask = img.instance == 0
    assert mask.sum() > 1000
    assert (img.semantic[mask] == SEMANTIC_ID["building"]).all()
    rows, cols = np.nonzero(mask)
    uv, _ = project_points(global_to_ego(obj.corners(), EGO), FRONT)
    assert cols.min() == pytest.approx(uv[0].min(), abs=2) and cols.max() == pytest.approx(uv[0].max(), abs=2)
    assert abs(cols.mean() - FRONT.intrinsic[0, 2]) < 10
    # the face towards the camera is at x = 14 m; the camera is 1.70 m ahead of the ego origin
    near_face = 14.0 - FRONT.translation[0]
    assert np.median(img.depth[mask]) == pytest.approx(near_face, abs=0.1)
    assert img.depth[mask].min() > near_face - 0.15
    # it is not visible from the back camera
    back = render_camera(_town(), [obj], EGO, RIG.camera("CAM_BACK"))
    assert not (back.instance == 0).any()


@pytest.mark.parametrize("kind", sorted(PART_TEMPLATES))
def test_object_pixels_lie_inside_projected_box_hull(kind):
    sizes = {"car": (1.9, 4.5, 1.6), "truck": (2.5, 7.0, 3.2), "bus": (2.6, 11.0, 3.3),
             "pedestrian": (0.6, 0.7, 1.75), "cyclist": (0.6, 1.8, 1.7), "barrier": (0.4, 2.0, 1.0),
             "traffic_cone": (0.4, 0.4, 0.7), "traffic_sign": (0.8, 0.1, 2.6),
             "traffic_light": (0.4, 0.4, 4.5),
             "building": (8.0, 10.0, 12.0), "tree": (2.5, 2.5, 6.0)}
    objs = [_box(kind, 12.0, 2.0, sizes[kind], yaw=0.6, token="a"),
            _box(kind, 25.0, -4.0, sizes[kind], yaw=-2.0, token="b")]
    for i, obj in enumerate(objs):
        img = render_camera(_town(), [obj], EGO, FRONT)
        rc = np.argwhere(img.instance == 0)
        assert len(rc) > 30, (kind, i)
        assert (img.semantic[img.instance == 0] == SEMANTIC_ID[OBJECT_KIND_TO_SEMANTIC[kind]]).all()
        inside = _hull_contains(obj, FRONT, rc[:: max(1, len(rc) // 400)])
        assert inside.mean() >= 0.99, (kind, i, inside.mean())


def test_tiny_far_objects_use_their_box_and_stay_inside_the_hull():
    cone = _box("traffic_cone", 90.0, 0.5, (0.4, 0.4, 0.7), token="cone")
    img = render_camera(_town(), [cone], EGO, FRONT)
    rc = np.argwhere(img.instance == 0)
    assert 1 <= len(rc) < 40
    assert _hull_contains(cone, FRONT, rc).all()
    beyond = _box("car", 130.0, 0.0, (1.9, 4.5, 1.6))  # past the draw distance
    assert not (render_camera(_town(), [beyond], EGO, FRONT).instance == 0).any()


def test_near_object_occludes_far_object_per_pixel():
    near = _box("car", 10.0, 0.0, (1.9, 4.5, 1.6), token="near")
    far = _box("bus", 25.0, 0.5, (2.6, 11.0, 3.3), token="far")
    alone = render_camera(_town(), [far], EGO, FRONT)
    both = render_camera(_town(), [near, far], EGO, FRONT)  # near has index 0, far index 1
    far_alone = alone.instance == 0
    near_mask = both.instance == 0
    far_both = both.instance == 1
    assert near_mask.sum() > 500 and far_alone.sum() > near_mask.sum() * 0.3
    overlap = far_alone & near_mask
    assert overlap.sum() > 200  # the car hides part of the bus
    assert not (far_both & near_mask).any()
    # everything of the bus outside the car's pixels is still visible, unchanged in depth
    np.testing.assert_array_equal(far_both, far_alone & ~near_mask)
    assert (both.depth[overlap] < alone.depth[overlap] - 5).all()
    # order of the object list does not matter for what is visible
    swapped = render_camera(_town(), [far, near], EGO, FRONT)
    np.testing.assert_array_equal(swapped.instance == 1, near_mask)


def test_partially_overlapping_boxes_intersect_correctly():
    # two boxes that interpenetrate: the visible surface is the nearer one per pixel
    a = _box("building", 12.0, 0.0, (3.0, 3.0, 3.0), yaw=0.0, token="a")
    b = _box("building", 12.5, 1.0, (3.0, 3.0, 2.0), yaw=0.7, token="b")
    img = render_camera(_town(), [a, b], EGO, FRONT)
    ia = render_camera(_town(), [a], EGO, FRONT)
    ib = render_camera(_town(), [b], EGO, FRONT)
    both = (ia.instance == 0) & (ib.instance == 0)
    assert both.sum() > 100
    expect_a = ia.depth < ib.depth
    assert ((img.instance == 0) == expect_a)[both].mean() > 0.995
    np.testing.assert_allclose(img.depth[both], np.minimum(ia.depth, ib.depth)[both], rtol=1e-5)


def test_ground_classes_match_the_raster():
    img = render_camera(_town(), [], EGO, FRONT)
    # sample ground points well inside each class region, project, compare pixel class
    xs = np.arange(4.0, 40.0, 0.25)
    regions = ((-3.2, 3.2, "road"), (3.8, 5.7, "sidewalk"), (-5.7, -3.8, "sidewalk"), (6.5, 9.0, "terrain"))
    for y_lo, y_hi, name in regions:
        xx, yy = np.meshgrid(xs, np.arange(y_lo, y_hi, 0.25))
        pts = np.stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)])
        uv, depth = project_points(pts, FRONT)
        c, r = np.floor(uv).astype(int)
        ok = (depth > 0) & (c >= 0) & (c < SIZE[0]) & (r >= 0) & (r < SIZE[1])
        assert ok.sum() > 50
        got = img.semantic[r[ok], c[ok]]
        assert (got == SEMANTIC_ID[name]).mean() > 0.97, name
    # road pixels: where the pixel ray meets the ground inside |y| < 3.5
    road = img.semantic == SEMANTIC_ID["road"]
    assert road.sum() > 0.1 * road.size


def test_ground_pixels_equal_raster_lookup_of_their_ray_hit():
    # every ground pixel's class is the raster cell its pixel-centre ray meets (float64 reference)
    town = toy_town()
    ego = EgoState(x=-3.0, y=-1.0, yaw=0.05, speed=0.0)
    for cam in (FRONT, RIG.camera("CAM_BACK_LEFT")):
        img = render_camera(town, [], ego, cam)
        k = cam.intrinsic
        jj, ii = np.meshgrid(np.arange(cam.width) + 0.5, np.arange(cam.height) + 0.5)
        rays = np.stack([(jj - k[0, 2]) / k[0, 0], (ii - k[1, 2]) / k[1, 1], np.ones_like(jj)])
        c, s = np.cos(ego.yaw), np.sin(ego.yaw)
        rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        d = np.einsum("ij,jhw->ihw", rz @ cam.rotation_matrix, rays)
        origin = rz @ cam.translation + np.array([ego.x, ego.y, 0.0])
        with np.errstate(divide="ignore"):
            t = np.where(d[2] < -1e-6, -origin[2] / d[2], np.inf)
        ground = np.isfinite(t) & (t < 150.0) & (img.instance == -1)
        xy = origin[:2, None] + t[ground] * d[:2, ground]
        expected = town.ground.lookup(xy.T)
        assert ground.sum() > 0.2 * ground.size
        assert (img.semantic[ground] == expected).mean() > 0.999
        np.testing.assert_allclose(img.depth[ground], t[ground], rtol=1e-4)
        sky = np.isinf(t) & (img.instance == -1)
        assert (img.semantic[sky] == SEMANTIC_ID["sky"]).all()


def test_ground_moves_with_ego_pose():
    # turned 90 degrees left, the front camera looks across the road: road only close by
    turned = EgoState(x=0.0, y=-2.0, yaw=np.pi / 2, speed=0.0)
    img = render_camera(_town(), [], turned, FRONT)
    assert (img.semantic == SEMANTIC_ID["terrain"]).sum() > (img.semantic == SEMANTIC_ID["road"]).sum()
    straight = render_camera(_town(), [], EGO, FRONT)
    road, terrain = SEMANTIC_ID["road"], SEMANTIC_ID["terrain"]
    assert (straight.semantic == road).sum() > (straight.semantic == terrain).sum()


def test_objects_behind_the_camera_or_straddling_the_near_plane():
    # a long wall beside the ego, from behind the camera to far ahead, seen by the left camera
    wall = _box("building", 5.0, 8.0, (1.0, 40.0, 6.0), token="wall")
    cam = RIG.camera("CAM_FRONT_LEFT")
    img = render_camera(_town(), [wall], EGO, cam)
    mask = img.instance == 0
    assert mask.sum() > 0.1 * mask.size
    assert np.isfinite(img.depth[mask]).all() and (img.depth[mask] > 0).all()
    behind = _box("car", -10.0, 0.0, (1.9, 4.5, 1.6))
    assert not (render_camera(_town(), [behind], EGO, FRONT).instance == 0).any()


def test_shadows_darken_the_ground_only():
    # a tall building behind the ego, sun behind it: its shadow falls on the road ahead
    light = {"sun_dir": (-0.6, 0.0, 0.6), "ambient": 0.3}
    tower = _box("building", -8.0, 0.0, (6.0, 4.0, 25.0), token="tower")
    lit = render_camera(_town(), [], EGO, FRONT, light)
    shaded = render_camera(_town(), [tower], EGO, FRONT, light)
    assert not (shaded.instance >= 0).any()  # the tower itself is out of view
    np.testing.assert_array_equal(lit.semantic, shaded.semantic)
    np.testing.assert_array_equal(lit.depth, shaded.depth)
    near_road = (lit.semantic == SEMANTIC_ID["road"]) & (lit.depth < 12.0)
    assert near_road.sum() > 1000
    ratio = shaded.rgb[near_road].astype(float).mean() / lit.rgb[near_road].astype(float).mean()
    assert ratio < 0.7
    far_road = (lit.semantic == SEMANTIC_ID["road"]) & (lit.depth > 40.0)
    assert far_road.sum() > 100
    np.testing.assert_array_equal(shaded.rgb[far_road], lit.rgb[far_road])


def test_traffic_light_lamp_shows_the_light_state():
    from fastdrive.sim.types import TrafficLightSpec

    spec = TrafficLightSpec(token="tl0", position=np.array([15.0, -1.0, 4.0]), heading=np.pi, lane_tokens=[],
                            stop_line=np.zeros((4, 2)))
    pole = _box("traffic_light", 15.0, -1.0, (0.45, 0.45, 5.2), yaw=np.pi, token="pole")  # facing the ego
    pole.color = (40, 40, 40)
    town = _town([pole])
    town.traffic_lights = [spec]
    lamp = {}
    for state in ("red", "green", None):
        img = render_camera(town, [], EGO, FRONT, lights={"tl0": state} if state else None)
        mask = img.instance == 0
        assert mask.sum() > 50 and (img.semantic[mask] == SEMANTIC_ID["traffic_light"]).all()
        lamp[state] = img.rgb[mask].astype(int)
    red_px = (lamp["red"][:, 0] > 150) & (lamp["red"][:, 1] < 90)
    green_px = (lamp["green"][:, 1] > 150) & (lamp["green"][:, 0] < 90)
    assert red_px.sum() > 10 and green_px.sum() > 10
    assert not ((lamp[None][:, 0] > 150) & (lamp[None][:, 1] < 90)).any()


def test_statics_are_indexed_after_dynamic_objects():
    town = _town([_box("tree", 20.0, 5.0, (2.5, 2.5, 6.0), token="tree")])
    img = render_camera(town, [_box("car", 12.0, 0.0, (1.9, 4.5, 1.6))], EGO, FRONT)
    assert (img.instance == 0).any() and (img.instance == 1).any()
    assert (img.semantic[img.instance == 1] == SEMANTIC_ID["vegetation"]).all()


def test_deterministic_and_seeded():
    town, objs, ego = toy_town(), toy_objects(), toy_ego()
    a = render_camera(town, objs, ego, FRONT, TOY_LIGHTING, noise_seed=3)
    b = render_camera(town, objs, ego, FRONT, TOY_LIGHTING, noise_seed=3)
    for f in ("rgb", "semantic", "depth", "instance"):
        assert getattr(a, f).tobytes() == getattr(b, f).tobytes()
    c = render_camera(town, objs, ego, FRONT, TOY_LIGHTING, noise_seed=4)
    assert not np.array_equal(a.rgb, c.rgb)
    np.testing.assert_array_equal(a.semantic, c.semantic)
    dark = dict(TOY_LIGHTING, ambient=0.2, sun_dir=(0.0, 0.5, 0.3))
    d = render_camera(town, objs, ego, FRONT, dark, noise_seed=3)
    np.testing.assert_array_equal(a.semantic, d.semantic)
    assert d.rgb.mean() < a.rgb.mean()


def test_classes_have_distinct_colours():
    img = render_camera(toy_town(), toy_objects(), toy_ego(), FRONT, TOY_LIGHTING)
    means = {}
    for name in ("road", "sidewalk", "building", "vegetation", "sky", "car"):
        m = img.semantic == SEMANTIC_ID[name]
        assert m.sum() > 100, name
        means[name] = img.rgb[m].astype(float).mean(axis=0)
    names = list(means)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            assert np.abs(means[names[i]] - means[names[j]]).sum() > 20, (names[i], names[j])
