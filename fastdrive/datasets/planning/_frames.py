"""Frame transforms for planning records (global <-> current ego frame).

Ego frame: x forward, y left, origin at the ego pose (nuScenes ``ego_pose``,
the rear axle on the ground for FastDrive worlds). Angles in radians,
distances in metres.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
from pyquaternion import Quaternion


def quaternion_yaw(rotation: Sequence[float]) -> float:
    """Yaw (rad, counter-clockwise from +x) of a ``[w, x, y, z]`` quaternion."""
    q = Quaternion(list(rotation))
    v = q.rotation_matrix @ np.array([1.0, 0.0, 0.0])
    return float(np.arctan2(v[1], v[0]))


def wrap_angle(a: np.ndarray | float) -> np.ndarray | float:
    """Wrap angle(s) to ``(-pi, pi]``."""
    return np.arctan2(np.sin(a), np.cos(a))


def pose_2d(translation: Sequence[float], rotation: Sequence[float]) -> Tuple[np.ndarray, float]:
    """``(xy (2,), yaw)`` of a nuScenes pose record's translation / rotation."""
    return np.asarray(translation, float)[:2].copy(), quaternion_yaw(rotation)


def global_to_ego_xy(points: np.ndarray, ego_xy: np.ndarray, ego_yaw: float) -> np.ndarray:
    """Global xy ``(..., 2)`` -> ego-frame xy ``(..., 2)`` of the pose ``(ego_xy, ego_yaw)``."""
    c, s = np.cos(ego_yaw), np.sin(ego_yaw)
    d = np.asarray(points, float) - np.asarray(ego_xy, float)
    return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], axis=-1)


def ego_affine(ego_xy: np.ndarray, ego_yaw: float) -> list:
    """Shapely ``affine_transform`` matrix ``[a, b, d, e, xoff, yoff]`` mapping global -> ego xy."""
    c, s = np.cos(ego_yaw), np.sin(ego_yaw)
    x0, y0 = float(ego_xy[0]), float(ego_xy[1])
    return [c, s, -s, c, -(c * x0 + s * y0), s * x0 - c * y0]
