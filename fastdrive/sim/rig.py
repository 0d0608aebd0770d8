"""The nuScenes sensor rig: six cameras and a top lidar, plus geometry helpers.

Conventions (nuScenes):

* ego frame: x forward, y left, z up, origin at the rear axle on the ground;
* camera frame: x right, y down, z forward (optical axis);
* lidar frame (``LIDAR_TOP``): x right, y forward, z up;
* ``translation`` / ``rotation`` of a sensor map sensor coordinates into the
  ego frame (``p_ego = R @ p_sensor + t``), exactly like the
  ``calibrated_sensor`` table; quaternions are ``(w, x, y, z)``.

The calibration values are those of a real nuScenes ``calibrated_sensor``
record set (scene-0061 of v1.0-mini). Intrinsics are given for 1600x900 and
scaled with the requested image size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from fastdrive.sim.types import EgoState

from ..constants import CAMERA_NAMES  # noqa: E402 (re-exported)

NUSCENES_IMAGE_SIZE: Tuple[int, int] = (1600, 900)

# name -> (fx == fy, cx, cy) at 1600x900, translation (m), rotation (w, x, y, z)
_NUSCENES_CALIB = {
    "CAM_FRONT": (
        (1266.417203046554, 816.2670197447984, 491.50706579294757),
        (1.70079118954, 0.0159456324149, 1.51095763913),
        (0.4998015430569128, -0.5030316162024876, 0.4997798114386805, -0.49737083824542755),
    ),
    "CAM_FRONT_RIGHT": (
        (1260.8474446004698, 807.968244525554, 495.3344268742088),
        (1.5508477543, -0.493404796419, 1.49574800619),
        (0.2060347966337182, -0.2026940577919598, 0.6824507824531167, -0.6713610884174485),
    ),
    "CAM_BACK_RIGHT": (
        (1259.5137405846733, 807.2529053838625, 501.19579884916527),
        (1.0148780988, -0.480568219723, 1.56239545128),
        (0.12280980120078765, -0.132400842670559, -0.7004305821388234, 0.690496031265798),
    ),
    "CAM_BACK": (
        (809.2209905677063, 829.2196003259838, 481.77842384512485),
        (0.0283260309358, 0.00345136761476, 1.57910346144),
        (0.5037872666382278, -0.49740249788611096, -0.4941850223835201, 0.5045496097725578),
    ),
    "CAM_BACK_LEFT": (
        (1256.7414812095406, 792.1125740759628, 492.7757465151356),
        (1.03569100218, 0.484795032713, 1.59097014818),
        (0.6924185592174665, -0.7031619420114925, -0.11648342771943819, 0.11203317912370753),
    ),
    "CAM_FRONT_LEFT": (
        (1272.5979470598488, 826.6154927353808, 479.75165386361925),
        (1.52387798135, 0.494631336551, 1.50932822144),
        (0.6757265034669446, -0.6736266522251881, 0.21214015046209478, -0.21122827103904068),
    ),
}
_NUSCENES_LIDAR = (
    (0.985793, 0.0, 1.84019),
    (0.706749235646644, -0.015300993788500868, 0.01739745181256607, -0.7070846669051719),
)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternion ``(4,)`` (w, x, y, z) -> ``(3, 3)`` rotation matrix."""
    w, x, y, z = (float(v) for v in np.asarray(q, dtype=float) / np.linalg.norm(q))
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def yaw_to_quaternion(yaw: float) -> np.ndarray:
    """Rotation about +z by ``yaw`` radians -> ``(4,)`` quaternion (w, x, y, z)."""
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


@dataclass
class CameraSpec:
    """A pinhole camera of the rig.

    Attributes:
        name: nuScenes channel name, e.g. ``CAM_FRONT``.
        width / height: image size in pixels.
        intrinsic: ``(3, 3)`` camera matrix for this image size (pixels).
        translation: ``(3,)`` camera position in the ego frame (m).
        rotation: ``(4,)`` quaternion (w, x, y, z), camera -> ego.
    """

    name: str
    width: int
    height: int
    intrinsic: np.ndarray
    translation: np.ndarray
    rotation: np.ndarray

    @property
    def rotation_matrix(self) -> np.ndarray:
        """``(3, 3)`` camera -> ego rotation."""
        return quaternion_to_matrix(self.rotation)


@dataclass
class LidarSpec:
    """A spinning lidar (``LIDAR_TOP``, Velodyne HDL-32E-like).

    Attributes:
        translation / rotation: sensor -> ego, as for cameras.
        channels: number of laser rings.
        azimuth_steps: firings per revolution.
        elevation_deg: ``(min, max)`` beam elevation in degrees.
        max_range: metres; returns beyond it are dropped.
        range_noise: std of the gaussian range noise (m).
    """

    name: str = "LIDAR_TOP"
    translation: np.ndarray = field(default_factory=lambda: np.array(_NUSCENES_LIDAR[0]))
    rotation: np.ndarray = field(default_factory=lambda: np.array(_NUSCENES_LIDAR[1]))
    channels: int = 32
    azimuth_steps: int = 1084
    elevation_deg: Tuple[float, float] = (-30.67, 10.67)
    max_range: float = 70.0
    range_noise: float = 0.01

    @property
    def rotation_matrix(self) -> np.ndarray:
        """``(3, 3)`` lidar -> ego rotation."""
        return quaternion_to_matrix(self.rotation)


@dataclass
class Rig:
    """The sensor rig: cameras in nuScenes order and the top lidar."""

    cameras: List[CameraSpec]
    lidar: LidarSpec

    def camera(self, name: str) -> CameraSpec:
        """The camera called ``name`` (KeyError if absent)."""
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(name)


def nuscenes_rig(image_size: Tuple[int, int] = NUSCENES_IMAGE_SIZE,
                 cameras: Optional[Sequence[str]] = None) -> Rig:
    """The six-camera nuScenes rig at ``image_size`` = (width, height).

    Intrinsics are scaled from 1600x900 (fx, cx by W/1600; fy, cy by H/900).
    ``cameras`` keeps a subset (rig order), e.g. ``('CAM_FRONT',)`` for a
    training world of a front-camera planner (cheaper to render: one camera
    image per keyframe instead of six).
    """
    width, height = int(image_size[0]), int(image_size[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    names = CAMERA_NAMES if cameras is None else tuple(cameras)
    unknown = [c for c in names if c not in CAMERA_NAMES]
    if unknown or not names:
        raise ValueError(f"cameras must be a non-empty subset of {', '.join(CAMERA_NAMES)}, got {list(names)}")
    sx, sy = width / NUSCENES_IMAGE_SIZE[0], height / NUSCENES_IMAGE_SIZE[1]
    cams = []
    for name in (c for c in CAMERA_NAMES if c in names):
        (f, cx, cy), t, q = _NUSCENES_CALIB[name]
        k = np.array([[f * sx, 0.0, cx * sx], [0.0, f * sy, cy * sy], [0.0, 0.0, 1.0]])
        cams.append(CameraSpec(name, width, height, k, np.array(t, dtype=float), np.array(q, dtype=float)))
    return Rig(cameras=cams, lidar=LidarSpec())


def ego_to_camera(points_ego: np.ndarray, cam: CameraSpec) -> np.ndarray:
    """``(3, N)`` ego-frame points -> ``(3, N)`` camera-frame points (m)."""
    pts = np.asarray(points_ego, dtype=float).reshape(3, -1)
    return cam.rotation_matrix.T @ (pts - np.asarray(cam.translation, dtype=float).reshape(3, 1))


def camera_to_ego(points_cam: np.ndarray, cam: CameraSpec) -> np.ndarray:
    """``(3, N)`` camera-frame points -> ``(3, N)`` ego-frame points (m)."""
    pts = np.asarray(points_cam, dtype=float).reshape(3, -1)
    return cam.rotation_matrix @ pts + np.asarray(cam.translation, dtype=float).reshape(3, 1)


def project_points(points_ego: np.ndarray, cam: CameraSpec) -> Tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of ego-frame points.

    Args:
        points_ego: ``(3, N)`` points in the ego frame (m).
        cam: the camera.

    Returns:
        ``uv`` ``(2, N)`` continuous pixel coordinates (pixel ``(i, j)``
        covers ``[j, j+1) x [i, i+1)``; nuScenes ``view_points`` convention)
        and ``depth`` ``(N,)`` along the optical axis (m). Points with
        ``depth <= 0`` get meaningless ``uv``; filter on depth.
    """
    pc = ego_to_camera(points_ego, cam)
    depth = pc[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uvw = np.asarray(cam.intrinsic, dtype=float) @ pc
        uv = uvw[:2] / np.where(np.abs(uvw[2:3]) < 1e-12, 1e-12, uvw[2:3])
    return uv, depth


def ego_pose_matrix(ego: EgoState) -> np.ndarray:
    """``(4, 4)`` ego -> global transform (rotation about z by yaw, ground z = 0)."""
    c, s = np.cos(ego.yaw), np.sin(ego.yaw)
    m = np.eye(4)
    m[:2, :2] = [[c, -s], [s, c]]
    m[0, 3], m[1, 3] = ego.x, ego.y
    return m


def global_to_ego(points_global: np.ndarray, ego: EgoState) -> np.ndarray:
    """``(3, N)`` global points -> ``(3, N)`` ego-frame points."""
    m = ego_pose_matrix(ego)
    pts = np.asarray(points_global, dtype=float).reshape(3, -1)
    return m[:3, :3].T @ (pts - m[:3, 3:4])


def sensor_pose_global(translation: np.ndarray, rotation: np.ndarray, ego: EgoState) -> np.ndarray:
    """``(4, 4)`` sensor -> global transform for a sensor mounted at (t, q) on the ego."""
    s = np.eye(4)
    s[:3, :3] = quaternion_to_matrix(rotation)
    s[:3, 3] = np.asarray(translation, dtype=float)
    return ego_pose_matrix(ego) @ s
