"""Planar helpers of the closed loop: frame changes, oriented boxes, arc length along a route.

All coordinates are metres in one global frame; headings are radians, counter-clockwise from
the global x axis; an ego frame has x forward, y left.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import LineString, Point

# corner order of every box: front-left, front-right, rear-right, rear-left (a simple ring)
_CORNER_SIGNS = np.array([[0.5, 0.5], [0.5, -0.5], [-0.5, -0.5], [-0.5, 0.5]])


def box_corners(x, y, yaw, length, width) -> np.ndarray:
    """Corners of oriented rectangles centred at (x, y).

    Arguments broadcast against each other; with shape (...) each, the result
    has shape (..., 4, 2), corners ordered front-left, front-right, rear-right,
    rear-left.
    """
    x, y, yaw, length, width = np.broadcast_arrays(*map(np.asarray, (x, y, yaw, length, width)))
    local = _CORNER_SIGNS * np.stack([length, width], axis=-1)[..., None, :]  # (..., 4, 2)
    c, s = np.cos(yaw)[..., None], np.sin(yaw)[..., None]
    gx = x[..., None] + c * local[..., 0] - s * local[..., 1]
    gy = y[..., None] + s * local[..., 0] + c * local[..., 1]
    return np.stack([gx, gy], axis=-1).astype(float)


def box_polygons(x, y, yaw, length, width) -> np.ndarray:
    """Shapely polygons of oriented rectangles: an object array of shape (...) (see box_corners)."""
    return shapely.polygons(box_corners(x, y, yaw, length, width))


def to_local(x0: float, y0: float, yaw0: float, px, py) -> tuple:
    """Points (px, py), each of shape (N,) or scalar, in the frame centred at (x0, y0) with
    its x axis along yaw0. Returns (lx, ly) of the same shape: lx forward, ly to the left."""
    dx, dy = np.asarray(px, float) - x0, np.asarray(py, float) - y0
    c, s = np.cos(yaw0), np.sin(yaw0)
    return c * dx + s * dy, -s * dx + c * dy


def route_position(route: np.ndarray, x: float, y: float) -> float:
    """Arc length (m) along the polyline ``route`` (R, 2) of the point of it nearest to (x, y)."""
    return float(LineString(np.asarray(route, float)).project(Point(float(x), float(y))))



def to_ego(points: np.ndarray, x: float, y: float, yaw: float) -> np.ndarray:
    """``(N, 2)`` global points -> the frame at ``(x, y, yaw)`` (x forward, y left)."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return np.stack(to_local(x, y, yaw, p[:, 0], p[:, 1]), axis=-1)


def to_global(points: np.ndarray, x: float, y: float, yaw: float) -> np.ndarray:
    """``(N, 2)`` points in the frame at ``(x, y, yaw)`` -> global."""
    c, s = np.cos(yaw), np.sin(yaw)
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return np.stack([x + p[:, 0] * c - p[:, 1] * s, y + p[:, 0] * s + p[:, 1] * c], axis=-1)
