"""The nuScenes rig: calibration values, scaling and projection helpers."""

import numpy as np
import pytest
from nuscenes.utils.geometry_utils import view_points
from pyquaternion import Quaternion

from fastdrive.sim.rig import (
    CAMERA_NAMES,
    camera_to_ego,
    ego_pose_matrix,
    ego_to_camera,
    global_to_ego,
    nuscenes_rig,
    project_points,
    quaternion_to_matrix,
)
from fastdrive.sim.types import EgoState


def _yaw_deg(cam) -> float:
    z = cam.rotation_matrix[:, 2]  # optical axis in the ego frame
    return float(np.degrees(np.arctan2(z[1], z[0])))


def test_six_cameras_in_nuscenes_order_with_realistic_calibration():
    rig = nuscenes_rig()
    assert [c.name for c in rig.cameras] == list(CAMERA_NAMES)
    expected_yaw = [0, -55, -110, 180, 110, 55]
    for cam, yaw in zip(rig.cameras, expected_yaw):
        diff = (_yaw_deg(cam) - yaw + 180) % 360 - 180
        assert abs(diff) < 3, (cam.name, _yaw_deg(cam))
        assert (cam.width, cam.height) == (1600, 900)
        # optical axis nearly horizontal, camera x axis nearly horizontal (no roll)
        assert abs(cam.rotation_matrix[2, 2]) < 0.03 and abs(cam.rotation_matrix[2, 0]) < 0.03
        assert 1.4 < cam.translation[2] < 1.7
    front, back = rig.camera("CAM_FRONT"), rig.camera("CAM_BACK")
    assert front.intrinsic[0, 0] == pytest.approx(1266.4, abs=1)
    assert back.intrinsic[0, 0] == pytest.approx(809.2, abs=1)
    assert front.translation[0] == pytest.approx(1.70, abs=0.01)
    assert front.translation[2] == pytest.approx(1.51, abs=0.01)
    assert rig.lidar.name == "LIDAR_TOP" and rig.lidar.channels == 32


def test_intrinsics_scale_with_image_size():
    full, small = nuscenes_rig(), nuscenes_rig((448, 252))
    for a, b in zip(full.cameras, small.cameras):
        assert (b.width, b.height) == (448, 252)
        np.testing.assert_allclose(b.intrinsic[0], a.intrinsic[0] * 448 / 1600)
        np.testing.assert_allclose(b.intrinsic[1], a.intrinsic[1] * 252 / 900)
        np.testing.assert_allclose(b.translation, a.translation)
    with pytest.raises(ValueError):
        nuscenes_rig((0, 10))


def test_rotation_matches_pyquaternion():
    for cam in nuscenes_rig().cameras:
        r = quaternion_to_matrix(cam.rotation)
        np.testing.assert_allclose(r, Quaternion(cam.rotation).rotation_matrix, atol=1e-12)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)


def test_project_points_agrees_with_devkit_pinhole():
    rng = np.random.default_rng(0)
    for cam in nuscenes_rig((800, 450)).cameras:
        pts = rng.uniform(-30, 30, size=(3, 200))
        pts[2] = rng.uniform(-1, 5, size=200)
        uv, depth = project_points(pts, cam)
        # reference: devkit transforms (translate, rotate by the inverse) then view_points
        q = Quaternion(cam.rotation)
        pc = q.inverse.rotation_matrix @ (pts - cam.translation[:, None])
        np.testing.assert_allclose(depth, pc[2], atol=1e-9)
        front = depth > 0.5
        ref = view_points(pc[:, front], cam.intrinsic, normalize=True)[:2]
        np.testing.assert_allclose(uv[:, front], ref, atol=1e-6)


def test_point_on_optical_axis_projects_to_principal_point():
    cam = nuscenes_rig().camera("CAM_FRONT")
    p_cam = np.array([[0.0], [0.0], [12.0]])
    uv, depth = project_points(camera_to_ego(p_cam, cam), cam)
    np.testing.assert_allclose(uv[:, 0], cam.intrinsic[:2, 2], atol=1e-6)
    assert depth[0] == pytest.approx(12.0)
    np.testing.assert_allclose(ego_to_camera(camera_to_ego(p_cam, cam), cam), p_cam, atol=1e-12)
    # a point 10 m ahead of the ego at camera height lands near the image centre, a point
    # 1 m to the left of it lands ~fx/dist pixels to the left
    ahead = np.array([[11.7, 11.7], [0.0, 1.0], [cam.translation[2]] * 2])
    uv, depth = project_points(ahead, cam)
    assert abs(uv[0, 0] - cam.intrinsic[0, 2]) < 15 and abs(uv[1, 0] - cam.intrinsic[1, 2]) < 15
    assert uv[0, 0] - uv[0, 1] == pytest.approx(cam.intrinsic[0, 0] / 10.0, rel=0.03)


def test_ego_pose_matrix_and_inverse():
    ego = EgoState(x=10.0, y=-5.0, yaw=np.pi / 2, speed=0.0)
    m = ego_pose_matrix(ego)
    # 1 m ahead of the ego (its x axis) is global +y when yaw = 90 degrees
    np.testing.assert_allclose(m @ np.array([1.0, 0.0, 0.0, 1.0]), [10.0, -4.0, 0.0, 1.0], atol=1e-12)
    pts = np.random.default_rng(1).normal(size=(3, 5))
    back = global_to_ego((m[:3, :3] @ pts) + m[:3, 3:4], ego)
    np.testing.assert_allclose(back, pts, atol=1e-12)


def test_camera_subset_keeps_rig_order_and_refuses_unknown_names():
    from fastdrive.sim.rig import nuscenes_rig

    rig = nuscenes_rig((800, 450), cameras=("CAM_BACK", "CAM_FRONT"))
    full = nuscenes_rig((800, 450))
    assert [c.name for c in rig.cameras] == ["CAM_FRONT", "CAM_BACK"]
    front = next(c for c in full.cameras if c.name == "CAM_FRONT")
    assert np.allclose(rig.cameras[0].intrinsic, front.intrinsic)
    with pytest.raises(ValueError, match="CAM_NOPE"):
        nuscenes_rig(cameras=("CAM_NOPE",))
