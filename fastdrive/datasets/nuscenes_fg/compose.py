"""Compose per-object masks into one class-id mask per image.

Order of painting: the road (ground level, occluded by anything standing on
it) first, then objects from the farthest to the nearest, so that where
masks overlap the nearer object wins. Everything is clipped to the image.

Pixel convention: pixel ``(row i, col j)`` covers ``[j, j+1) x [i, i+1)``
and belongs to a polygon when its centre ``(j + 0.5, i + 0.5)`` does (the
convention of the synthetic world's rasteriser).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

_SHIFT = 4  # cv2 fixed-point bits: vertices at 1/16 pixel


@dataclass
class ObjectMask:
    """The mask of one object, as a polygon or as a bitmap crop.

    Attributes:
        class_id: pixel value to paint.
        depth: distance from the camera (m); smaller is nearer.
        polygon: ``(K, 2)`` pixel polygon (box mode), or None.
        mask: ``(h, w)`` bool crop (SAM mode), or None.
        origin: ``(x0, y0)`` image position of ``mask[0, 0]``.
    """

    class_id: int
    depth: float
    polygon: Optional[np.ndarray] = None
    mask: Optional[np.ndarray] = None
    origin: Tuple[int, int] = (0, 0)


def fill_rings(canvas: np.ndarray, rings: Sequence[np.ndarray], value: int) -> None:
    """Fill a polygon given as rings (exterior then holes, even-odd rule) in place.

    Args:
        canvas: ``(H, W)`` uint8 image, modified in place.
        rings: ``(K, 2)`` float pixel rings.
        value: fill value.
    """
    pts = [
        np.round((np.asarray(r, dtype=np.float64) - 0.5) * (1 << _SHIFT)).astype(np.int32)
        for r in rings
        if len(r) >= 3
    ]
    if pts:
        cv2.fillPoly(canvas, pts, int(value), lineType=cv2.LINE_8, shift=_SHIFT)


def paint_object(canvas: np.ndarray, obj: ObjectMask) -> None:
    """Paint one object over ``canvas`` (``(H, W)`` uint8), clipped to the image."""
    if obj.polygon is not None:
        fill_rings(canvas, [obj.polygon], obj.class_id)
        return
    if obj.mask is None:
        return
    h, w = canvas.shape
    x0, y0 = obj.origin
    mh, mw = obj.mask.shape
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + mw, w), min(y0 + mh, h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    crop = obj.mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    canvas[cy0:cy1, cx0:cx1][crop] = obj.class_id


def depth_order(objects: Sequence[ObjectMask]) -> List[int]:
    """Indices of ``objects`` from the farthest to the nearest (ties keep input order)."""
    return sorted(range(len(objects)), key=lambda i: (-objects[i].depth, i))


def compose_mask(
    height: int,
    width: int,
    objects: Sequence[ObjectMask],
    road: Sequence[Sequence[np.ndarray]] = (),
    road_class_id: int = 0,
) -> np.ndarray:
    """One class-id mask per image.

    Args:
        height, width: image size (pixels).
        objects: object masks in any order.
        road: road polygons, each a list of rings ``[exterior, hole, ...]`` of ``(K, 2)`` pixels.
        road_class_id: pixel value of road (ignored when 0).

    Returns:
        ``(height, width)`` uint8, 0 = background.
    """
    canvas = np.zeros((height, width), dtype=np.uint8)
    if road_class_id:
        for rings in road:
            fill_rings(canvas, rings, road_class_id)
    for i in depth_order(objects):
        paint_object(canvas, objects[i])
    return canvas


def class_pixel_counts(mask: np.ndarray, num_classes: int) -> List[int]:
    """Pixels per class id of a ``(H, W)`` uint8 mask: ``(num_classes,)`` list of ints."""
    hist = cv2.calcHist([np.ascontiguousarray(mask, dtype=np.uint8)], [0], None, [256], [0, 256])
    return [int(v) for v in hist[:num_classes, 0]]
