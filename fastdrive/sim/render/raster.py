"""Depth-correct rasterisation of oriented cuboids into a z-buffer.

A cuboid is drawn face by face. Only faces turned towards the camera are
drawn (at most three per cuboid). Each face is clipped to the near plane and
projected; its pixel mask is exact (pixel centres inside the projected
convex polygon, from its edge half-planes, computed per row) and the depth
of every pixel is the ray/face-plane intersection (inverse depth is affine in
the pixel coordinates). Pixels whose depth beats the z-buffer take the
face's class, instance and colour, so occlusion is per pixel, not per object.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from fastdrive.sim.render.ground import CameraGeometry
from fastdrive.sim.render.shading import Lighting
from fastdrive.sim.render.shapes import EMISSIVE, FACADE, STRIPES, Cuboids

NEAR = 0.1  # m, near clipping plane
_WINDOW_GLASS = np.array([55, 70, 92], np.float32)
_STRIPE_WHITE = np.array([235, 235, 235], np.float32)
# Face f = 2 * axis + (0 for the + side, 1 for the - side). Its corners in
# units of the half extents, ordered around the face.
_FACE_AXIS = np.array([0, 0, 1, 1, 2, 2])
_FACE_SIGN = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])


def _face_corner_signs() -> np.ndarray:
    out = np.zeros((6, 4, 3))
    square = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], float)
    for f in range(6):
        k = _FACE_AXIS[f]
        i, j = [a for a in range(3) if a != k]
        out[f, :, k] = _FACE_SIGN[f]
        out[f, :, i] = square[:, 0]
        out[f, :, j] = square[:, 1]
    return out


_FACE_CORNERS = _face_corner_signs()  # (6, 4, 3)


@dataclass
class Buffers:
    """The image being drawn: ``rgb`` (H, W, 3) uint8, ``semantic`` (H, W)
    uint8, ``depth`` (H, W) float32 (m, inf = nothing), ``instance`` (H, W) int32."""

    rgb: np.ndarray
    semantic: np.ndarray
    depth: np.ndarray
    instance: np.ndarray


def clip_near(poly: np.ndarray) -> np.ndarray:
    """Clip a convex polygon ``(K, 3)`` (camera frame) to ``z >= NEAR`` -> ``(K', 3)``."""
    out = []
    n = poly.shape[0]
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        ina, inb = a[2] >= NEAR, b[2] >= NEAR
        if ina:
            out.append(a)
        if ina != inb:
            f = (NEAR - a[2]) / (b[2] - a[2])
            out.append(a + f * (b - a))
    return np.array(out) if out else np.zeros((0, 3))


def _row_spans(px: np.ndarray, py: np.ndarray, ys: np.ndarray) -> tuple:
    """For a convex polygon with vertices ``(px, py)`` (K,), the range of x
    inside it on each horizontal line ``ys`` (R,) -> ``(xl, xr)`` (R,) each
    (``xl > xr`` where the line misses the polygon).

    Each edge is a half-plane ``a x + b(y) >= 0``; edges with ``a > 0`` bound
    x from below, ``a < 0`` from above, horizontal edges exclude rows.
    """
    xs, yv = [float(v) for v in px], [float(v) for v in py]
    k = len(xs)
    area2 = sum(xs[i] * yv[(i + 1) % k] - xs[(i + 1) % k] * yv[i] for i in range(k))
    orient = 1.0 if area2 >= 0 else -1.0
    xl = np.full(ys.shape, -np.inf)
    xr = np.full(ys.shape, np.inf)
    for i in range(k):
        j = (i + 1) % k
        ex, ey = xs[j] - xs[i], yv[j] - yv[i]
        a = -orient * ey
        if abs(a) <= 1e-12:
            if orient * ex != 0:
                bad = orient * ex * (ys - yv[i]) < 0
                xl[bad] = np.inf
            continue
        bound = (ys - yv[i]) * (ex / ey) + xs[i]  # where the edge's line crosses each row
        if a > 0:
            np.maximum(xl, bound, out=xl)
        else:
            np.minimum(xr, bound, out=xr)
    return xl, xr


def rasterize_cuboids(
    cub: Cuboids,
    geo: CameraGeometry,
    cam_rot: np.ndarray,
    cam_pos: np.ndarray,
    light: Lighting,
    buf: Buffers,
) -> None:
    """Draw cuboids into ``buf`` with a per-pixel z-test (in place).

    Args:
        cub: the cuboids (global frame).
        geo: the camera's cached geometry (pixel rays ``au``, ``av``).
        cam_rot: ``(3, 3)`` camera -> global rotation.
        cam_pos: ``(3,)`` camera centre, global (m).
        light: scene lighting.
        buf: buffers drawn into.
    """
    m_all = len(cub)
    if m_all == 0:
        return
    w, h = geo.width, geo.height
    c, s = np.cos(cub.yaw), np.sin(cub.yaw)
    zeros, ones = np.zeros(m_all), np.ones(m_all)
    # global -> local rotation per cuboid (M, 3, 3); camera -> local = rz_t @ cam_rot
    rz_t = np.stack([np.stack([c, s, zeros], -1), np.stack([-s, c, zeros], -1),
                     np.stack([zeros, zeros, ones], -1)], 1)
    r_l = rz_t @ cam_rot  # (M, 3, 3); row k = local axis k in camera coordinates
    o = np.einsum("mij,mj->mi", rz_t, cam_pos[None] - cub.center)  # camera centre, local (M, 3)
    c_cam = -np.einsum("mji,mj->mi", r_l, o)  # cuboid centre, camera frame (M, 3)
    ax, sg = _FACE_AXIS, _FACE_SIGN
    visible = sg[None] * o[:, ax] > cub.half[:, ax]  # (M, 6)
    mi, fi = np.nonzero(visible)
    if mi.size == 0:
        return
    # draw near cuboids first so far faces fail the z-test before shading
    dist = np.linalg.norm(c_cam, axis=1)
    order = np.lexsort((fi, dist[mi]))
    mi, fi = mi[order], fi[order]
    fax = ax[fi]
    normal = sg[fi][:, None] * r_l[mi, fax]  # (F, 3) outward normal, camera frame
    plane_d = np.einsum("fi,fi->f", normal, c_cam[mi]) + cub.half[mi, fax]  # n . X = plane_d on the face
    corner_local = _FACE_CORNERS[fi] * cub.half[mi][:, None, :]  # (F, 4, 3)
    corners = c_cam[mi][:, None, :] + np.einsum("fkj,fji->fki", corner_local, r_l[mi])  # camera frame
    # face colours: base * Lambert * tint (emissive ignores the sun)
    n_global = normal @ cam_rot.T
    bright = light.brightness(n_global.astype(np.float32))
    mat = cub.material[mi]
    bright = np.where(mat == EMISSIVE, np.float32(1.0), bright)
    tint = np.asarray(light.tint, np.float32)
    face_col = cub.color[mi] * bright[:, None] * tint[None]
    zc = corners[..., 2]
    needs_clip = (zc < NEAR).any(axis=1)
    behind = (zc < NEAR).all(axis=1)
    zsafe = np.maximum(zc, NEAR)
    pu = geo.fx * corners[..., 0] / zsafe + geo.cx
    pv = geo.fy * corners[..., 1] / zsafe + geo.cy
    tex_kind = np.where(mat == FACADE, np.where(fax < 2, 1, 0), np.where((mat == STRIPES) & (fax == 1), 2, 0))
    face_col = np.where(((mat == FACADE) & (fax == 2))[:, None], face_col * np.float32(0.75), face_col)
    glass = _WINDOW_GLASS[None] * np.float32(0.9)
    overlay_col = np.where((tex_kind == 1)[:, None], glass, _STRIPE_WHITE[None])
    overlay_col = overlay_col * bright[:, None] * tint[None]
    k_mat = np.array([[geo.fx, 0.0, geo.cx - 0.5], [0.0, geo.fy, geo.cy - 0.5], [0.0, 0.0, 1.0]])
    col_u8 = np.clip(face_col, 0, 255).astype(np.uint8)
    overlay_u8 = np.clip(overlay_col, 0, 255).astype(np.uint8)
    au_all, av_all = geo.au, geo.av
    cols_all = np.arange(w)
    for f in range(mi.size):
        if behind[f]:
            continue
        if needs_clip[f]:
            poly = clip_near(corners[f])
            if poly.shape[0] < 3:
                continue
            u = geo.fx * poly[:, 0] / poly[:, 2] + geo.cx
            v = geo.fy * poly[:, 1] / poly[:, 2] + geo.cy
        else:
            u, v = pu[f], pv[f]
        # pixel j is inside when its centre j + 0.5 is
        u0, u1 = max(int(np.ceil(u.min() - 0.5)), 0), min(int(np.floor(u.max() - 0.5)) + 1, w)
        v0, v1 = max(int(np.ceil(v.min() - 0.5)), 0), min(int(np.floor(v.max() - 0.5)) + 1, h)
        if u0 >= u1 or v0 >= v1:
            continue
        xl, xr = _row_spans(u, v, np.arange(v0, v1) + 0.5)
        jl = np.ceil(xl - 0.5)
        jr = np.floor(xr - 0.5)
        r_idx = np.nonzero(jl <= jr)[0]
        if r_idx.size == 0:
            continue
        v0, v1 = v0 + int(r_idx[0]), v0 + int(r_idx[-1]) + 1
        jl, jr = jl[r_idx[0]:r_idx[-1] + 1], jr[r_idx[0]:r_idx[-1] + 1]
        u0, u1 = max(u0, int(jl.min())), min(u1, int(jr.max()) + 1)
        if u0 >= u1:
            continue
        cols = cols_all[u0:u1]
        inside = cols[None, :] >= jl[:, None]
        inside &= cols[None, :] <= jr[:, None]
        nrm, pd = normal[f], plane_d[f]
        inv_row = ((nrm[1] * av_all[v0:v1] + nrm[2]) / pd).astype(np.float32)
        inv_col = (nrm[0] / pd * au_all[u0:u1]).astype(np.float32)
        depth = inv_col[None, :] + inv_row[:, None]
        np.reciprocal(depth, out=depth)
        zcrop = buf.depth[v0:v1, u0:u1]
        inside &= depth < zcrop
        hit = inside.view(np.uint8)
        cv2.copyTo(depth, hit, zcrop)
        m = mi[f]
        _fill(buf.semantic[v0:v1, u0:u1], int(cub.semantic[m]), hit)
        _fill(buf.instance[v0:v1, u0:u1], int(cub.instance[m]), hit)
        rgb_crop = buf.rgb[v0:v1, u0:u1]
        _fill(rgb_crop, _scalar(col_u8[f]), hit)
        if tex_kind[f]:
            warped = _face_texture(int(tex_kind[f]), int(fax[f]), _FACE_SIGN[fi[f]], r_l[m], c_cam[m],
                                   cub.half[m], k_mat, (u0, v0, u1, v1))
            _fill(rgb_crop, _scalar(overlay_u8[f]), cv2.bitwise_and(warped, hit))


def _scalar(rgb: np.ndarray) -> tuple:
    """An RGB triple as an OpenCV scalar."""
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]), 0.0)


def _fill(dst: np.ndarray, value, mask: np.ndarray) -> None:
    """``dst[mask != 0] = value`` in place (``dst`` may be a view); OpenCV's masked
    ops are much faster than numpy's boolean assignment."""
    if dst.shape[0] * dst.shape[1] <= 4:  # OpenCV would take such a tiny array for a scalar
        dst[mask.astype(bool)] = value[:3] if dst.ndim == 3 else value
        return
    zero = (0.0, 0.0, 0.0, 0.0) if dst.ndim == 3 else 0
    cv2.bitwise_and(dst, zero, dst=dst, mask=mask)
    cv2.add(dst, value, dst=dst, mask=mask)


def _face_texture(kind: int, axis: int, sign: float, rows: np.ndarray, centre: np.ndarray, half: np.ndarray,
                  k_mat: np.ndarray, crop: tuple) -> np.ndarray:
    """The overlay pattern of one face mapped into an image crop (a planar homography).

    Args:
        kind: 1 window grid (vertical facade faces), 2 stripes (barrier sides).
        axis / sign: the face (local axis and side); rows: ``(3, 3)`` local axes in
            camera coordinates; centre: ``(3,)`` cuboid centre, camera frame;
            half: ``(3,)`` half extents; k_mat: intrinsics for OpenCV's pixel grid;
            crop: ``(u0, v0, u1, v1)`` pixel rectangle.

    Returns:
        ``(v1 - v0, u1 - u0)`` uint8 mask, 255 where the overlay applies.
    """
    u0, v0, u1, v1 = crop
    along = 1 - axis if kind == 1 else 0  # the face's horizontal axis
    # face point at the texture origin (min corner in "along" and z), camera frame
    p0 = centre + sign * half[axis] * rows[axis] - half[along] * rows[along] - half[2] * rows[2]
    pattern = _pattern(kind, float(2 * half[along]), float(2 * half[2]))
    shift = np.array([[1.0, 0.0, -u0], [0.0, 1.0, -v0], [0.0, 0.0, 1.0]])
    scale = np.diag([1.0 / _TEX_PPM, 1.0 / _TEX_PPM, 1.0])
    hom = shift @ k_mat @ np.stack([rows[along], rows[2], p0], 1) @ scale
    return cv2.warpPerspective(pattern, hom, (u1 - u0, v1 - v0), flags=cv2.INTER_NEAREST,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)

_TEX_PPM = 8.0  # texture pixels per metre


@lru_cache(maxsize=256)
def _pattern(kind: int, width_m: float, height_m: float) -> np.ndarray:
    """Overlay mask texture (uint8, 255 = overlay) of a face ``width_m`` x ``height_m``.

    Row index grows with height (metres above the face bottom), column with
    the face's horizontal coordinate. kind 1: window grid (none on the ground
    floor); kind 2: 0.5 m stripes.
    """
    nw, nh = max(int(np.ceil(width_m * _TEX_PPM)), 1), max(int(np.ceil(height_m * _TEX_PPM)), 1)
    a = (np.arange(nw) + 0.5) / _TEX_PPM
    z = (np.arange(nh) + 0.5) / _TEX_PPM
    if kind == 1:
        fa, fz = np.mod(a, 3.0), np.mod(z, 3.2)
        cols = (fa > 0.9) & (fa < 2.4)
        rows = (fz > 1.0) & (fz < 2.6) & (z > 3.0)
        mask = rows[:, None] & cols[None, :]
    else:
        mask = np.broadcast_to((np.floor(a * 2.0).astype(int) & 1) == 1, (nh, nw))
    return np.ascontiguousarray(mask.astype(np.uint8) * 255)
