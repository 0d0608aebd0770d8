"""Object geometry: every object kind as a few cuboids inside its 3D box.

A part is an axis-aligned cuboid in the box's local frame given as fractions
of the box: local x (forward, along ``length``) and y (left, along
``width``) in [-0.5, 0.5], z (up, along ``height``) in [0, 1] from the box
bottom. Because fractions stay in those ranges, every part lies inside the
object's box, which is what makes the projected box hull cover the
object's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from fastdrive.sim.render.shading import CLASS_BASE_COLOR
from fastdrive.sim.types import OBJECT_KIND_TO_SEMANTIC, SEMANTIC_ID, WorldObject

# Materials: how a part is textured and lit.
PLAIN, GLASS, FACADE, FOLIAGE, EMISSIVE, STRIPES = 0, 1, 2, 3, 4, 5

_DARK = (28, 28, 30)
_GLASS = (45, 58, 75)
_SKIN = (215, 175, 145)
_PANTS = (50, 55, 80)
_WHITE = (235, 235, 235)
_ORANGE = (245, 115, 20)
_GREY = (120, 122, 125)
_BARK = (85, 60, 40)

# A colour is either ("obj", m): m * object colour + (1 - m) * class base colour,
# or a fixed RGB triple.
ColorSpec = Tuple
# (lo_xyz, hi_xyz, colour, material)
Part = Tuple[Tuple[float, float, float], Tuple[float, float, float], ColorSpec, int]

PART_TEMPLATES: Dict[str, List[Part]] = {
    "car": [
        ((0.20, -0.5, 0.0), (0.40, 0.5, 0.30), _DARK, PLAIN),
        ((-0.40, -0.5, 0.0), (-0.20, 0.5, 0.30), _DARK, PLAIN),
        ((-0.5, -0.5, 0.15), (0.5, 0.5, 0.58), ("obj", 0.85), PLAIN),
        ((-0.32, -0.45, 0.58), (0.18, 0.45, 1.0), _GLASS, GLASS),
    ],
    "truck": [
        ((0.25, -0.5, 0.0), (0.40, 0.5, 0.18), _DARK, PLAIN),
        ((-0.42, -0.5, 0.0), (-0.22, 0.5, 0.18), _DARK, PLAIN),
        ((0.28, -0.5, 0.12), (0.5, 0.5, 0.55), ("obj", 0.9), PLAIN),
        ((0.30, -0.48, 0.55), (0.5, 0.48, 0.85), _GLASS, GLASS),
        ((-0.5, -0.5, 0.15), (0.26, 0.5, 1.0), ("obj", 0.3), PLAIN),
    ],
    "bus": [
        ((0.25, -0.5, 0.0), (0.38, 0.5, 0.14), _DARK, PLAIN),
        ((-0.38, -0.5, 0.0), (-0.25, 0.5, 0.14), _DARK, PLAIN),
        ((-0.5, -0.5, 0.10), (0.5, 0.5, 0.50), ("obj", 0.9), PLAIN),
        ((-0.5, -0.5, 0.50), (0.5, 0.5, 0.82), _GLASS, GLASS),
        ((-0.5, -0.5, 0.82), (0.5, 0.5, 1.0), ("obj", 0.9), PLAIN),
    ],
    "pedestrian": [
        ((-0.15, 0.05, 0.0), (0.15, 0.40, 0.47), _PANTS, PLAIN),
        ((-0.15, -0.40, 0.0), (0.15, -0.05, 0.47), _PANTS, PLAIN),
        ((-0.22, -0.5, 0.47), (0.22, 0.5, 0.84), ("obj", 0.9), PLAIN),
        ((-0.15, -0.18, 0.86), (0.15, 0.18, 1.0), _SKIN, PLAIN),
    ],
    "cyclist": [
        ((0.22, -0.08, 0.0), (0.5, 0.08, 0.40), _DARK, PLAIN),
        ((-0.5, -0.08, 0.0), (-0.22, 0.08, 0.40), _DARK, PLAIN),
        ((-0.25, -0.06, 0.22), (0.25, 0.06, 0.42), ("obj", 0.2), PLAIN),
        ((-0.10, -0.30, 0.30), (0.10, 0.30, 0.55), _PANTS, PLAIN),
        ((-0.18, -0.5, 0.55), (0.12, 0.5, 0.86), ("obj", 0.9), PLAIN),
        ((-0.10, -0.15, 0.87), (0.06, 0.15, 1.0), _SKIN, PLAIN),
    ],
    "traffic_cone": [
        ((-0.5, -0.5, 0.0), (0.5, 0.5, 0.08), _ORANGE, PLAIN),
        ((-0.30, -0.30, 0.08), (0.30, 0.30, 0.40), _ORANGE, PLAIN),
        ((-0.20, -0.20, 0.40), (0.20, 0.20, 0.65), _WHITE, PLAIN),
        ((-0.12, -0.12, 0.65), (0.12, 0.12, 1.0), _ORANGE, PLAIN),
    ],
    "barrier": [
        ((-0.5, -0.5, 0.0), (-0.38, 0.5, 0.35), _GREY, PLAIN),
        ((0.38, -0.5, 0.0), (0.5, 0.5, 0.35), _GREY, PLAIN),
        ((-0.5, -0.3, 0.35), (0.5, 0.3, 1.0), ("obj", 0.6), STRIPES),
    ],
    "traffic_sign": [
        ((-0.5, -0.06, 0.0), (0.5, 0.06, 0.68), _GREY, PLAIN),
        ((-0.5, -0.5, 0.68), (0.5, 0.5, 1.0), ("obj", 0.8), PLAIN),
    ],
    "traffic_light": [
        ((-0.15, -0.15, 0.0), (0.15, 0.15, 0.72), _GREY, PLAIN),
        ((-0.5, -0.5, 0.72), (0.30, 0.5, 1.0), ("obj", 0.0), PLAIN),
        ((0.30, -0.30, 0.76), (0.5, 0.30, 0.96), ("obj", 1.0), EMISSIVE),
    ],
    "building": [
        ((-0.5, -0.5, 0.0), (0.5, 0.5, 1.0), ("obj", 0.7), FACADE),
    ],
    "tree": [
        ((-0.07, -0.07, 0.0), (0.07, 0.07, 0.45), _BARK, PLAIN),
        ((-0.5, -0.5, 0.35), (0.5, 0.5, 0.80), ("obj", 0.5), FOLIAGE),
        ((-0.33, -0.33, 0.80), (0.33, 0.33, 1.0), ("obj", 0.5), FOLIAGE),
    ],
}
# Low-detail stand-in for objects only a few pixels tall: the whole box.
LOD_TEMPLATE: Dict[str, Part] = {
    k: ((-0.5, -0.5, 0.0), (0.5, 0.5, 1.0), ("obj", 0.7), FOLIAGE if k == "tree" else PLAIN)
    for k in PART_TEMPLATES
}


def _template_arrays(parts: Sequence[Part]) -> Tuple[np.ndarray, np.ndarray, list, np.ndarray]:
    lo = np.array([p[0] for p in parts], dtype=np.float64)  # (P, 3) x, y, z fractions
    hi = np.array([p[1] for p in parts], dtype=np.float64)
    colors = [p[2] for p in parts]
    mats = np.array([p[3] for p in parts], dtype=np.int8)
    return lo, hi, colors, mats


_TEMPLATE_ARRAYS = {k: _template_arrays(v) for k, v in PART_TEMPLATES.items()}
_LOD_ARRAYS = {k: _template_arrays([v]) for k, v in LOD_TEMPLATE.items()}


@dataclass
class Cuboids:
    """A flat list of M oriented cuboids (global frame), ready to rasterise.

    Attributes:
        center: ``(M, 3)`` global centre (m).
        half: ``(M, 3)`` half extents along local x (forward), y (left), z (m).
        yaw: ``(M,)`` rotation about z (rad).
        color: ``(M, 3)`` float32 RGB before lighting.
        material: ``(M,)`` int8 material id (``PLAIN`` ...).
        semantic: ``(M,)`` uint8 semantic id.
        instance: ``(M,)`` int32 index of the owning object.
        obj_height: ``(M,)`` height of the owning object's box (m).
    """

    center: np.ndarray
    half: np.ndarray
    yaw: np.ndarray
    color: np.ndarray
    material: np.ndarray
    semantic: np.ndarray
    instance: np.ndarray
    obj_height: np.ndarray

    def __len__(self) -> int:
        return int(self.center.shape[0])

    def corners(self) -> np.ndarray:
        """``(M, 8, 3)`` global corners (any fixed order)."""
        signs = np.array([[sx, sy, sz] for sx in (1, -1) for sy in (1, -1) for sz in (1, -1)], np.float64)
        local = self.half[:, None, :] * signs[None]
        c, s = np.cos(self.yaw)[:, None], np.sin(self.yaw)[:, None]
        x = c * local[..., 0] - s * local[..., 1] + self.center[:, None, 0]
        y = s * local[..., 0] + c * local[..., 1] + self.center[:, None, 1]
        return np.stack([x, y, local[..., 2] + self.center[:, None, 2]], -1)


def empty_cuboids() -> Cuboids:
    """A :class:`Cuboids` with M = 0."""
    z3 = np.zeros((0, 3))
    return Cuboids(z3, z3, np.zeros(0), np.zeros((0, 3), np.float32), np.zeros(0, np.int8),
                   np.zeros(0, np.uint8), np.zeros(0, np.int32), np.zeros(0))


def object_semantic(kind: str) -> int:
    """Semantic id of an object kind (KeyError with a clear message if unknown)."""
    try:
        return SEMANTIC_ID[OBJECT_KIND_TO_SEMANTIC[kind]]
    except KeyError:
        raise KeyError(f"unknown object kind {kind!r}; known: {sorted(PART_TEMPLATES)}") from None


def build_cuboids(
    objects: Sequence[WorldObject],
    instance_ids: Sequence[int],
    lod: Optional[np.ndarray] = None,
) -> Cuboids:
    """Expand objects into their part cuboids.

    Args:
        objects: the objects (any kinds of ``PART_TEMPLATES``).
        instance_ids: ``len(objects)`` instance index written for each.
        lod: optional ``(len(objects),)`` bool; True draws the object as its
            whole box (for objects a few pixels tall).

    Returns:
        The :class:`Cuboids`, grouped by kind (order is deterministic).
    """
    if len(objects) == 0:
        return empty_cuboids()
    lod = np.zeros(len(objects), bool) if lod is None else np.asarray(lod, bool)
    groups: Dict[Tuple[str, bool], List[int]] = {}
    for i, o in enumerate(objects):
        groups.setdefault((o.kind, bool(lod[i])), []).append(i)
    out: List[Tuple[np.ndarray, ...]] = []
    for (kind, is_lod), idx in groups.items():
        sem = object_semantic(kind)
        lo, hi, colors, mats = (_LOD_ARRAYS if is_lod else _TEMPLATE_ARRAYS)[kind]
        n, p = len(idx), lo.shape[0]
        center = np.array([objects[i].center for i in idx], dtype=np.float64).reshape(n, 3)
        size = np.array([objects[i].size for i in idx], dtype=np.float64).reshape(n, 3)
        yaw = np.array([objects[i].yaw for i in idx], dtype=np.float64)
        ocol = np.array([objects[i].color for i in idx], dtype=np.float32).reshape(n, 3)
        dims = size[:, [1, 0, 2]]  # (n, 3) length, width, height along local x, y, z
        mid = (lo + hi) / 2.0  # (p, 3)
        local = mid[None] * dims[:, None]  # (n, p, 3)
        local[..., 2] -= dims[:, None, 2] / 2.0  # z fractions are from the bottom
        half = (hi - lo)[None] / 2.0 * dims[:, None]
        c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
        gx = center[:, None, 0] + c * local[..., 0] - s * local[..., 1]
        gy = center[:, None, 1] + s * local[..., 0] + c * local[..., 1]
        gz = center[:, None, 2] + local[..., 2]
        base = CLASS_BASE_COLOR[sem]
        col = np.empty((n, p, 3), np.float32)
        for j, spec in enumerate(colors):
            if spec[0] == "obj":
                col[:, j] = spec[1] * ocol + (1.0 - spec[1]) * base
            else:
                col[:, j] = np.asarray(spec, np.float32)
        out.append((
            np.stack([gx, gy, gz], -1).reshape(-1, 3),
            half.reshape(-1, 3),
            np.repeat(yaw, p),
            col.reshape(-1, 3),
            np.tile(mats, n),
            np.full(n * p, sem, np.uint8),
            np.repeat(np.asarray([instance_ids[i] for i in idx], np.int32), p),
            np.repeat(size[:, 2], p),
        ))
    return Cuboids(*(np.concatenate(a) for a in zip(*out)))
