"""Trajectories drawn over a camera image: ego-frame ground points -> pixels, and polylines.

A planning record (``fastdrive.datasets.planning.samples``) holds, per
camera, its ``cam_intrinsic`` (3x3, for the ``width`` x ``height`` image on
disk) and the camera -> ego transform ``sensor2ego_rotation`` (quaternion
``w, x, y, z``) and ``sensor2ego_translation`` (m). The ego frame is the
nuScenes one (x forward, y left, z up, origin on the ground under the rear
axle), so a waypoint ``(x, y)`` is the ground point ``(x, y, 0)``.

:func:`project_points` maps ego-frame points to pixels, :func:`clip_polyline`
cuts a polyline where it passes behind the camera (at a near plane, in
camera coordinates, before projecting, so a line that leaves the view
through the bottom of the image is still drawn up to the image border) and
:func:`draw_trajectories` draws waypoint polylines on an RGB array.

Pure functions on numpy arrays (PIL draws the lines): no file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = ["OverlayLine", "camera_matrix", "clip_polyline", "draw_trajectories", "ego_to_camera",
           "project_points"]

Color = Tuple[int, int, int]


def _points3(points: Any, ground_z: float = 0.0) -> np.ndarray:
    """``(N, 2)`` (ground) or ``(N, 3)`` points -> ``(N, 3)`` float64."""
    pts = np.asarray(points, np.float64)
    if pts.ndim != 2 or pts.shape[1] not in (2, 3):
        raise ValueError(f"points must be (N, 2) or (N, 3), got shape {pts.shape}")
    if pts.shape[1] == 2:
        pts = np.concatenate([pts, np.full((len(pts), 1), float(ground_z))], axis=1)
    return pts


def ego_to_camera(points: Any, cam: Mapping[str, Any], ground_z: float = 0.0) -> np.ndarray:
    """Ego-frame points -> camera frame (x right, y down, z along the optical axis), metres.

    Args:
        points: ``(N, 3)`` ego-frame points, or ``(N, 2)`` ground points
            (``z = ground_z``).
        cam: camera record with ``sensor2ego_rotation`` (``(4,)`` quaternion
            ``w, x, y, z``, camera -> ego) and ``sensor2ego_translation`` ``(3,)``.

    Returns:
        ``(N, 3)`` float64; ``p_cam = R^T (p_ego - t)`` for ``p_ego = R p_cam + t``.
    """
    from pyquaternion import Quaternion

    rot = Quaternion(np.asarray(cam["sensor2ego_rotation"], np.float64)).rotation_matrix
    trans = np.asarray(cam["sensor2ego_translation"], np.float64).reshape(3)
    return (_points3(points, ground_z) - trans) @ rot


def camera_matrix(cam: Mapping[str, Any], image_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """``(3, 3)`` intrinsics for an image of ``image_size`` ``(W, H)`` px.

    The record's ``cam_intrinsic`` is for its ``width`` x ``height`` image;
    for another size its first row is scaled by ``W / width`` and its second
    by ``H / height`` (a plain resize). None: the record's own size.
    """
    k = np.asarray(cam["cam_intrinsic"], np.float64).reshape(3, 3).copy()
    if image_size is not None:
        w0, h0 = float(cam["width"]), float(cam["height"])
        k[0] *= float(image_size[0]) / w0
        k[1] *= float(image_size[1]) / h0
    return k


def _pixels(cam_pts: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``(N, 3)`` camera-frame points with positive depth -> ``(N, 2)`` pixels ``(u, v)``."""
    hom = cam_pts @ k.T
    return hom[:, :2] / hom[:, 2:3]


def project_points(points: Any, cam: Mapping[str, Any], image_size: Optional[Tuple[int, int]] = None,
                   min_depth: float = 0.5, ground_z: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
    """Ego-frame points -> pixel coordinates in the camera's image.

    Args:
        points: ``(N, 3)`` ego-frame points or ``(N, 2)`` ground points (m).
        cam: camera record (``cam_intrinsic``, ``sensor2ego_*``, ``width``, ``height``).
        image_size: ``(W, H)`` of the image drawn on (None: the record's size).
        min_depth: points closer than this along the optical axis (m), or
            behind the camera, are not projected.
        ground_z: height of 2-D points in the ego frame (m).

    Returns:
        ``uv`` ``(N, 2)`` float64 pixels ``(column, row)`` (NaN where not
        projected) and ``valid`` ``(N,)`` bool (in front of the camera; the
        pixel may still lie outside the image).
    """
    cam_pts = ego_to_camera(points, cam, ground_z)
    valid = cam_pts[:, 2] >= float(min_depth)
    uv = np.full((len(cam_pts), 2), np.nan)
    if valid.any():
        uv[valid] = _pixels(cam_pts[valid], camera_matrix(cam, image_size))
    return uv, valid


def clip_polyline(points: Any, cam: Mapping[str, Any], image_size: Optional[Tuple[int, int]] = None,
                  min_depth: float = 0.5, ground_z: float = 0.0) -> List[np.ndarray]:
    """A polyline in the ego frame -> its visible pieces in pixels.

    Each segment is clipped to the half-space ``depth >= min_depth`` in
    camera coordinates (a segment crossing it is cut at the crossing, not
    dropped), then projected.

    Args:
        points: ``(N, 2)`` ground or ``(N, 3)`` ego-frame vertices (m), in order.
        cam, image_size, min_depth, ground_z: as in :func:`project_points`.

    Returns:
        List of ``(M, 2)`` float64 pixel polylines (``M >= 2``), in order.
    """
    cam_pts = ego_to_camera(points, cam, ground_z)
    k = camera_matrix(cam, image_size)
    near = float(min_depth)
    pieces: List[List[np.ndarray]] = []
    current: List[np.ndarray] = []
    for a, b in zip(cam_pts[:-1], cam_pts[1:]):
        ina, inb = a[2] >= near, b[2] >= near
        if not ina and not inb:
            if current:
                pieces.append(current)
                current = []
            continue
        if ina and inb:
            start, end = a, b
        else:
            cut = a + (near - a[2]) / (b[2] - a[2]) * (b - a)
            start, end = (a, cut) if ina else (cut, b)
        if not current or not ina:
            if current:
                pieces.append(current)
            current = [start]
        current.append(end)
        if not inb:
            pieces.append(current)
            current = []
    if current:
        pieces.append(current)
    return [_pixels(np.asarray(p), k) for p in pieces if len(p) >= 2]


@dataclass
class OverlayLine:
    """One trajectory to draw.

    Attributes:
        waypoints: ``(T, 2)`` ego-frame x/y (m), or ``(T, 3)``.
        color: RGB of the line and its waypoint dots.
        halo: RGB of a wider line drawn underneath (None: none).
        width: line width in px (at the output image's scale).
        from_ego: start the line at the ego origin ``(0, 0)``.
    """

    waypoints: np.ndarray
    color: Color
    halo: Optional[Color] = None
    width: int = 3
    from_ego: bool = True


def draw_trajectories(image: np.ndarray, cam: Mapping[str, Any], lines: Sequence[OverlayLine],
                      min_depth: float = 0.5, dot_radius: Optional[float] = None) -> np.ndarray:
    """Draw ego-frame trajectories on the ground plane of a camera image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB of ``cam`` (any resize of the
            record's ``width`` x ``height`` image).
        cam: the camera record (see :func:`project_points`).
        lines: trajectories, drawn in order (later ones on top).
        min_depth: near plane (m) the lines are clipped at.
        dot_radius: radius (px) of the waypoint dots (None: ``width``).

    Returns:
        ``(H, W, 3)`` uint8 RGB; the input is not modified.
    """
    from PIL import Image, ImageDraw

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got shape {img.shape} dtype {img.dtype}")
    size = (img.shape[1], img.shape[0])
    canvas = Image.fromarray(img)
    draw = ImageDraw.Draw(canvas)
    for line in lines:
        wp = np.asarray(line.waypoints, np.float64)
        wp = _points3(wp)
        verts = np.concatenate([np.zeros((1, 3)), wp]) if line.from_ego else wp
        pieces = clip_polyline(verts, cam, size, min_depth)
        dots, ok = project_points(wp, cam, size, min_depth)
        r = float(line.width if dot_radius is None else dot_radius)
        for color, extra in ((line.halo, 2), (line.color, 0)):
            if color is None:
                continue
            for piece in pieces:
                draw.line([tuple(p) for p in piece], fill=tuple(color), width=line.width + extra,
                          joint="curve")
            for u, v in dots[ok]:
                rr = r + extra / 2
                draw.ellipse([u - rr, v - rr, u + rr, v + rr], fill=tuple(color))
    return np.asarray(canvas)
