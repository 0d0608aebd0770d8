"""Ray-cast ``LIDAR_TOP`` point clouds of the synthetic world.

A spinning lidar (``LidarSpec``: channels x azimuth steps) is cast against
the ground plane (z = 0) and the part cuboids of every object near enough
(the same geometry the cameras see, from ``render.shapes``). The output is
the nuScenes ``.pcd.bin`` layout: ``(N, 5)`` float32 ``x, y, z, intensity,
ring`` in the lidar sensor frame (x right, y forward, z up).

Each cuboid is only tested against the rays of its :func:`ray_window`, the
rings and azimuth columns it can subtend. The window is computed in the
lidar frame: the nuScenes ``LIDAR_TOP`` is tilted ~2.7 deg on the ego, so in
the global frame a column's azimuth changes by up to ~2 deg (6 columns) from
ring to ring, and a window taken from one ring misses cones and pedestrians.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from fastdrive.sim.render.shapes import build_cuboids
from fastdrive.sim.rig import LidarSpec, sensor_pose_global
from fastdrive.sim.types import SEMANTIC_CLASSES, SEMANTIC_ID, EgoState, Town, WorldObject

MIN_RANGE = 1.0  # m; closer returns are dropped (the ego's own roof)
_ANGLE_EPS = 1e-9  # rad; widens ray windows against rounding

# Mean return intensity (0..255) per semantic class.
_INTENSITY = {
    "building": 25.0, "vegetation": 12.0, "terrain": 6.0, "sidewalk": 20.0, "road": 10.0,
    "lane_marking": 70.0, "crossing": 70.0, "car": 35.0, "truck": 30.0, "bus": 30.0,
    "pedestrian": 15.0, "cyclist": 20.0, "barrier": 45.0, "traffic_cone": 90.0,
    "traffic_sign": 120.0, "traffic_light": 40.0,
}
INTENSITY_BY_CLASS = np.array([_INTENSITY.get(c, 0.0) for c in SEMANTIC_CLASSES], dtype=np.float64)


def ring_elevations(lidar: LidarSpec) -> np.ndarray:
    """``(channels,)`` ascending beam elevations (rad) in the lidar frame; ring 0 is the lowest."""
    return np.radians(np.linspace(lidar.elevation_deg[0], lidar.elevation_deg[1], lidar.channels))


def lidar_directions(lidar: LidarSpec) -> np.ndarray:
    """``(channels, steps, 3)`` unit ray directions in the lidar frame.

    Ring 0 is the lowest beam; azimuth 0 is the lidar's +x axis, growing
    counter-clockwise.
    """
    el = ring_elevations(lidar)
    az = 2.0 * np.pi * np.arange(lidar.azimuth_steps) / lidar.azimuth_steps
    ce, se = np.cos(el)[:, None], np.sin(el)[:, None]
    z = np.broadcast_to(se, (el.size, az.size))
    return np.stack([ce * np.cos(az)[None], ce * np.sin(az)[None], z], -1)


def ray_window(corners_l: np.ndarray, elevation: np.ndarray, steps: int) -> Tuple[slice, np.ndarray]:
    """The rays of a sweep that may hit a convex body, as rings x azimuth columns.

    Works in the lidar frame, where ray ``(ring c, column k)`` has elevation
    ``elevation[c]`` and azimuth ``2 pi k / steps`` exactly, whatever the
    sensor's tilt on the ego. Both bounds are conservative: every ray that
    meets the body is inside the window.

    Args:
        corners_l: ``(P, 3)`` corners of the body in the lidar frame (m).
        elevation: ``(C,)`` ascending ring elevations (rad).
        steps: azimuth steps per revolution.

    Returns:
        ``(rings, cols)``: a slice of ring indices (possibly empty) and the
        ``(K,)`` int64 column indices (all columns when the sensor lies
        within the body's horizontal bounding circle).
    """
    xy, z = corners_l[:, :2], corners_l[:, 2]
    centre = xy.mean(axis=0)
    radius = float(np.max(np.linalg.norm(xy - centre, axis=1)))
    dist = float(np.linalg.norm(centre))
    # horizontal distance of any body point lies in [rho_min, rho_max]
    rho_min, rho_max = max(dist - radius, 0.0), float(np.max(np.linalg.norm(xy, axis=1)))
    z_lo, z_hi = float(z.min()), float(z.max())
    el_lo = np.arctan2(z_lo, rho_max if z_lo >= 0.0 else rho_min)
    el_hi = np.arctan2(z_hi, rho_min if z_hi >= 0.0 else rho_max)
    rings = slice(
        int(np.searchsorted(elevation, el_lo - _ANGLE_EPS, side="left")),
        int(np.searchsorted(elevation, el_hi + _ANGLE_EPS, side="right")),
    )
    if dist <= radius + 1e-6:
        return rings, np.arange(steps)
    a_c = np.arctan2(centre[1], centre[0])
    delta = np.angle(np.exp(1j * (np.arctan2(xy[:, 1], xy[:, 0]) - a_c)))
    step = 2.0 * np.pi / steps
    k0 = int(np.floor((a_c + delta.min() - _ANGLE_EPS) / step))
    k1 = int(np.ceil((a_c + delta.max() + _ANGLE_EPS) / step))
    return rings, np.arange(k0, k1 + 1) % steps


def raycast_lidar(
    town: Town,
    objects: Sequence[WorldObject],
    ego: EgoState,
    lidar: LidarSpec,
    seed: int = 0,
) -> np.ndarray:
    """One lidar sweep.

    Args:
        town: the static world (ground raster for intensities, ``statics``).
        objects: the dynamic objects of the frame (global frame).
        ego: ego pose carrying the lidar.
        lidar: the sensor (mounting, channels, azimuth steps, range).
        seed: seed of the range and intensity noise.

    Returns:
        ``(N, 5)`` float32 points ``x, y, z, intensity, ring`` in the lidar
        frame, N <= channels x azimuth_steps (rays that hit nothing within
        ``max_range`` return no point).
    """
    rng = np.random.default_rng(int(seed) & 0xFFFFFFFF)
    pose = sensor_pose_global(lidar.translation, lidar.rotation, ego)  # lidar -> global
    rot, origin = pose[:3, :3], pose[:3, 3]
    d_l = lidar_directions(lidar)  # (C, S, 3) lidar frame
    d_g = d_l @ rot.T  # global directions
    n_ch, steps = d_g.shape[:2]
    t_best = np.full((n_ch, steps), np.inf)
    cls_best = np.full((n_ch, steps), SEMANTIC_ID["terrain"], dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ground = np.where(d_g[..., 2] < -1e-9, -origin[2] / d_g[..., 2], np.inf)
    t_best[:] = t_ground
    ground_hit = np.isfinite(t_ground)

    all_objs = list(objects) + list(town.statics)
    if all_objs:
        centers = np.array([o.center for o in all_objs], dtype=float).reshape(-1, 3)
        radii = 0.5 * np.linalg.norm(np.array([o.size for o in all_objs], dtype=float).reshape(-1, 3), axis=1)
        near = np.nonzero(np.linalg.norm(centers[:, :2] - origin[:2], axis=1) - radii <= lidar.max_range)[0]
        cub = build_cuboids([all_objs[i] for i in near], near.astype(np.int32))
        corners_l = (cub.corners() - origin) @ rot  # (M, 8, 3) lidar frame
        elevation = ring_elevations(lidar)
        for m in range(len(cub)):
            rings, cols = ray_window(corners_l[m], elevation, steps)
            if rings.start >= rings.stop:
                continue
            c, s = np.cos(cub.yaw[m]), np.sin(cub.yaw[m])
            rz_t = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # global -> cuboid axes
            o_loc = rz_t @ (origin - cub.center[m])
            half = cub.half[m]
            d_loc = d_g[rings][:, cols] @ rz_t.T  # (R, K, 3)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                inv = np.clip(1.0 / d_loc, -1e12, 1e12)
                a = np.abs(inv) * half
                b = inv * o_loc
                t_in = np.max(-a - b, axis=-1)
                t_out = np.min(a - b, axis=-1)
            hit = (t_in <= t_out) & (t_in > 0) & (t_in < t_best[rings][:, cols])
            if hit.any():
                ci, ki = np.nonzero(hit)
                ci = ci + rings.start
                t_best[ci, cols[ki]] = t_in[hit]
                cls_best[ci, cols[ki]] = cub.semantic[m]
                ground_hit[ci, cols[ki]] = False

    keep = np.isfinite(t_best) & (t_best <= lidar.max_range) & (t_best >= MIN_RANGE)
    ci, si = np.nonzero(keep)
    t = t_best[ci, si]
    g = ground_hit[ci, si]
    cls = cls_best[ci, si]
    if g.any():
        pts_g = origin[:2] + t[g, None] * d_g[ci[g], si[g], :2]
        cls[g] = town.ground.lookup(pts_g)
    t_noisy = t + rng.normal(0.0, lidar.range_noise, size=t.shape)
    xyz = t_noisy[:, None] * d_l[ci, si]
    intensity = INTENSITY_BY_CLASS[cls] * rng.uniform(0.7, 1.3, size=t.shape)
    intensity *= np.clip(1.2 - t / (2.0 * lidar.max_range), 0.5, 1.2)
    out = np.empty((t.size, 5), np.float32)
    out[:, :3] = xyz
    out[:, 3] = np.clip(np.round(intensity), 0, 255)
    out[:, 4] = ci
    return out
