"""Prompts from what nuScenes already knows: annotated 3D boxes and the HD map.

For one camera image (a ``sample_data`` token) :class:`PromptExtractor` gives

* one :class:`ObjectPrompt` per foreground annotation: the devkit's
  ``get_sample_data`` puts every box in the camera frame, ``Box.corners``
  gives its corners, the part in front of the near plane is projected with
  ``view_points`` and its convex hull clipped to the image (the clip-then-hull
  of the devkit's ``export_2d_annotations_as_json``); the hull's bounds are
  the 2D box prompt;
* one per traffic light of the map's ``traffic_light`` layer (a pole-and-
  housing box standing at the light);
* the road: the map's drivable area on the ground plane, projected into the
  camera the way ``NuScenesMapExplorer.render_map_in_image`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
from nuscenes.utils.data_classes import Box
from nuscenes.utils.geometry_utils import BoxVisibility
from pyquaternion import Quaternion
from shapely.geometry import Polygon
from shapely.geometry import box as shapely_box
from shapely.strtree import STRtree

from ._geometry import (
    NEAR_PLANE,
    CameraModel,
    clip_box_to_near_plane,
    hull_in_image,
    project_ground_polygons,
    visible_ground_region,
)
from .classes import FGClasses

_ROAD_TILE = 20.0  # m; road polygons are cropped per tile of this size


@dataclass
class ObjectPrompt:
    """One object to segment in one image.

    Attributes:
        class_id: foreground class id (pixel value).
        polygon: ``(K, 2)`` convex hull of the projected box, clipped to the image (pixels).
        box: ``(4,)`` prompt box ``x0, y0, x1, y1`` (pixels) = bounds of ``polygon``.
        depth: distance from the camera to the box centre (m); nearer objects win.
        source: ``'annotation'`` or ``'traffic_light'``.
        token: sample_annotation token or map record token.
        category: nuScenes category name (``'traffic_light'`` for map lights).
    """

    class_id: int
    polygon: np.ndarray
    box: np.ndarray
    depth: float
    source: str
    token: str
    category: str


@dataclass
class ImagePrompts:
    """Everything known about one camera image before segmentation.

    Attributes:
        sample_data_token, sample_token, camera: ids of the image.
        filename: image path relative to the dataroot (``samples/CAM_X/NAME.jpg``).
        width, height: image size (pixels).
        camera_model: calibration and ego pose of the image.
        objects: object prompts (any order).
        road: projected road polygons, each ``[exterior, hole, ...]`` rings of ``(K, 2)`` pixels.
        road_class_id: pixel value of the road (0: no road prompt).
        timestamp: image timestamp (microseconds).
    """

    sample_data_token: str
    sample_token: str
    camera: str
    filename: str
    width: int
    height: int
    camera_model: CameraModel
    objects: List[ObjectPrompt] = field(default_factory=list)
    road: List[List[np.ndarray]] = field(default_factory=list)
    road_class_id: int = 0
    timestamp: int = 0


@dataclass
class _MapCache:
    """Per-location map geometry, extracted once."""

    road_polys: List[Polygon]
    road_tree: Optional[STRtree]
    light_tokens: List[str]
    light_xy: np.ndarray  # (L, 2) global
    light_yaw: np.ndarray  # (L,)
    light_height: np.ndarray  # (L,) box height (m)
    light_parts: List[
        List[Tuple[np.ndarray, np.ndarray]]
    ]  # per light: ((3, 8) global corners, (3, 1) centre)


def _light_geometry(nusc_map, record: Mapping, default_height: float) -> Tuple[float, float, float, float]:
    """``(x, y, yaw, height)`` of a map traffic light record.

    Position: the record's ``pose`` (``tx, ty``) when present, else the first
    node of its line; yaw: along its line (the direction it points), else the
    pose's ``rz``. Height: the pose's ``tz`` when it is above ground, else
    ``default_height``, never lower than the housing at ``tz``.
    """
    pose = record.get("pose") or {}
    line = nusc_map.extract_line(record["line_token"]) if record.get("line_token") else None
    xs, ys = (list(line.xy[0]), list(line.xy[1])) if line is not None and not line.is_empty else ([], [])
    if "tx" in pose and "ty" in pose:
        x, y = float(pose["tx"]), float(pose["ty"])
    elif xs:
        x, y = float(xs[0]), float(ys[0])
    else:
        raise ValueError(f"traffic light {record.get('token')} has neither pose nor line")
    if len(xs) >= 2:
        yaw = float(np.arctan2(ys[1] - ys[0], xs[1] - xs[0]))
    else:
        yaw = float(pose.get("rz", 0.0))
    tz = float(pose.get("tz", 0.0) or 0.0)
    height = default_height if tz <= 0 else max(default_height, tz + 0.5)
    return x, y, yaw, height


class PromptExtractor:
    """Builds :class:`ImagePrompts` for camera images of a nuScenes dataroot.

    Args:
        nusc: a loaded ``nuscenes.NuScenes``.
        maps: location name -> ``NuScenesMap`` for every log location used.
        classes: the foreground class definition.
        near: near-plane depth (m).
    """

    def __init__(
        self, nusc, maps: Mapping[str, object], classes: FGClasses, near: float = NEAR_PLANE
    ) -> None:
        self.nusc = nusc
        self.maps = dict(maps)
        self.classes = classes
        self.near = near
        self._map_cache: Dict[str, _MapCache] = {}
        self._location_of_scene: Dict[str, str] = {}
        self._road_crops: Dict[Tuple[str, Tuple[int, int]], List[Polygon]] = {}

    # ------------------------------------------------------------------ map
    def _cache(self, location: str) -> _MapCache:
        if location in self._map_cache:
            return self._map_cache[location]
        nmap = self.maps[location]
        polys: List[Polygon] = []
        for layer in self.classes.road.get("layers", []) if self.classes.road else []:
            for record in getattr(nmap, layer):
                tokens = record["polygon_tokens"] if layer == "drivable_area" else [record["polygon_token"]]
                for tok in tokens:
                    poly = nmap.extract_polygon(tok)
                    if not poly.is_valid:
                        poly = poly.buffer(0)
                    if not poly.is_empty:
                        polys.append(poly)
        tokens, xy, yaw, height = [], [], [], []
        if self.classes.traffic_light:
            for record in getattr(nmap, "traffic_light", []):
                x, y, a, h = _light_geometry(nmap, record, self.classes.traffic_light["height"])
                tokens.append(record["token"])
                xy.append((x, y))
                yaw.append(a)
                height.append(h)
        parts_of: List[List[Tuple[np.ndarray, np.ndarray]]] = []
        for (x, y), a, h in zip(xy, yaw, height):
            parts = []
            for part in self.classes.traffic_light.get("parts", []):
                (width, length), (z0, z1) = part["size_wl"], part["z"]
                box = Box(
                    [x, y, h * (z0 + z1) / 2.0],
                    [width, length, h * (z1 - z0)],
                    Quaternion(axis=[0, 0, 1], angle=a),
                )
                parts.append((box.corners(), box.center.reshape(3, 1)))
            parts_of.append(parts)
        cache = _MapCache(
            road_polys=polys,
            road_tree=STRtree(polys) if polys else None,
            light_tokens=tokens,
            light_xy=np.asarray(xy, dtype=np.float64).reshape(-1, 2),
            light_yaw=np.asarray(yaw, dtype=np.float64),
            light_height=np.asarray(height, dtype=np.float64),
            light_parts=parts_of,
        )
        self._map_cache[location] = cache
        return cache

    def location(self, sample_token: str) -> str:
        """Map location (log location) of a sample."""
        scene_token = self.nusc.get("sample", sample_token)["scene_token"]
        if scene_token not in self._location_of_scene:
            scene = self.nusc.get("scene", scene_token)
            self._location_of_scene[scene_token] = self.nusc.get("log", scene["log_token"])["location"]
        return self._location_of_scene[scene_token]

    # --------------------------------------------------------------- camera
    def camera_model(self, sd_record: Mapping) -> CameraModel:
        """Calibration and ego pose of a camera ``sample_data`` record."""
        cs = self.nusc.get("calibrated_sensor", sd_record["calibrated_sensor_token"])
        pose = self.nusc.get("ego_pose", sd_record["ego_pose_token"])
        return CameraModel(
            intrinsic=np.asarray(cs["camera_intrinsic"], dtype=np.float64),
            width=int(sd_record["width"]),
            height=int(sd_record["height"]),
            ego_translation=np.asarray(pose["translation"], dtype=np.float64),
            ego_rotation=Quaternion(pose["rotation"]),
            cam_translation=np.asarray(cs["translation"], dtype=np.float64),
            cam_rotation=Quaternion(cs["rotation"]),
        )

    def _corners_prompt(
        self,
        corners: np.ndarray,
        centre: np.ndarray,
        cam: CameraModel,
        class_id: int,
        source: str,
        token: str,
        category: str,
    ) -> Optional[ObjectPrompt]:
        """Clip-then-hull prompt of camera-frame ``(3, 8)`` box corners, or None if it misses the image."""
        pts = clip_box_to_near_plane(corners, self.near)
        if pts.shape[1] < 3:
            return None
        poly = hull_in_image(cam.project(pts), cam.width, cam.height)
        if poly is None:
            return None
        bounds = np.array([poly[:, 0].min(), poly[:, 1].min(), poly[:, 0].max(), poly[:, 1].max()])
        return ObjectPrompt(class_id, poly, bounds, float(np.linalg.norm(centre)), source, token, category)

    def _object_prompt(
        self, box: Box, cam: CameraModel, class_id: int, source: str, category: str
    ) -> Optional[ObjectPrompt]:
        """Prompt of a camera-frame devkit ``Box`` (its ``corners()``), or None if it misses the image."""
        return self._corners_prompt(
            box.corners(), box.center, cam, class_id, source, box.token or "", category
        )

    def _annotation_prompts(self, sd_token: str, cam: CameraModel) -> List[ObjectPrompt]:
        _, boxes, _ = self.nusc.get_sample_data(sd_token, box_vis_level=BoxVisibility.NONE)
        out = []
        for box in boxes:
            cid = self.classes.category_to_class(box.name)
            if cid is None:
                continue
            if self.classes.min_visibility > 1:
                vis = self.nusc.get("sample_annotation", box.token).get("visibility_token", "")
                if str(vis).isdigit() and int(vis) < self.classes.min_visibility:
                    continue
            prompt = self._object_prompt(box, cam, cid, "annotation", box.name)
            if prompt is not None:
                out.append(prompt)
        return out

    def _light_prompts(self, cache: _MapCache, cam: CameraModel) -> List[ObjectPrompt]:
        spec = self.classes.traffic_light
        if not spec or len(cache.light_tokens) == 0:
            return []
        d = np.linalg.norm(cache.light_xy - cam.ego_translation[:2], axis=1)
        a, b, c = cam.depth_plane_on_ground()
        depth = cache.light_xy @ np.array([a, b]) + c  # depth of the light's foot
        reach = max(max(p["size_wl"]) for p in spec["parts"])
        out = []
        for i in np.nonzero((d <= spec["max_range"]) & (depth > -reach))[0]:
            for corners, centre in cache.light_parts[i]:
                # global -> ego -> camera, the steps get_sample_data applies to boxes
                prompt = self._corners_prompt(
                    cam.global_to_camera(corners),
                    cam.global_to_camera(centre),
                    cam,
                    spec["class_id"],
                    "traffic_light",
                    cache.light_tokens[i],
                    "traffic_light",
                )
                if prompt is not None:
                    out.append(prompt)
        return out

    def _road_near(self, cache: _MapCache, location: str, xy: np.ndarray) -> List[Polygon]:
        """Road polygons cropped to a square around a tile near ``xy`` (cached: real maps hold a few
        huge polygons, and consecutive images share a tile)."""
        cell = (int(np.floor(xy[0] / _ROAD_TILE)), int(np.floor(xy[1] / _ROAD_TILE)))
        key = (location, cell)
        if key not in self._road_crops:
            half = self.classes.road["max_range"] + _ROAD_TILE
            cx, cy = (cell[0] + 0.5) * _ROAD_TILE, (cell[1] + 0.5) * _ROAD_TILE
            square = shapely_box(cx - half, cy - half, cx + half, cy + half)
            idx = sorted(int(i) for i in cache.road_tree.query(square))
            crops = [cache.road_polys[i].intersection(square) for i in idx]
            if len(self._road_crops) >= 16:
                self._road_crops.pop(next(iter(self._road_crops)))
            self._road_crops[key] = [c for c in crops if not c.is_empty]
        return self._road_crops[key]

    def _road(self, cache: _MapCache, location: str, cam: CameraModel) -> List[List[np.ndarray]]:
        if not self.classes.road or cache.road_tree is None:
            return []
        region = visible_ground_region(cam, self.classes.road["max_range"], self.near)
        if region is None:
            return []
        return project_ground_polygons(self._road_near(cache, location, cam.ego_translation), cam, region)

    def __call__(self, sd_token: str) -> ImagePrompts:
        """Prompts of the camera image ``sd_token`` (a camera ``sample_data`` token)."""
        sd = self.nusc.get("sample_data", sd_token)
        cam = self.camera_model(sd)
        sensor = self.nusc.get(
            "sensor", self.nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])["sensor_token"]
        )
        location = self.location(sd["sample_token"])
        cache = self._cache(location) if location in self.maps else None
        objects = self._annotation_prompts(sd_token, cam)
        road: List[List[np.ndarray]] = []
        if cache is not None:
            objects += self._light_prompts(cache, cam)
            road = self._road(cache, location, cam)
        return ImagePrompts(
            sample_data_token=sd_token,
            sample_token=sd["sample_token"],
            camera=sensor["channel"],
            filename=sd["filename"],
            width=cam.width,
            height=cam.height,
            camera_model=cam,
            objects=objects,
            road=road,
            road_class_id=int(self.classes.road.get("class_id", 0)) if self.classes.road else 0,
            timestamp=int(sd["timestamp"]),
        )
