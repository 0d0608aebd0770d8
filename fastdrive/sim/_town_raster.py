"""Private: paints the ground raster from the same polygons as the map layers.

Cells are filled with OpenCV polygon filling in sub-pixel precision, with the
cell centre convention of :class:`fastdrive.sim.types.GroundRaster`, so a cell
is road exactly when its centre is inside a road polygon (up to the filling
rule on cells the polygon boundary passes through, which are then decided
exactly with shapely).
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import cv2
import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.ops import unary_union

from fastdrive.sim.types import SEMANTIC_ID

_SHIFT = 8


def _to_px(poly: np.ndarray, origin: Tuple[float, float], res: float) -> np.ndarray:
    """Global ``(K, 2)`` -> fixed-point pixel coords whose integer grid sits on cell centres."""
    u = (poly[:, 0] - origin[0]) / res - 0.5
    v = (poly[:, 1] - origin[1]) / res - 0.5
    return np.round(np.stack([u, v], axis=1) * (1 << _SHIFT)).astype(np.int32)


def fill(img: np.ndarray, polys: Sequence[np.ndarray], value: int, origin: Tuple[float, float], res: float) -> None:
    """Fill each polygon (``(K, 2)`` global xy) into ``img`` (rows grow with y) with ``value``."""
    pts = [_to_px(p, origin, res) for p in polys if len(p) >= 3]
    if pts:
        cv2.fillPoly(img, pts, int(value), lineType=cv2.LINE_8, shift=_SHIFT)


def exact_mask(shape: Tuple[int, int], polys: Sequence[np.ndarray], origin: Tuple[float, float], res: float) -> np.ndarray:
    """``(H, W)`` bool: cell centre inside the union of ``polys`` (exact, via shapely on boundary cells)."""
    mask = np.zeros(shape, dtype=np.uint8)
    fill(mask, polys, 1, origin, res)
    kernel = np.ones((3, 3), np.uint8)
    band = cv2.dilate(mask, kernel) != cv2.erode(mask, kernel)
    ii, jj = np.nonzero(band)
    union = unary_union([Polygon(p) for p in polys])
    shapely.prepare(union)
    inside = shapely.contains_xy(union, origin[0] + (jj + 0.5) * res, origin[1] + (ii + 0.5) * res)
    out = mask.astype(bool)
    out[ii, jj] = inside
    return out


def paint_ground(
    shape: Tuple[int, int],
    origin: Tuple[float, float],
    res: float,
    walkways: List[np.ndarray],
    roads: List[np.ndarray],
    markings: List[np.ndarray],
    crossing_paint: List[np.ndarray],
) -> np.ndarray:
    """``(H, W)`` uint8 class raster: terrain < sidewalk < road < lane_marking < crossing paint."""
    img = np.full(shape, SEMANTIC_ID["terrain"], dtype=np.uint8)
    img[exact_mask(shape, walkways, origin, res)] = SEMANTIC_ID["sidewalk"]
    road_mask = exact_mask(shape, roads, origin, res)
    img[road_mask] = SEMANTIC_ID["road"]
    paint = np.zeros(shape, dtype=np.uint8)
    fill(paint, markings, 1, origin, res)
    fill(paint, crossing_paint, 2, origin, res)
    # paint lies on the road only, so the drivable classes agree with the road polygons
    img[road_mask & (paint == 1)] = SEMANTIC_ID["lane_marking"]
    img[road_mask & (paint == 2)] = SEMANTIC_ID["crossing"]
    return img


def shade_texture(shape: Tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """``(H, W)`` uint8 low-frequency + fine noise around 128 (asphalt wear, grass)."""
    h, w = shape
    coarse = rng.standard_normal((max(2, h // 64), max(2, w // 64)), dtype=np.float32)
    mid = rng.standard_normal((max(2, h // 8), max(2, w // 8)), dtype=np.float32)
    tex = 14.0 * cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    tex += 7.0 * cv2.resize(mid, (w, h), interpolation=cv2.INTER_LINEAR)
    tex += rng.integers(-7, 8, (h, w), dtype=np.int8).astype(np.float32)
    return np.clip(128.0 + tex, 0, 255).astype(np.uint8)
