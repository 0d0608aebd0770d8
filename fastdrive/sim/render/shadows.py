"""Sun shadows of objects on the ground (colour only).

Each part cuboid is projected along the sun direction onto the ground plane
(z = 0); the convex hull of that shadow, projected into the camera, darkens
the ground pixels it covers. Shadows change only ``rgb``: semantic, depth
and instance stay those of the ground. Drawn before the objects, so the
objects then cover whatever of the shadow they hide.
"""

from __future__ import annotations

import cv2
import numpy as np

from fastdrive.sim.render.ground import CameraGeometry
from fastdrive.sim.render.raster import NEAR, Buffers, clip_near
from fastdrive.sim.render.shading import Lighting
from fastdrive.sim.render.shapes import Cuboids

MIN_SUN_ELEVATION_Z = 0.2  # sun_dir z below this: shadows are clamped to this length
MAX_SHADOW_DISTANCE = 60.0  # m from the camera; farther objects cast no shadow
_SHIFT = 4  # fixed-point bits for cv2 polygon filling


def shadow_factor(light: Lighting) -> float:
    """Brightness ratio of shadowed to sunlit ground (in (0, 1])."""
    up = np.array([0.0, 0.0, 1.0], np.float32)
    lit = float(light.brightness(up))
    shade = light.ambient + 0.15 * (1.0 - light.ambient)
    return float(np.clip(shade / max(lit, 1e-6), 0.3, 1.0))


def draw_shadows(cub: Cuboids, geo: CameraGeometry, cam_rot: np.ndarray, cam_pos: np.ndarray,
                 light: Lighting, buf: Buffers) -> None:
    """Darken the ground under the sun shadows of ``cub`` (in place on ``buf.rgb``).

    Args:
        cub: part cuboids of the shadow casters (global frame).
        geo: camera geometry; cam_rot ``(3, 3)`` camera -> global; cam_pos ``(3,)``.
        light: scene lighting (``sun_dir``, ``ambient``).
        buf: image buffers holding sky and ground only.
    """
    factor = shadow_factor(light)
    if len(cub) == 0 or factor >= 0.99 or geo.v0 >= geo.height:
        return
    sun = np.asarray(light.sun_dir, np.float64)
    if sun[2] <= 0.0:
        return
    sun = sun / max(sun[2], MIN_SUN_ELEVATION_Z)  # (sx, sy, 1) scaled so that z = 1 (clamped)
    keep = np.linalg.norm(cub.center[:, :2] - cam_pos[:2], axis=1) < MAX_SHADOW_DISTANCE
    if not keep.any():
        return
    corners = cub.corners()[keep]  # (M, 8, 3)
    ground = corners - corners[..., 2:3] * sun[None, None, :]  # slide along the sun ray to z = 0
    ground[..., 2] = 0.0
    pc = (ground - cam_pos) @ cam_rot  # (M, 8, 3) camera frame
    z = pc[..., 2]
    h, w = geo.height, geo.width
    band = slice(geo.v0, h)
    mask = np.zeros((h - geo.v0, w), np.uint8)
    scale = float(1 << _SHIFT)
    offset = np.array([0.5, 0.5 + geo.v0])  # continuous pixel coords -> cv2 grid of the band
    for m in range(pc.shape[0]):
        if (z[m] < NEAR).all():
            continue
        if (z[m] >= NEAR).all():
            pts = pc[m]
        else:
            hull2 = cv2.convexHull(ground[m, :, :2].astype(np.float32)).reshape(-1, 2)
            poly = np.column_stack([hull2, np.zeros(len(hull2))]).astype(np.float64)
            pts = clip_near((poly - cam_pos) @ cam_rot)
            if len(pts) < 3:
                continue
        uv = np.column_stack([geo.fx * pts[:, 0] / pts[:, 2] + geo.cx,
                              geo.fy * pts[:, 1] / pts[:, 2] + geo.cy])
        uv = np.clip(uv - offset, -1e5, 1e5)
        if uv[:, 0].max() < 0 or uv[:, 0].min() >= w or uv[:, 1].max() < 0:
            continue
        hull = cv2.convexHull(np.round(uv * scale).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=_SHIFT)
    if not mask.any():
        return
    rgb = buf.rgb[band]
    dark = cv2.convertScaleAbs(rgb, alpha=factor)
    cv2.copyTo(dark, mask, rgb)
