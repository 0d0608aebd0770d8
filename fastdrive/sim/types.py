"""Data model of the synthetic driving world.

This module is the contract between the parts of ``fastdrive.sim``:

* ``town.py`` / ``agents.py`` / ``ego.py`` / ``scenario.py`` *produce* a
  :class:`Town` and :class:`SceneLog` objects;
* ``renderer`` / ``lidar`` *consume* a :class:`Town`, the objects of one
  :class:`Frame` and an ego pose, and produce pixels and points;
* ``nuscenes_export`` / ``map_expansion`` write both out in nuScenes format.

Conventions (the nuScenes ones):

* global frame: x east, y north, z up, metres; the ground is the plane z = 0;
* yaw: radians, counter-clockwise from +x;
* ego frame: x forward, y left, z up, origin at the rear axle on the ground;
* boxes: ``center`` is the 3D box centre (z = height / 2 for objects on the
  ground), ``size`` is ``(width, length, height)`` exactly like
  ``nuscenes.utils.data_classes.Box.wlh``;
* timestamps: microseconds (int), keyframes at 2 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Tuple

import numpy as np

# --------------------------------------------------------------------------
# Semantic classes. The id is the pixel value in the semantic masks written
# beside the dataset (``fastdrive_gt/semantic``); ``FOREGROUND`` lists the ids
# that are foreground in ``fastdrive_gt/fg`` (FastDriveVLA's definition:
# humans, vehicles, road, traffic signs incl. lights, traffic barriers).
# --------------------------------------------------------------------------
SEMANTIC_CLASSES: Tuple[str, ...] = (
    "sky",  # 0
    "building",  # 1
    "vegetation",  # 2  trees, hedges
    "terrain",  # 3  grass / verge
    "sidewalk",  # 4
    "road",  # 5  drivable asphalt
    "lane_marking",  # 6  painted lines on the road
    "crossing",  # 7  zebra crossing paint
    "car",  # 8
    "truck",  # 9
    "bus",  # 10
    "pedestrian",  # 11
    "cyclist",  # 12 bicycle + rider
    "barrier",  # 13
    "traffic_cone",  # 14
    "traffic_sign",  # 15 sign plate + pole
    "traffic_light",  # 16 light housing + pole
)
SEMANTIC_ID: Dict[str, int] = {name: i for i, name in enumerate(SEMANTIC_CLASSES)}
FOREGROUND_CLASSES: Tuple[str, ...] = (
    "road",
    "lane_marking",
    "crossing",
    "car",
    "truck",
    "bus",
    "pedestrian",
    "cyclist",
    "barrier",
    "traffic_cone",
    "traffic_sign",
    "traffic_light",
)
FOREGROUND_IDS: Tuple[int, ...] = tuple(SEMANTIC_ID[c] for c in FOREGROUND_CLASSES)
#: foreground classes of the drivable surface and its paint (road tokens)
ROAD_CLASSES: Tuple[str, ...] = ("road", "lane_marking", "crossing")
#: every other foreground class: the objects (vehicles, people, cyclists, barriers, cones, signs, lights)
OBJECT_CLASSES: Tuple[str, ...] = tuple(c for c in FOREGROUND_CLASSES if c not in ROAD_CLASSES)

# Object kinds the renderer knows how to draw. Each object of the world has
# one of these kinds; ``OBJECT_KIND_TO_SEMANTIC`` gives its pixel class and
# ``OBJECT_KIND_TO_CATEGORY`` its nuScenes category (None: not annotated in
# nuScenes, e.g. buildings, trees, signs and lights).
ObjectKind = Literal[
    "car",
    "truck",
    "bus",
    "pedestrian",
    "cyclist",
    "barrier",
    "traffic_cone",
    "traffic_sign",
    "traffic_light",
    "building",
    "tree",
]
OBJECT_KIND_TO_SEMANTIC: Dict[str, str] = {
    "car": "car",
    "truck": "truck",
    "bus": "bus",
    "pedestrian": "pedestrian",
    "cyclist": "cyclist",
    "barrier": "barrier",
    "traffic_cone": "traffic_cone",
    "traffic_sign": "traffic_sign",
    "traffic_light": "traffic_light",
    "building": "building",
    "tree": "vegetation",
}
OBJECT_KIND_TO_CATEGORY: Dict[str, Optional[str]] = {
    "car": "vehicle.car",
    "truck": "vehicle.truck",
    "bus": "vehicle.bus.rigid",
    "pedestrian": "human.pedestrian.adult",
    "cyclist": "vehicle.bicycle",
    "barrier": "movable_object.barrier",
    "traffic_cone": "movable_object.trafficcone",
    "traffic_sign": None,
    "traffic_light": None,
    "building": None,
    "tree": None,
}

# The only location names nuscenes-devkit's NuScenesMap accepts.
LOCATIONS: Tuple[str, ...] = (
    "singapore-onenorth",
    "singapore-hollandvillage",
    "singapore-queenstown",
    "boston-seaport",
)

Command = Literal["left", "right", "straight"]
from ..constants import COMMANDS  # noqa: E402 (re-exported)


@dataclass
class Lane:
    """One directed lane (or intersection connector) of the road graph.

    Attributes:
        token: unique id (used as the map-expansion lane token).
        centerline: ``(P, 2)`` float array, global xy, in driving direction.
        width: lane width in metres.
        successors / predecessors: tokens of connected lanes.
        turn: for connectors inside an intersection, the manoeuvre it
            realises ('left' | 'right' | 'straight'); None on road lanes.
        speed_limit: m/s.
        road_id: index into ``Town.road_segments`` (-1 for connectors).
    """

    token: str
    centerline: np.ndarray
    width: float
    successors: List[str] = field(default_factory=list)
    predecessors: List[str] = field(default_factory=list)
    turn: Optional[Command] = None
    speed_limit: float = 10.0
    road_id: int = -1


@dataclass
class RoadSegment:
    """A drivable polygon: a stretch of road or an intersection.

    ``polygon`` is ``(K, 2)`` global xy, counter-clockwise, not closed.
    """

    token: str
    polygon: np.ndarray
    is_intersection: bool = False
    num_lanes: int = 2


@dataclass
class TrafficLightSpec:
    """A traffic light controlling one approach to an intersection.

    Attributes:
        token: unique id; ``Frame.lights`` maps it to 'red' | 'green'.
        position: ``(3,)`` global xyz of the light housing.
        heading: yaw (rad) the light faces (towards approaching traffic).
        lane_tokens: lanes whose traffic it controls.
        stop_line: ``(K, 2)`` polygon of the stop line in front of it.
    """

    token: str
    position: np.ndarray
    heading: float
    lane_tokens: List[str]
    stop_line: np.ndarray


@dataclass
class GroundRaster:
    """Top-down semantic raster of the ground, used by the renderer.

    ``classes[i, j]`` is the semantic id of the ground cell whose centre is
    at ``x = origin[0] + (j + 0.5) * resolution``,
    ``y = origin[1] + (i + 0.5) * resolution`` (row i grows with y).
    Only ground classes appear (terrain, sidewalk, road, lane_marking,
    crossing). ``shade`` is an optional ``(H, W)`` uint8 texture (asphalt
    wear, grass noise) the renderer modulates colours with.
    """

    classes: np.ndarray
    origin: Tuple[float, float]
    resolution: float
    shade: Optional[np.ndarray] = None

    def lookup(self, xy: np.ndarray) -> np.ndarray:
        """Ground class ids at ``(..., 2)`` global xy -> ``(...)`` uint8 (terrain outside)."""
        j = np.floor((xy[..., 0] - self.origin[0]) / self.resolution).astype(np.int64)
        i = np.floor((xy[..., 1] - self.origin[1]) / self.resolution).astype(np.int64)
        h, w = self.classes.shape
        inside = (i >= 0) & (i < h) & (j >= 0) & (j < w)
        out = np.full(xy.shape[:-1], SEMANTIC_ID["terrain"], dtype=np.uint8)
        out[inside] = self.classes[i[inside], j[inside]]
        return out


@dataclass
class WorldObject:
    """Any object with a 3D box: a vehicle, a pedestrian, a cone, a building.

    Attributes:
        token: instance id, stable over the scene (nuScenes instance token
            for annotated kinds).
        kind: one of ``ObjectKind``; drives the renderer's geometry and the
            semantic class.
        center: ``(3,)`` global xyz of the box centre.
        size: ``(3,)`` (width, length, height) in metres.
        yaw: heading in radians.
        velocity: ``(2,)`` global vx, vy in m/s (zeros for static objects).
        color: ``(3,)`` uint8 base colour (paint, clothes, facade).
        attribute: nuScenes attribute name or None
            (e.g. 'vehicle.moving', 'pedestrian.standing').
        static: True for parts of the town (buildings, trees, signs, lights,
            parked barriers/cones), False for agents.
    """

    token: str
    kind: str
    center: np.ndarray
    size: np.ndarray
    yaw: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    color: Tuple[int, int, int] = (128, 128, 128)
    attribute: Optional[str] = None
    static: bool = False

    def corners(self) -> np.ndarray:
        """``(3, 8)`` global corners in nuScenes ``Box.corners()`` order."""
        w, l, h = (float(v) for v in self.size)
        x = l / 2 * np.array([1, 1, 1, 1, -1, -1, -1, -1])
        y = w / 2 * np.array([1, -1, -1, 1, 1, -1, -1, 1])
        z = h / 2 * np.array([1, 1, -1, -1, 1, 1, -1, -1])
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        return rot @ np.vstack([x, y, z]) + np.asarray(self.center, dtype=float).reshape(3, 1)


@dataclass
class Town:
    """The static world: map layers, ground raster and static objects.

    One town per nuScenes location name (``LOCATIONS``). All polygons are
    ``(K, 2)`` float arrays in global xy; polylines ``(P, 2)``.
    """

    name: str
    extent: Tuple[float, float, float, float]  # xmin, ymin, xmax, ymax
    road_segments: List[RoadSegment]
    lanes: Dict[str, Lane]
    ped_crossings: List[np.ndarray]
    walkways: List[np.ndarray]
    stop_lines: List[np.ndarray]
    traffic_lights: List[TrafficLightSpec]
    lane_dividers: List[np.ndarray]
    road_dividers: List[np.ndarray]
    ground: GroundRaster
    statics: List[WorldObject]
    seed: int = 0


@dataclass
class EgoState:
    """Ego pose and motion at one instant (global frame; rear axle on the ground)."""

    x: float
    y: float
    yaw: float
    speed: float
    accel: float = 0.0
    yaw_rate: float = 0.0


@dataclass
class Frame:
    """One keyframe of a scene.

    Attributes:
        timestamp: microseconds.
        ego: the ego state.
        objects: the dynamic objects (agents, temporary cones/barriers) at
            this instant; static town objects live in ``Town.statics``.
        lights: traffic-light token -> 'red' | 'green' | 'yellow'.
        command: the navigation command in force ('left' | 'right' |
            'straight'), i.e. what the ego does at the next intersection.
        lighting: scene lighting parameters (``sun_dir`` (3,), ``ambient``,
            ``sky_top``/``sky_horizon`` RGB); constant within a scene.
    """

    timestamp: int
    ego: EgoState
    objects: List[WorldObject]
    lights: Dict[str, str] = field(default_factory=dict)
    command: str = "straight"
    lighting: Dict[str, object] = field(default_factory=dict)


@dataclass
class SceneLog:
    """A scene: a town and its keyframes (2 Hz), plus metadata."""

    name: str
    town: Town
    frames: List[Frame]
    split: Literal["train", "val"] = "train"
    description: str = ""
    events: List[str] = field(default_factory=list)  # e.g. 'stop_for_pedestrian@t=12'
    ego_track: List[EgoState] = field(default_factory=list)  # the ego at every 10 Hz step from the first keyframe
