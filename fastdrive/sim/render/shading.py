"""Colours, lighting and deterministic noise textures for the rasteriser.

Everything here is cheap and cached: palettes are constant arrays, noise
tiles are generated once per ``noise_seed`` and then only indexed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Optional, Tuple

import numpy as np

from fastdrive.sim.types import SEMANTIC_CLASSES, SEMANTIC_ID

NOISE_TILE = 256  # side of the square noise tiles (power of two: index with & mask)

# Base colour per semantic class (RGB, 0..255), before lighting and texture.
_BASE = {
    "sky": (150, 185, 225),
    "building": (190, 172, 150),
    "vegetation": (60, 110, 45),
    "terrain": (105, 120, 70),
    "sidewalk": (170, 168, 160),
    "road": (78, 78, 82),
    "lane_marking": (225, 225, 215),
    "crossing": (235, 235, 228),
    "car": (120, 120, 130),
    "truck": (140, 130, 110),
    "bus": (200, 170, 60),
    "pedestrian": (90, 70, 110),
    "cyclist": (60, 100, 160),
    "barrier": (210, 60, 50),
    "traffic_cone": (240, 110, 20),
    "traffic_sign": (200, 200, 205),
    "traffic_light": (40, 40, 45),
}
CLASS_BASE_COLOR: np.ndarray = np.array([_BASE[c] for c in SEMANTIC_CLASSES], dtype=np.float32)  # (C, 3)

# Texture amplitude of ground classes (relative brightness variation).
GROUND_NOISE_AMP: np.ndarray = np.zeros(len(SEMANTIC_CLASSES), dtype=np.float32)
for _name, _amp in (("terrain", 0.30), ("sidewalk", 0.10), ("road", 0.14),
                    ("lane_marking", 0.06), ("crossing", 0.06)):
    GROUND_NOISE_AMP[SEMANTIC_ID[_name]] = _amp


@dataclass(frozen=True)
class Lighting:
    """Scene lighting.

    Attributes:
        sun_dir: unit ``(3,)`` direction towards the sun, global frame.
        ambient: share of light that is not directional, in [0, 1].
        sky_top / sky_horizon: RGB of the sky gradient (zenith / horizon).
        tint: RGB multiplier applied to every lit surface (scene colour cast).
    """

    sun_dir: Tuple[float, float, float] = (0.35, 0.25, 0.90)
    ambient: float = 0.45
    sky_top: Tuple[float, float, float] = (80.0, 130.0, 205.0)
    sky_horizon: Tuple[float, float, float] = (190.0, 205.0, 225.0)
    tint: Tuple[float, float, float] = (1.0, 1.0, 1.0)

    def brightness(self, normals: np.ndarray) -> np.ndarray:
        """Brightness for ``(..., 3)`` unit normals -> ``(...)`` in [ambient, 1].

        Lambert term of the sun plus ambient light, plus a little sky fill
        on vertical faces (walls facing away from the sun are not black).
        """
        sun = np.asarray(self.sun_dir, dtype=np.float32)
        lam = np.clip(normals @ sun, 0.0, 1.0)
        fill = 0.12 * (1.0 - np.abs(normals[..., 2]))
        return np.minimum(self.ambient + (1.0 - self.ambient) * lam + fill, 1.0).astype(np.float32)


def parse_lighting(lighting: Optional[Mapping]) -> Lighting:
    """``Frame.lighting`` dict (or None) -> :class:`Lighting` with defaults filled in."""
    if not lighting:
        return Lighting()
    d = Lighting()
    sun = np.asarray(lighting.get("sun_dir", d.sun_dir), dtype=float).reshape(3)
    sun = sun / max(np.linalg.norm(sun), 1e-9)

    def rgb(key: str, default: Tuple[float, float, float]) -> Tuple[float, float, float]:
        return tuple(float(v) for v in np.asarray(lighting.get(key, default), dtype=float).reshape(3))

    return Lighting(
        sun_dir=tuple(float(v) for v in sun),
        ambient=float(np.clip(float(lighting.get("ambient", d.ambient)), 0.0, 1.0)),
        sky_top=rgb("sky_top", d.sky_top),
        sky_horizon=rgb("sky_horizon", d.sky_horizon),
        tint=rgb("tint", d.tint),
    )


@lru_cache(maxsize=8)
def noise_tile(seed: int, octaves: int = 4) -> np.ndarray:
    """``(NOISE_TILE, NOISE_TILE)`` float32 tileable value noise in about [-1, 1].

    Sum of ``octaves`` bilinear-upsampled random grids (coarse to fine),
    wrapped so the tile repeats seamlessly. Deterministic from ``seed``.
    """
    rng = np.random.default_rng(int(seed) & 0xFFFFFFFF)
    n = NOISE_TILE
    out = np.zeros((n, n), dtype=np.float64)
    total = 0.0
    for o in range(octaves):
        cells = 8 * 2**o
        grid = rng.uniform(-1.0, 1.0, size=(cells, cells))
        pos = (np.arange(n) + 0.5) * cells / n - 0.5
        i0 = np.floor(pos).astype(int)
        f = pos - i0
        a, b = i0 % cells, (i0 + 1) % cells
        rows = grid[a] * (1 - f)[:, None] + grid[b] * f[:, None]
        tile = rows[:, a] * (1 - f)[None, :] + rows[:, b] * f[None, :]
        amp = 0.55**o
        out += amp * tile
        total += amp
    out /= total
    out /= max(np.abs(out).max(), 1e-9)
    return out.astype(np.float32)


@lru_cache(maxsize=16)
def screen_noise(seed: int, height: int, width: int, amplitude: float) -> np.ndarray:
    """``(height, width, 3)`` uint8 multiplicative texture, 128 = x1.0.

    The noise tile of ``seed`` repeated over the image (coarse blotches) plus
    fine per-pixel grain, scaled to ``1 +- amplitude``. Use with
    ``cv2.multiply(img, noise, scale=1 / 128)``. Cached per arguments.
    """
    tile = noise_tile(seed)
    reps = (height // NOISE_TILE + 1, width // NOISE_TILE + 1)
    coarse = np.tile(tile, reps)[:height, :width]
    grain = np.random.default_rng((int(seed) + 7919) & 0xFFFFFFFF).uniform(-1, 1, size=(height, width))
    n = 128.0 * (1.0 + amplitude * (0.6 * coarse + 0.4 * grain))
    n = np.clip(np.round(n), 0, 255).astype(np.uint8)
    return np.repeat(n[..., None], 3, axis=2)
