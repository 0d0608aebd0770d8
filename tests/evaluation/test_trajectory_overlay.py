"""Projection of ego-frame points and trajectory drawing on a hand-made forward camera."""

from __future__ import annotations

import numpy as np
import pytest
from pyquaternion import Quaternion

from fastdrive.evaluation.trajectory_overlay import (OverlayLine, camera_matrix, clip_polyline,
                                                     draw_trajectories, ego_to_camera, project_points)

F, CX, CY = 500.0, 400.0, 225.0
CAM_X, CAM_Y, CAM_Z = 1.5, 0.2, 1.6  # camera position in the ego frame (m)
# camera -> ego rotation of a forward camera:
# cam z (optical axis) = ego x, cam x (right) = ego -y, cam y (down) = ego -z
R_CAM2EGO = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def front_camera(yaw_deg: float = 0.0) -> dict:
    """A 800x450 pinhole camera at (1.5, 0.2, 1.6) looking along ego x, turned left by ``yaw_deg``."""
    rot = Quaternion(axis=[0, 0, 1], degrees=yaw_deg) * Quaternion(matrix=R_CAM2EGO)
    return {"cam_intrinsic": np.array([[F, 0, CX], [0, F, CY], [0, 0, 1]]), "width": 800, "height": 450,
            "sensor2ego_translation": np.array([CAM_X, CAM_Y, CAM_Z]),
            "sensor2ego_rotation": np.array(rot.elements)}


def test_point_on_the_optical_axis_lands_on_the_principal_point():
    uv, valid = project_points(np.array([[CAM_X + 10.0, CAM_Y, CAM_Z]]), front_camera())
    assert valid.all()
    np.testing.assert_allclose(uv[0], [CX, CY], atol=1e-9)


def test_ground_point_ahead_and_to_the_left():
    # ground point 20 m ahead of the camera, 2 m left of it: depth 20, right -2, down +1.6
    uv, valid = project_points(np.array([[CAM_X + 20.0, CAM_Y + 2.0]]), front_camera())
    assert valid.all()
    np.testing.assert_allclose(uv[0], [CX - F * 2.0 / 20.0, CY + F * CAM_Z / 20.0], atol=1e-9)
    # camera turned 90 degrees left: a point 10 m to the ego's left is now on the optical axis
    uv, _ = project_points(np.array([[CAM_X, CAM_Y + 10.0, CAM_Z]]), front_camera(90.0))
    np.testing.assert_allclose(uv[0], [CX, CY], atol=1e-9)


def test_points_behind_the_camera_are_not_projected():
    pts = np.array([[CAM_X - 5.0, 0.0], [CAM_X + 0.2, 0.0], [CAM_X + 8.0, 0.0]])
    uv, valid = project_points(pts, front_camera(), min_depth=0.5)
    assert valid.tolist() == [False, False, True]
    assert np.isnan(uv[:2]).all() and np.isfinite(uv[2]).all()


def test_image_size_scales_the_intrinsics():
    cam = front_camera()
    k = camera_matrix(cam, (400, 225))
    np.testing.assert_allclose(k, np.array([[F / 2, 0, CX / 2], [0, F / 2, CY / 2], [0, 0, 1]]))
    full, _ = project_points(np.array([[12.0, -1.0]]), cam)
    half, _ = project_points(np.array([[12.0, -1.0]]), cam, image_size=(400, 225))
    np.testing.assert_allclose(half, full / 2)


def test_ego_to_camera_inverts_the_sensor_pose():
    cam = front_camera(30.0)
    pts = np.random.default_rng(0).normal(size=(5, 3)) * 10
    cam_pts = ego_to_camera(pts, cam)
    rot = Quaternion(cam["sensor2ego_rotation"]).rotation_matrix
    np.testing.assert_allclose(cam_pts @ rot.T + cam["sensor2ego_translation"], pts, atol=1e-9)


def test_clip_polyline_cuts_at_the_near_plane():
    cam = front_camera()
    # from the rear axle (behind the camera) straight ahead to 30 m: one piece starting at depth 1.0
    pieces = clip_polyline(np.array([[0.0, CAM_Y], [CAM_X + 30.0, CAM_Y]]), cam, min_depth=1.0)
    assert len(pieces) == 1 and pieces[0].shape == (2, 2)
    np.testing.assert_allclose(pieces[0][0], [CX, CY + F * CAM_Z / 1.0], atol=1e-9)
    np.testing.assert_allclose(pieces[0][1], [CX, CY + F * CAM_Z / 30.0], atol=1e-9)
    # in front, behind, in front again: two pieces
    pts = np.array([[20.0, 0.0], [10.0, 0.0], [-5.0, 0.0], [-5.0, 3.0], [10.0, 3.0]])
    assert len(clip_polyline(pts, cam)) == 2
    # entirely behind: nothing
    assert clip_polyline(np.array([[-3.0, 0.0], [-10.0, 1.0]]), cam) == []


def test_draw_trajectories_paints_the_projected_pixels():
    cam = front_camera()
    image = np.zeros((225, 400, 3), np.uint8)  # half the record's size
    wp = np.stack([np.linspace(5, 30, 6), np.full(6, CAM_Y)], axis=1)  # straight ahead of the camera
    line = OverlayLine(wp, (0, 255, 0), halo=(255, 255, 255), width=3, from_ego=False)
    out = draw_trajectories(image, cam, [line])
    assert out.shape == image.shape and out.dtype == np.uint8 and not image.any()
    uv, _ = project_points(wp, cam, image_size=(400, 225))
    for u, v in np.round(uv).astype(int):
        if 0 <= v < 225:
            assert tuple(out[v, u]) == (0, 255, 0)
    green = np.all(out == (0, 255, 0), axis=-1)
    cols = np.flatnonzero(green.any(axis=0))
    assert abs(cols.mean() - CX / 2) < 1.5 and cols.ptp() <= 8  # a vertical line through the centre column
    assert np.all(out == (255, 255, 255), axis=-1).any()  # the halo
    assert not green[: int(CY / 2)].any()  # nothing above the horizon


def test_bad_inputs():
    cam = front_camera()
    with pytest.raises(ValueError, match="points"):
        project_points(np.zeros((3, 4)), cam)
    with pytest.raises(ValueError, match="uint8"):
        draw_trajectories(np.zeros((10, 10, 3), np.float32), cam, [])
