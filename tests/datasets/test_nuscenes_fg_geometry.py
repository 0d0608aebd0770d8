"""Geometry of nuScenes-FG prompts and mask composition, on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest
from nuscenes.utils.data_classes import Box
from pyquaternion import Quaternion
from shapely.geometry import Polygon

from fastdrive.datasets.nuscenes_fg._geometry import (
    CameraModel,
    clip_box_to_near_plane,
    clip_convex_halfplane,
    hull_in_image,
    project_ground_polygons,
    visible_ground_region,
)
from fastdrive.datasets.nuscenes_fg.compose import ObjectMask, compose_mask, depth_order, fill_rings

W, H = 320, 180
K = np.array([[160.0, 0.0, 160.0], [0.0, 160.0, 90.0], [0.0, 0.0, 1.0]])
# ego <- camera for a camera looking along ego +x (camera x right = ego -y, camera y down = ego -z)
FRONT = Quaternion(matrix=np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]))


def front_camera(ego_xy=(0.0, 0.0), ego_yaw=0.0, height=1.5) -> CameraModel:
    return CameraModel(
        K,
        W,
        H,
        np.array([ego_xy[0], ego_xy[1], 0.0]),
        Quaternion(axis=[0, 0, 1], angle=ego_yaw),
        np.array([1.0, 0.0, height]),
        FRONT,
    )


def pixel_rays_on_ground(cam: CameraModel) -> np.ndarray:
    """Global ground point hit by each pixel centre's ray: ``(H, W, 2)``, NaN where the ray misses."""
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    d_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
    rot = cam.ego_rotation.rotation_matrix @ cam.cam_rotation.rotation_matrix
    d = d_cam @ rot.T
    origin = cam.ego_translation + cam.ego_rotation.rotation_matrix @ cam.cam_translation
    t = -origin[2] / d[..., 2]
    hit = origin[:2] + t[..., None] * d[..., :2]
    hit[t <= 0] = np.nan
    return hit


def render_ground(polys, cam) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    region = visible_ground_region(cam, 200.0)
    for rings in project_ground_polygons(polys, cam, region):
        fill_rings(mask, rings, 1)
    return mask


def brute_force_ground(poly: Polygon, cam) -> np.ndarray:
    from shapely import contains_xy

    hit = pixel_rays_on_ground(cam)
    ok = ~np.isnan(hit[..., 0])
    out = np.zeros((H, W), bool)
    out[ok] = contains_xy(poly, hit[ok][:, 0], hit[ok][:, 1])
    return out


def iou(a, b) -> float:
    return np.count_nonzero(a & b) / max(1, np.count_nonzero(a | b))


# ------------------------------------------------------------------ boxes
def test_box_in_front_keeps_its_corners():
    corners = Box([0.0, 0.0, 10.0], [2.0, 4.0, 1.5], Quaternion()).corners()
    pts = clip_box_to_near_plane(corners, 0.1)
    assert pts.shape == (3, 8)
    np.testing.assert_allclose(pts, corners)


def test_box_behind_camera_vanishes():
    corners = Box([0.0, 0.0, -10.0], [2.0, 4.0, 1.5], Quaternion()).corners()
    assert clip_box_to_near_plane(corners, 0.1).shape[1] == 0


def test_box_straddling_near_plane_adds_edge_crossings():
    # length along camera z from -2 to +2: four corners in front, four edges cross z = near
    corners = Box([0.0, 0.0, 0.0], [2.0, 4.0, 1.0], Quaternion(axis=[0, 1, 0], angle=np.pi / 2)).corners()
    pts = clip_box_to_near_plane(corners, 0.5)
    assert pts.shape[1] == 8
    assert np.all(pts[2] >= 0.5 - 1e-9)
    assert np.count_nonzero(np.isclose(pts[2], 0.5)) == 4


def test_hull_covers_every_visible_point_of_a_box_reaching_behind_the_camera():
    """A long truck beside the camera: its hull must cover every projected interior point."""
    cam = front_camera()
    box = Box([4.0, -2.5, 1.5], [2.5, 12.0, 3.0], Quaternion())  # ego frame, from x = -2 to 10
    box.translate(-cam.cam_translation)
    box.rotate(cam.cam_rotation.inverse)
    poly = hull_in_image(cam.project(clip_box_to_near_plane(box.corners(), 0.1)), W, H)
    assert poly is not None
    rng = np.random.default_rng(0)
    local = (rng.random((3, 4000)) - 0.5) * np.array([[12.0], [2.5], [3.0]])  # x = length, y = width
    samples = box.rotation_matrix @ local + box.center.reshape(3, 1)
    samples = samples[:, samples[2] > 0.1]
    uv = cam.project(samples)
    inside_img = (uv[0] >= 0) & (uv[0] <= W) & (uv[1] >= 0) & (uv[1] <= H)
    from shapely import contains_xy

    shrunk = Polygon(poly).buffer(1e-6)
    assert inside_img.sum() > 100
    assert np.all(contains_xy(shrunk, uv[0, inside_img], uv[1, inside_img]))
    # dropping the corners behind the camera (the devkit's 2D export) would lose most of it
    front = box.corners()[:, box.corners()[2] > 0]
    naive = hull_in_image(cam.project(front), W, H)
    assert naive is None or Polygon(naive).area < 0.8 * Polygon(poly).area


def test_hull_outside_image_is_none_and_partial_hull_is_clipped():
    assert hull_in_image(np.array([[-50.0, -10, -10, -50], [10, 10, 50, 50]]), W, H) is None
    poly = hull_in_image(np.array([[-10.0, 30, 30, -10], [-10, -10, 20, 20]]), W, H)
    assert Polygon(poly).area == pytest.approx(30 * 20)


def test_convex_halfplane_clip():
    square = np.array([[0.0, 0], [2, 0], [2, 2], [0, 2]])
    half = clip_convex_halfplane(square, np.array([1.0, 0.0, 0.0]), 1.0)  # keep x >= 1
    assert Polygon(half).area == pytest.approx(2.0)
    assert len(clip_convex_halfplane(square, np.array([1.0, 0.0, 0.0]), 5.0)) == 0


# ----------------------------------------------------------------- ground
@pytest.mark.parametrize("ego_xy,ego_yaw", [((0.0, 0.0), 0.0), ((30.0, -12.0), 0.7)])
def test_ground_polygon_projection_matches_ray_casting(ego_xy, ego_yaw):
    cam = front_camera(ego_xy, ego_yaw)
    c, s = np.cos(ego_yaw), np.sin(ego_yaw)
    local = np.array([[-10.0, -3.5], [60, -3.5], [60, 3.5], [-10, 3.5]])  # starts behind the camera
    road = Polygon(local @ np.array([[c, s], [-s, c]]) + np.array(ego_xy))
    ours = render_ground([road], cam).astype(bool)
    truth = brute_force_ground(road, cam)
    assert truth.sum() > 1000
    assert iou(ours, truth) > 0.98


def test_ground_polygon_holes_stay_empty():
    cam = front_camera()
    road = Polygon([(2, -6), (40, -6), (40, 6), (2, 6)], [[(10, -2), (20, -2), (20, 2), (10, 2)]])
    ours = render_ground([road], cam).astype(bool)
    truth = brute_force_ground(road, cam)
    assert iou(ours, truth) > 0.97
    hole_only = brute_force_ground(Polygon([(10, -2), (20, -2), (20, 2), (10, 2)]), cam)
    assert hole_only.sum() > 200
    import cv2

    hole_core = cv2.erode(hole_only.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(
        bool
    )  # 1 px off edges
    assert hole_core.sum() > 100
    assert np.count_nonzero(ours & hole_core) == 0


def test_ground_entirely_behind_is_not_drawn():
    cam = front_camera()
    assert render_ground([Polygon([(-30, -3), (-5, -3), (-5, 3), (-30, 3)])], cam).sum() == 0


# ---------------------------------------------------------------- compose
def test_fill_follows_pixel_centre_convention():
    canvas = np.zeros((40, 40), np.uint8)
    fill_rings(canvas, [np.array([[10.0, 10], [20, 10], [20, 20], [10, 20]])], 1)
    ys, xs = np.nonzero(canvas)
    assert (xs.min(), ys.min()) == (10, 10)
    assert canvas.sum() in (100, 121 - 10, 121 - 11, 121)  # exact edges may touch one extra row/column
    canvas[:] = 0
    fill_rings(canvas, [np.array([[10.2, 10.2], [19.8, 10.2], [19.8, 19.8], [10.2, 19.8]])], 1)
    assert canvas.sum() == 100


def square(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def test_nearer_object_wins_whatever_the_input_order():
    near = ObjectMask(3, depth=5.0, polygon=square(10, 10, 30, 30))
    far = ObjectMask(2, depth=20.0, polygon=square(20, 20, 50, 50))
    for objs in ([near, far], [far, near]):
        mask = compose_mask(60, 60, objs)
        assert mask[25, 25] == 3  # overlap -> the nearer
        assert mask[40, 40] == 2
        assert mask[15, 15] == 3
        assert mask[5, 5] == 0
    assert depth_order([near, far]) == [1, 0]


def test_road_is_painted_under_objects_and_bitmaps_are_clipped():
    road = [[square(0, 30, 60, 60)]]
    crop = np.ones((20, 20), bool)
    crop[:5] = False
    obj = ObjectMask(2, depth=3.0, mask=crop, origin=(50, 45))  # sticks out of the 60x60 image
    mask = compose_mask(60, 60, [obj], road, road_class_id=1)
    assert mask.shape == (60, 60) and mask.dtype == np.uint8
    assert mask[40, 10] == 1
    assert mask[55, 55] == 2  # object over road
    assert mask[47, 55] == 1  # masked-out rows of the crop keep the road
    assert np.count_nonzero(mask == 2) == 10 * 10  # rows 50..59, cols 50..59 survive the clipping
