"""Per-camera cached geometry, the sky and the ground plane.

The ego drives on the flat ground (z = 0) with only a yaw, so in the ego
frame each camera's pixel rays, and where they meet the ground, never
change. They are computed once per camera (``camera_geometry``) over the
image rows that contain ground (the "band"); each frame only rotates the
cached ground points by the ego yaw, looks their class up in the town's
ground raster and fetches a pre-textured colour from a cached colour
raster. Masked copies and blends use OpenCV, which is much faster than
numpy's masked assignment.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import List, Tuple

import cv2
import numpy as np

from fastdrive.sim.render.shading import CLASS_BASE_COLOR, GROUND_NOISE_AMP, NOISE_TILE, Lighting, noise_tile
from fastdrive.sim.rig import CameraSpec
from fastdrive.sim.types import SEMANTIC_ID, GroundRaster

MAX_GROUND_DISTANCE = 600.0  # m; ground beyond this horizontal distance is drawn as sky
FOG_DISTANCE = 220.0  # m; e-folding distance of the haze towards the horizon colour
FAR_TEXTURE_DISTANCE = 25.0  # m; band rows beyond this use the 4x coarser colour raster (a mip level)
MIP = 4  # cells per side of a far-texture cell
_TERRAIN = SEMANTIC_ID["terrain"]


@dataclass
class CameraGeometry:
    """Pixel rays and ground intersections of one camera, in the ego frame.

    Attributes:
        width / height: image size; fx, fy, cx, cy: intrinsics (pixels).
        rot: ``(3, 3)`` camera -> ego rotation; trans: ``(3,)`` position (m).
        au: ``(W,)`` float32 ``(u + 0.5 - cx) / fx``; av: ``(H,)`` the same for rows.
            A pixel's camera ray is ``(au[u], av[v], 1)``, so ray length = depth.
        v0: first image row containing ground; the band is rows ``v0:H``.
        valid: ``(H - v0, W)`` uint8 (1 = pixel sees the ground).
        ground_x / ground_y: ``(H - v0, W)`` float32 ego-frame xy of the hits (0 elsewhere).
        ground_depth: ``(H - v0, W)`` float32 depth (m), inf where no ground.
        fog: ``(H - v0, W)`` float32 haze share in [0, 1).
        far_rows: band rows ``[0, far_rows)`` are mostly beyond ``FAR_TEXTURE_DISTANCE``.
        sky_s: ``(H, W)`` float32 sky gradient coordinate (0 horizon, 1 zenith).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    rot: np.ndarray
    trans: np.ndarray
    au: np.ndarray
    av: np.ndarray
    v0: int
    valid: np.ndarray
    ground_x: np.ndarray
    ground_y: np.ndarray
    ground_depth: np.ndarray
    fog: np.ndarray
    far_rows: int
    sky_s: np.ndarray
    _lit: "OrderedDict[Lighting, tuple]" = field(default_factory=OrderedDict)

    def lit(self, light: Lighting) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Lighting-dependent caches: sky ``(H, W, 3)`` uint8 and, over the band,
        the blend weights ``w1``, ``w2`` ``(Hb, W)`` float32 and haze image
        ``(Hb, W, 3)`` uint8 such that ``ground = (c * w1 + haze * w2) / (w1 + w2)``
        equals ``c * (1 - fog) * sun + horizon * fog``."""
        hit = self._lit.get(light)
        if hit is not None:
            self._lit.move_to_end(light)
            return hit
        top = np.asarray(light.sky_top, np.float32)
        hor = np.asarray(light.sky_horizon, np.float32)
        sky = _affine_rgb(self.sky_s, top - hor, hor)
        gain = float(light.brightness(np.array([0.0, 0.0, 1.0], np.float32)))
        w1 = (1.0 - self.fog) * np.float32(gain)
        w2 = np.maximum(np.float32(1.0) - w1, np.float32(1e-4))
        haze = _affine_rgb(self.fog / w2, hor, np.zeros(3, np.float32))
        hit = (sky, w1, w2, haze)
        self._lit[light] = hit
        if len(self._lit) > 2:
            self._lit.popitem(last=False)
        return hit


def _affine_rgb(x: np.ndarray, slope: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 -> ``(H, W, 3)`` uint8 ``clip(x * slope[c] + offset[c])`` (via OpenCV)."""
    x = np.ascontiguousarray(x, np.float32)
    chans = [np.clip(x * np.float32(slope[c]) + np.float32(offset[c]), 0, 255).astype(np.uint8)
             for c in range(3)]
    return cv2.merge(chans)


_GEOMETRY: "OrderedDict[tuple, CameraGeometry]" = OrderedDict()


def _camera_key(cam: CameraSpec) -> tuple:
    return (
        cam.name, int(cam.width), int(cam.height),
        np.asarray(cam.intrinsic, np.float64).tobytes(),
        np.asarray(cam.translation, np.float64).tobytes(),
        np.asarray(cam.rotation, np.float64).tobytes(),
    )


def camera_geometry(cam: CameraSpec) -> CameraGeometry:
    """Cached :class:`CameraGeometry` for ``cam`` (an LRU of 16 cameras)."""
    key = _camera_key(cam)
    geo = _GEOMETRY.get(key)
    if geo is not None:
        _GEOMETRY.move_to_end(key)
        return geo
    geo = _build_geometry(cam)
    _GEOMETRY[key] = geo
    if len(_GEOMETRY) > 16:
        _GEOMETRY.popitem(last=False)
    return geo


def _build_geometry(cam: CameraSpec) -> CameraGeometry:
    w, h = int(cam.width), int(cam.height)
    k = np.asarray(cam.intrinsic, np.float64)
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    rot = cam.rotation_matrix
    trans = np.asarray(cam.translation, np.float64)
    au = (np.arange(w) + 0.5 - cx) / fx
    av = (np.arange(h) + 0.5 - cy) / fy
    # ego-frame ray directions, one (H, W) array per component
    dx, dy, dz = (rot[i, 0] * au[None, :] + rot[i, 1] * av[:, None] + rot[i, 2] for i in range(3))
    horiz = np.hypot(dx, dy)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(dz < -1e-9, -trans[2] / dz, np.inf)
    ground = np.isfinite(t) & (t * horiz < MAX_GROUND_DISTANCE)
    rows = np.nonzero(ground.any(axis=1))[0]
    v0 = int(rows[0]) if rows.size else h
    valid = ground[v0:]
    tb = np.where(valid, t[v0:], 0.0)
    gx = np.where(valid, trans[0] + tb * dx[v0:], 0.0)
    gy = np.where(valid, trans[1] + tb * dy[v0:], 0.0)
    dist = np.where(valid, np.hypot(gx - trans[0], gy - trans[1]), np.inf)
    fog = np.where(valid, (1.0 - np.exp(-np.minimum(dist, 1e6) / FOG_DISTANCE)) * 0.9, 0.0)
    row_dist = np.median(np.where(valid, dist, np.inf), axis=1) if valid.size else np.zeros(0)
    far_rows = int(np.sum(row_dist > FAR_TEXTURE_DISTANCE))
    elev = np.arctan2(dz, horiz)
    sky_s = np.clip(elev / 0.7, 0.0, 1.0) ** 0.6
    f32 = np.float32
    return CameraGeometry(
        width=w, height=h, fx=float(fx), fy=float(fy), cx=float(cx), cy=float(cy),
        rot=rot, trans=trans, au=au.astype(f32), av=av.astype(f32), v0=v0,
        valid=valid.astype(np.uint8), ground_x=gx.astype(f32), ground_y=gy.astype(f32),
        ground_depth=np.where(valid, t[v0:], np.inf).astype(f32), fog=fog.astype(f32),
        far_rows=far_rows, sky_s=sky_s.astype(f32),
    )


@dataclass
class _RasterTextures:
    raster: GroundRaster
    seed: int
    tint: Tuple[float, float, float]
    classes: np.ndarray  # (Hr + 2, Wr + 2) uint8, padded with terrain
    colors: List[np.ndarray]  # [near (Hr + 2, Wr + 2), far (ceil((Hr + 2) / MIP), ...)] uint32 RGBA


_TEXTURES: List[_RasterTextures] = []


def raster_textures(raster: GroundRaster, seed: int, tint: Tuple[float, float, float]) -> _RasterTextures:
    """Padded class raster and packed colour rasters, cached for the last few rasters.

    The near colour raster has one textured colour per cell; the far one
    averages ``MIP`` x ``MIP`` cells (a mip level: distant ground, where a
    pixel spans many cells, is smooth instead of sparkling).
    """
    for tex in _TEXTURES:
        if tex.raster is raster and tex.seed == seed and tex.tint == tint:
            return tex
    cls = np.pad(np.asarray(raster.classes, np.uint8), 1, constant_values=_TERRAIN)
    hr, wr = cls.shape
    tile = noise_tile(seed)
    ii = (np.arange(hr) & (NOISE_TILE - 1))[:, None]
    jj = (np.arange(wr) & (NOISE_TILE - 1))[None, :]
    noise = tile[ii, jj]
    if raster.shade is not None:
        shade = np.pad(np.asarray(raster.shade, np.float32), 1, mode="edge")
        noise = 0.6 * noise + 0.4 * (shade / 127.5 - 1.0)
    amp = GROUND_NOISE_AMP[cls]
    base = CLASS_BASE_COLOR * np.asarray(tint, np.float32)[None]  # (C, 3)
    k = 1.0 + amp * noise  # (hr, wr)
    rgba = np.empty((hr, wr, 4), np.uint8)
    for ch in range(3):
        rgba[..., ch] = np.clip(base[cls, ch] * k, 0, 255).astype(np.uint8)
    rgba[..., 3] = 255
    h4, w4 = -(-hr // MIP), -(-wr // MIP)
    padded = np.pad(rgba, ((0, h4 * MIP - hr), (0, w4 * MIP - wr), (0, 0)), mode="edge")
    far = np.ascontiguousarray(cv2.resize(padded, (w4, h4), interpolation=cv2.INTER_AREA))
    colors = [rgba.view(np.uint32)[..., 0], far.view(np.uint32)[..., 0]]
    tex = _RasterTextures(raster, seed, tint, cls, colors)
    _TEXTURES.insert(0, tex)
    del _TEXTURES[4:]
    return tex


def draw_ground(
    geo: CameraGeometry,
    raster: GroundRaster,
    ego_x: float,
    ego_y: float,
    ego_yaw: float,
    light: Lighting,
    texture_seed: int,
    rgb: np.ndarray,
    semantic: np.ndarray,
    depth: np.ndarray,
) -> None:
    """Draw the ground into the image buffers (in place, band rows only).

    Args:
        geo: the camera geometry; raster: the town's ground raster.
        ego_x, ego_y, ego_yaw: the ego pose (global, m / rad).
        light: scene lighting; texture_seed: seed of the world-space ground
            texture (keep it fixed per town so the texture does not flicker).
        rgb: ``(H, W, 3)`` uint8 (holding the sky); semantic: ``(H, W)``
        uint8; depth: ``(H, W)`` float32.
    """
    if geo.v0 >= geo.height:
        return
    tex = raster_textures(raster, int(texture_seed), light.tint)
    hr, wr = tex.classes.shape
    inv = 1.0 / float(raster.resolution)
    c, s = np.cos(ego_yaw) * inv, np.sin(ego_yaw) * inv
    # padded raster index = floor((global - origin) / res) + 1, clipped into the terrain border
    f32 = np.float32
    fj = geo.ground_x * f32(c)
    fj -= geo.ground_y * f32(s)
    fj += f32((ego_x - raster.origin[0]) * inv + 1.0)
    fi = geo.ground_x * f32(s)
    fi += geo.ground_y * f32(c)
    fi += f32((ego_y - raster.origin[1]) * inv + 1.0)
    np.clip(fj, 0, wr - 1, out=fj)
    np.clip(fi, 0, hr - 1, out=fi)
    flat = fi.astype(np.int32)
    flat *= wr
    flat += fj.astype(np.int32)
    cls = np.take(tex.classes.reshape(-1), flat)
    band = slice(geo.v0, geo.height)
    valid = geo.valid
    cv2.copyTo(cls, valid, semantic[band])
    depth[band] = geo.ground_depth  # inf where the band shows sky
    packed = np.empty(flat.shape, np.uint32)
    fr = geo.far_rows
    if fr:
        far = tex.colors[1]
        flat_far = (fi[:fr] * f32(1.0 / MIP)).astype(np.int32)
        flat_far *= far.shape[1]
        flat_far += (fj[:fr] * f32(1.0 / MIP)).astype(np.int32)
        np.take(far.reshape(-1), flat_far, out=packed[:fr])
    np.take(tex.colors[0].reshape(-1), flat[fr:], out=packed[fr:])
    col = cv2.cvtColor(packed.view(np.uint8).reshape(flat.shape + (4,)), cv2.COLOR_RGBA2RGB)
    _, w1, w2, haze = geo.lit(light)
    col = cv2.blendLinear(col, haze, w1, w2)
    cv2.copyTo(col, valid, rgb[band])
