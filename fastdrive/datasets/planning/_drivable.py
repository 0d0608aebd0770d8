"""Drivable area around the ego from a nuScenes map expansion, in the ego frame."""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
from shapely import wkt
from shapely.affinity import affine_transform
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from ._frames import ego_affine

DRIVABLE_LAYERS = ("drivable_area",)
"""Map layers whose union is drivable. nuScenes' drivable_area covers roads and
intersections; ``road_segment`` / ``lane`` are alternatives for maps without it."""


def _layer_polygons(nusc_map, layer: str, token: str) -> list:
    rec = nusc_map.get(layer, token)
    tokens = rec.get("polygon_tokens") or ([rec["polygon_token"]] if "polygon_token" in rec else [])
    return [nusc_map.extract_polygon(t) for t in tokens]


def drivable_area_ego(
    nusc_map,
    ego_xy: np.ndarray,
    ego_yaw: float,
    radius: float = 60.0,
    layers: Sequence[str] = DRIVABLE_LAYERS,
) -> BaseGeometry:
    """Union of the drivable polygons within ``radius`` of the ego, in its frame.

    Args:
        nusc_map: a ``nuscenes.map_expansion.map_api.NuScenesMap``.
        ego_xy: ``(2,)`` global ego position (m).
        ego_yaw: global ego yaw (rad).
        radius: half side of the square patch (m) kept around the ego.
        layers: polygon layers to unite.

    Returns:
        A shapely (Multi)Polygon in the ego frame (x forward, y left), clipped
        to ``[-radius, radius]^2``; empty if the map has nothing there.
    """
    x, y = float(ego_xy[0]), float(ego_xy[1])
    patch = (x - radius, y - radius, x + radius, y + radius)
    records: Dict[str, list] = nusc_map.get_records_in_patch(patch, list(layers), mode="intersect")
    polys = []
    for layer in layers:
        for token in records.get(layer, []):
            polys.extend(p for p in _layer_polygons(nusc_map, layer, token) if p.is_valid and not p.is_empty)
    if not polys:
        return Polygon()
    area = unary_union(polys).intersection(box(*patch))
    return affine_transform(area, ego_affine(np.array([x, y]), ego_yaw))


def to_wkt(geom: BaseGeometry) -> str:
    """Compact WKT (mm precision) for caching a geometry."""
    return wkt.dumps(geom, rounding_precision=3)


def from_wkt(text: str) -> BaseGeometry:
    """Inverse of :func:`to_wkt` (an empty string gives an empty polygon)."""
    if not text:
        return Polygon()
    geom = wkt.loads(text)
    return geom if isinstance(geom, (Polygon, MultiPolygon)) else geom.buffer(0)
