"""``render_camera``: one pinhole camera image of the synthetic world.

Pipeline per image (all numpy, vectorised):

1. sky gradient (cached per camera and lighting);
2. ground: cached per-camera ray/ground-plane hits, rotated by the ego pose,
   classed by ``town.ground`` and shaded (``ground.py``);
3. sun shadows of nearby objects darken the ground (``shadows.py``);
4. objects: culled against the view frustum and a distance limit, expanded
   into part cuboids (``shapes.py``) and z-buffered face by face (``raster.py``);
5. screen-space texture/sensor noise and a per-image exposure gain.

Semantic ids, depth and instance ids come from the same z-buffer as the
colours, so they agree pixel for pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from fastdrive.sim.render.ground import CameraGeometry, camera_geometry, draw_ground
from fastdrive.sim.render.raster import NEAR, Buffers, rasterize_cuboids
from fastdrive.sim.render.shading import parse_lighting, screen_noise
from fastdrive.sim.render.shadows import MAX_SHADOW_DISTANCE, draw_shadows
from fastdrive.sim.render.shapes import build_cuboids
from fastdrive.sim.rig import CameraSpec
from fastdrive.sim.types import SEMANTIC_ID, EgoState, Town, WorldObject

MAX_OBJECT_DISTANCE = 100.0  # m from the camera to the object's bounding sphere
MAX_BUILDING_DISTANCE = 160.0
LOD_PIXELS = 6.0  # objects projected smaller than this (px tall) are drawn as their box
SKY_ID = SEMANTIC_ID["sky"]
VEGETATION_ID = SEMANTIC_ID["vegetation"]


@dataclass
class CameraImage:
    """One rendered camera image.

    Attributes:
        rgb: ``(H, W, 3)`` uint8.
        semantic: ``(H, W)`` uint8 ``SEMANTIC_ID`` per pixel.
        depth: ``(H, W)`` float32 metres along the optical axis, ``np.inf`` for sky.
        instance: ``(H, W)`` int32, -1 where no object, else the index of the
            object in ``list(objects) + town.statics``.
    """

    rgb: np.ndarray
    semantic: np.ndarray
    depth: np.ndarray
    instance: np.ndarray


class _StaticSpheres:
    """Bounding spheres of ``town.statics``, cached for the last town seen."""

    town: Optional[Town] = None
    count: int = -1
    center: np.ndarray = np.zeros((0, 3))
    radius: np.ndarray = np.zeros(0)
    building: np.ndarray = np.zeros(0, bool)
    height: np.ndarray = np.zeros(0)
    light_spec: Optional[Dict[int, str]] = None  # static index -> TrafficLightSpec token


_STATIC = _StaticSpheres()
LIGHT_STATE_RGB: Dict[str, Tuple[int, int, int]] = {
    "red": (240, 40, 30),
    "yellow": (250, 190, 30),
    "green": (40, 230, 90),
}


def _spheres(objs: Sequence[WorldObject]) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not objs:
        return np.zeros((0, 3)), np.zeros(0), np.zeros(0, bool), np.zeros(0)
    center = np.array([o.center for o in objs], dtype=np.float64).reshape(-1, 3)
    size = np.array([o.size for o in objs], dtype=np.float64).reshape(-1, 3)
    building = np.array([o.kind == "building" for o in objs], bool)
    return center, 0.5 * np.linalg.norm(size, axis=1), building, size[:, 2]


def _static_spheres(town: Town) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if _STATIC.town is not town or _STATIC.count != len(town.statics):
        _STATIC.center, _STATIC.radius, _STATIC.building, _STATIC.height = _spheres(town.statics)
        _STATIC.town, _STATIC.count = town, len(town.statics)
        _STATIC.light_spec = None
    return _STATIC.center, _STATIC.radius, _STATIC.building, _STATIC.height


def _light_spec_tokens(town: Town) -> Dict[int, str]:
    """Static traffic-light objects matched to ``town.traffic_lights`` (same xy within 1 m)."""
    _static_spheres(town)
    if _STATIC.light_spec is None:
        out: Dict[int, str] = {}
        specs = town.traffic_lights
        if specs:
            pos = np.array([np.asarray(li.position, float)[:2] for li in specs])
            for i, obj in enumerate(town.statics):
                if obj.kind == "traffic_light":
                    d = np.linalg.norm(pos - np.asarray(obj.center, float)[:2], axis=1)
                    if d.min() < 1.0:
                        out[i] = specs[int(np.argmin(d))].token
        _STATIC.light_spec = out
    return _STATIC.light_spec


def _with_light_state(town: Town, index: int, lights: Optional[Mapping[str, str]]) -> WorldObject:
    """``town.statics[index]``, recoloured by its traffic-light state when one is known."""
    obj = town.statics[index]
    if not lights or obj.kind != "traffic_light":
        return obj
    state = lights.get(_light_spec_tokens(town).get(index, ""), None)
    rgb = LIGHT_STATE_RGB.get(state) if state else None
    return obj if rgb is None else replace(obj, color=rgb)


def camera_pose(geo: CameraGeometry, ego: EgoState) -> Tuple[np.ndarray, np.ndarray]:
    """Camera -> global rotation ``(3, 3)`` and camera centre ``(3,)`` (global, m)."""
    c, s = np.cos(ego.yaw), np.sin(ego.yaw)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return rz @ geo.rot, rz @ geo.trans + np.array([ego.x, ego.y, 0.0])


def visible_objects(
    geo: CameraGeometry,
    cam_rot: np.ndarray,
    cam_pos: np.ndarray,
    center: np.ndarray,
    radius: np.ndarray,
    building: np.ndarray,
    height: np.ndarray,
) -> Tuple[np.ndarray, np.ndarray]:
    """Frustum and distance culling of bounding spheres.

    Args:
        center: ``(N, 3)`` global sphere centres; radius: ``(N,)``;
        building: ``(N,)`` bool (buildings use a longer distance limit);
        height: ``(N,)`` box heights (for the level of detail).

    Returns:
        indices ``(K,)`` of the spheres that may be visible and ``lod``
        ``(K,)`` bool, True where the object is only a few pixels tall.
    """
    if center.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    pc = (center - cam_pos) @ cam_rot  # (N, 3) camera frame
    x, y, z = pc[:, 0], pc[:, 1], pc[:, 2]
    w, h = geo.width, geo.height
    planes = np.array(
        [[geo.fx, 0.0, geo.cx], [-geo.fx, 0.0, w - geo.cx], [0.0, geo.fy, geo.cy], [0.0, -geo.fy, h - geo.cy]]
    )
    planes /= np.linalg.norm(planes, axis=1, keepdims=True)
    inside = np.all(pc @ planes.T >= -radius[:, None], axis=1) & (z >= NEAR - radius)
    limit = np.where(building, MAX_BUILDING_DISTANCE, MAX_OBJECT_DISTANCE)
    inside &= np.sqrt(x * x + y * y + z * z) - radius <= limit
    idx = np.nonzero(inside)[0]
    lod = geo.fy * height[idx] / np.maximum(z[idx], NEAR) < LOD_PIXELS
    lod &= z[idx] > radius[idx]
    return idx, lod


def _near(center: np.ndarray, radius: np.ndarray, cam_pos: np.ndarray) -> np.ndarray:
    """Indices of bounding spheres within ``MAX_SHADOW_DISTANCE`` of the camera (horizontally)."""
    if center.shape[0] == 0:
        return np.zeros(0, np.int64)
    return np.nonzero(np.linalg.norm(center[:, :2] - cam_pos[:2], axis=1) - radius < MAX_SHADOW_DISTANCE)[0]


def render_camera(
    town: Town,
    objects: Sequence[WorldObject],
    ego: EgoState,
    camera: CameraSpec,
    lighting: Optional[Mapping] = None,
    noise_seed: int = 0,
    lights: Optional[Mapping[str, str]] = None,
) -> CameraImage:
    """Render one camera of the rig.

    Args:
        town: the static world (ground raster and ``statics``).
        objects: the dynamic objects of the frame (global frame).
        ego: the ego pose the rig is mounted on.
        camera: the camera (intrinsics, sensor -> ego extrinsics).
        lighting: ``Frame.lighting`` (``sun_dir``, ``ambient``, ``sky_top``,
            ``sky_horizon``, optional ``tint``); None for the default.
        noise_seed: seed of the screen-space texture/sensor noise (the
            world-space ground texture follows ``town.seed``).
        lights: optional ``Frame.lights`` (TrafficLightSpec token -> 'red' |
            'yellow' | 'green'); traffic-light objects at a spec's position
            show that state on their lamp panel. Without it lamps keep the
            object's colour.

    Returns:
        The :class:`CameraImage` (``instance`` indexes ``list(objects) + town.statics``).
    """
    geo = camera_geometry(camera)
    light = parse_lighting(lighting)
    h, w = geo.height, geo.width
    sky = geo.lit(light)[0]
    buf = Buffers(
        rgb=sky.copy(),
        semantic=np.zeros((h, w), np.uint8),
        depth=np.full((h, w), np.inf, np.float32),
        instance=np.full((h, w), -1, np.int32),
    )
    draw_ground(geo, town.ground, ego.x, ego.y, ego.yaw, light, int(town.seed),
                buf.rgb, buf.semantic, buf.depth)

    cam_rot, cam_pos = camera_pose(geo, ego)
    objects = list(objects)
    d_center, d_radius, d_building, d_height = _spheres(objects)
    s_center, s_radius, s_building, s_height = _static_spheres(town)
    idx_d, lod_d = visible_objects(geo, cam_rot, cam_pos, d_center, d_radius, d_building, d_height)
    idx_s, lod_s = visible_objects(geo, cam_rot, cam_pos, s_center, s_radius, s_building, s_height)
    chosen: List[WorldObject] = [objects[i] for i in idx_d]
    chosen += [_with_light_state(town, int(i), lights) for i in idx_s]
    ids = np.concatenate([idx_d, idx_s + len(objects)]).astype(np.int32)
    cub = build_cuboids(chosen, ids, np.concatenate([lod_d, lod_s]))
    # shadows: every object near the camera casts one, seen or not
    near_d = _near(d_center, d_radius, cam_pos)
    near_s = _near(s_center, s_radius, cam_pos)
    casters = build_cuboids([objects[i] for i in near_d] + [town.statics[i] for i in near_s],
                            np.zeros(len(near_d) + len(near_s), np.int32))
    draw_shadows(casters, geo, cam_rot, cam_pos, light, buf)
    rasterize_cuboids(cub, geo, cam_rot, cam_pos, light, buf)
    _apply_texture_noise(buf, int(noise_seed))
    return CameraImage(rgb=buf.rgb, semantic=buf.semantic, depth=buf.depth, instance=buf.instance)


def _apply_texture_noise(buf: Buffers, noise_seed: int) -> None:
    """Screen-space texture/sensor noise on everything but the sky (stronger on
    foliage), then a per-image exposure gain in [0.94, 1.06] drawn from ``noise_seed``."""
    h, w = buf.semantic.shape
    noise = screen_noise(noise_seed % 4, h, w, 0.07)
    leaves = screen_noise(noise_seed % 4 + 17, h, w, 0.30)
    solid = cv2.compare(buf.semantic, SKY_ID, cv2.CMP_NE)
    cv2.copyTo(cv2.multiply(buf.rgb, noise, scale=1.0 / 128), solid, buf.rgb)
    foliage = cv2.compare(buf.semantic, VEGETATION_ID, cv2.CMP_EQ)
    cv2.copyTo(cv2.multiply(buf.rgb, leaves, scale=1.0 / 128), foliage, buf.rgb)
    gain = 1.0 + 0.06 * (2.0 * np.random.default_rng(noise_seed & 0xFFFFFFFF).random() - 1.0)
    cv2.convertScaleAbs(buf.rgb, dst=buf.rgb, alpha=gain)
