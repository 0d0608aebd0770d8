"""Private polyline helpers for the procedural town (all in metres, global xy).

A polyline is a ``(P, 2)`` float array. ``Polyline`` caches its cumulative
arc length so poses can be interpolated at arbitrary arc positions ``s``.
"""

from __future__ import annotations

import bisect
from typing import Tuple

import numpy as np


def bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, n: int) -> np.ndarray:
    """Cubic Bézier curve sampled at ``n`` parameters -> ``(n, 2)`` points."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return ((1 - t) ** 3) * p0 + 3 * ((1 - t) ** 2) * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3


def cumulative_length(pts: np.ndarray) -> np.ndarray:
    """``(P, 2)`` -> ``(P,)`` arc length from the first point."""
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def dedupe(pts: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Drop consecutive duplicate points."""
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = np.linalg.norm(np.diff(pts, axis=0), axis=1) > eps
    return pts[keep]


def resample(pts: np.ndarray, step: float) -> np.ndarray:
    """Resample a polyline at (close to) uniform ``step`` metres, keeping both ends."""
    pts = dedupe(np.asarray(pts, dtype=float))
    s = cumulative_length(pts)
    n = max(2, int(np.ceil(s[-1] / step)) + 1)
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, pts[:, 0]), np.interp(t, s, pts[:, 1])], axis=1)


def tangents(pts: np.ndarray) -> np.ndarray:
    """Unit tangents ``(P, 2)`` (one-sided at the ends, central inside)."""
    d = np.zeros_like(pts)
    d[1:-1] = pts[2:] - pts[:-2]
    d[0] = pts[1] - pts[0]
    d[-1] = pts[-1] - pts[-2]
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def offset(pts: np.ndarray, d: float) -> np.ndarray:
    """Offset a polyline by ``d`` metres to its left (negative: right)."""
    t = tangents(pts)
    n = np.stack([-t[:, 1], t[:, 0]], axis=1)
    return pts + d * n


def strip_polygon(pts: np.ndarray, d_right: float, d_left: float) -> np.ndarray:
    """Counter-clockwise polygon ``(K, 2)`` between two lateral offsets (d_right < d_left)."""
    right = offset(pts, d_right)
    left = offset(pts, d_left)
    return np.concatenate([right, left[::-1]], axis=0)


def min_radius(pts: np.ndarray) -> float:
    """Smallest radius of curvature of a densely sampled polyline (inf if straight)."""
    if len(pts) < 3:
        return float("inf")
    a, b, c = pts[:-2], pts[1:-1], pts[2:]
    ab = np.linalg.norm(b - a, axis=1)
    bc = np.linalg.norm(c - b, axis=1)
    ca = np.linalg.norm(a - c, axis=1)
    cross = np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = ab * bc * ca / (2.0 * cross)
    r = r[np.isfinite(r)]
    return float(r.min()) if len(r) else float("inf")


class Polyline:
    """A polyline with arc-length parameterisation.

    Attributes:
        pts: ``(P, 2)`` points; s: ``(P,)`` cumulative length; length: total metres.
    """

    def __init__(self, pts: np.ndarray):
        self.pts = dedupe(np.asarray(pts, dtype=float))
        self.s = cumulative_length(self.pts)
        self.length = float(self.s[-1])
        d = np.diff(self.pts, axis=0)
        self._seg_yaw = np.arctan2(d[:, 1], d[:, 0])
        self._s_list = self.s.tolist()
        seg = np.unwrap(self._seg_yaw)
        vtx = np.concatenate([[seg[0]], 0.5 * (seg[:-1] + seg[1:]), [seg[-1]]])
        self._vtx_yaw = vtx.tolist()

    def _index(self, s: float) -> int:
        i = bisect.bisect_right(self._s_list, s) - 1
        return min(max(i, 0), len(self._s_list) - 2)

    def point(self, s: float) -> np.ndarray:
        """``(2,)`` point at arc length ``s`` (linearly extrapolated beyond the ends)."""
        i = self._index(s)
        u = (s - self._s_list[i]) / (self._s_list[i + 1] - self._s_list[i])
        return self.pts[i] + u * (self.pts[i + 1] - self.pts[i])

    def yaw(self, s: float) -> float:
        """Heading (rad) at ``s``, interpolated between vertex tangents (smooth along curves)."""
        i = self._index(s)
        u = min(max((s - self._s_list[i]) / (self._s_list[i + 1] - self._s_list[i]), 0.0), 1.0)
        a, b = self._vtx_yaw[i], self._vtx_yaw[i + 1]
        y = a + u * (b - a)
        return float((y + np.pi) % (2 * np.pi) - np.pi)

    def pose(self, s: float) -> Tuple[float, float, float]:
        """``(x, y, yaw)`` at arc length ``s``."""
        p = self.point(s)
        return float(p[0]), float(p[1]), self.yaw(s)

    def sub(self, s0: float, s1: float) -> np.ndarray:
        """Points of the sub-polyline between ``s0`` < ``s1`` (ends interpolated)."""
        inner = self.pts[(self.s > s0) & (self.s < s1)]
        return np.concatenate([self.point(s0)[None], inner, self.point(s1)[None]], axis=0)
