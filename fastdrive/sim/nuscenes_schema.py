"""nuScenes schema constants and small helpers shared by the exporter.

Category, attribute and visibility vocabularies (nuScenes v1.0 names),
deterministic tokens and seeds, and the world-independent tables.
"""

from __future__ import annotations

import hashlib
from typing import Dict, List, Optional, Tuple

import numpy as np

from fastdrive.sim.rig import Rig
from fastdrive.sim.types import OBJECT_KIND_TO_CATEGORY, WorldObject

TABLES: Tuple[str, ...] = (
    "attribute",
    "calibrated_sensor",
    "category",
    "ego_pose",
    "instance",
    "log",
    "map",
    "sample",
    "sample_annotation",
    "sample_data",
    "scene",
    "sensor",
    "visibility",
)
ATTRIBUTES: Tuple[Tuple[str, str], ...] = (
    ("vehicle.moving", "Vehicle is moving."),
    (
        "vehicle.stopped",
        "Vehicle, with a driver/rider in/on it, is currently stationary but has an intent to move.",
    ),
    (
        "vehicle.parked",
        "Vehicle is stationary (usually for longer duration) with no immediate intent to move.",
    ),
    ("cycle.with_rider", "There is a rider on the bicycle or motorcycle."),
    ("cycle.without_rider", "There is NO rider on the bicycle or motorcycle."),
    ("pedestrian.sitting_lying_down", "The human is sitting or lying down."),
    ("pedestrian.standing", "The human is standing."),
    ("pedestrian.moving", "The human is moving."),
)
VISIBILITY_LEVELS: Tuple[Tuple[str, str, str], ...] = (
    ("1", "v0-40", "visibility of whole object is between 0 and 40%"),
    ("2", "v40-60", "visibility of whole object is between 40 and 60%"),
    ("3", "v60-80", "visibility of whole object is between 60 and 80%"),
    ("4", "v80-100", "visibility of whole object is between 80 and 100%"),
)
ANNOTATION_RANGE = 100.0  # m (horizontal, from the ego): the renderer's object distance limit
LIDAR_CHANNEL = "LIDAR_TOP"


def make_token(seed: int, kind: str, *parts: object) -> str:
    """A deterministic 32-hex token from the world seed, a record kind and key parts."""
    key = "|".join([str(int(seed)), kind] + [str(p) for p in parts])
    return hashlib.md5(key.encode()).hexdigest()


def derive_seed(seed: int, *parts: object) -> int:
    """A deterministic 31-bit seed (per image / per scan noise) from the world seed and key parts."""
    return int(make_token(seed, "seed", *parts)[:8], 16) & 0x7FFFFFFF


def visibility_token(fraction: float) -> str:
    """nuScenes visibility token ('1'..'4') for a visible fraction in [0, 1]."""
    f = float(fraction)
    return "1" if f < 0.4 else "2" if f < 0.6 else "3" if f < 0.8 else "4"


# All nuScenes v1.0 category names, in the order of their lidarseg ``index``
# (the order of nuscenes-devkit's ``get_colormap()``; kept here so that
# exporting does not import the heavy ``nuscenes`` package).
NUSCENES_CATEGORIES: Tuple[str, ...] = (
    "noise",
    "animal",
    "human.pedestrian.adult",
    "human.pedestrian.child",
    "human.pedestrian.construction_worker",
    "human.pedestrian.personal_mobility",
    "human.pedestrian.police_officer",
    "human.pedestrian.stroller",
    "human.pedestrian.wheelchair",
    "movable_object.barrier",
    "movable_object.debris",
    "movable_object.pushable_pullable",
    "movable_object.trafficcone",
    "static_object.bicycle_rack",
    "vehicle.bicycle",
    "vehicle.bus.bendy",
    "vehicle.bus.rigid",
    "vehicle.car",
    "vehicle.construction",
    "vehicle.emergency.ambulance",
    "vehicle.emergency.police",
    "vehicle.motorcycle",
    "vehicle.trailer",
    "vehicle.truck",
    "flat.driveable_surface",
    "flat.other",
    "flat.sidewalk",
    "flat.terrain",
    "static.manmade",
    "static.other",
    "static.vegetation",
    "vehicle.ego",
)


def category_names() -> List[str]:
    """All nuScenes category names in lidarseg index order."""
    return list(NUSCENES_CATEGORIES)


def attribute_for(obj: WorldObject) -> Optional[str]:
    """nuScenes attribute name of an annotated object (None for barriers and cones)."""
    cat = OBJECT_KIND_TO_CATEGORY.get(obj.kind) or ""
    names = {a for a, _ in ATTRIBUTES}
    if obj.attribute in names:
        prefix = obj.attribute.split(".")[0]
        if (
            (prefix == "vehicle" and cat.startswith("vehicle.") and obj.kind != "cyclist")
            or (prefix == "cycle" and obj.kind == "cyclist")
            or (prefix == "pedestrian" and cat.startswith("human."))
        ):
            return obj.attribute
    speed = float(np.linalg.norm(np.asarray(obj.velocity, dtype=float)[:2]))
    if obj.kind == "cyclist":
        return "cycle.with_rider"
    if cat.startswith("human."):
        return "pedestrian.moving" if speed > 0.2 else "pedestrian.standing"
    if cat.startswith("vehicle."):
        return "vehicle.parked" if obj.static else ("vehicle.moving" if speed > 0.2 else "vehicle.stopped")
    return None


def static_tables(seed: int, rig: Rig) -> Dict[str, List[dict]]:
    """The ``category``, ``attribute``, ``visibility`` and ``sensor`` tables (world-independent)."""
    cats = [
        {"token": make_token(seed, "category", n), "name": n, "description": n, "index": i}
        for i, n in enumerate(category_names())
    ]
    attrs = [{"token": make_token(seed, "attribute", n), "name": n, "description": d} for n, d in ATTRIBUTES]
    vis = [{"token": t, "level": lv, "description": d} for t, lv, d in VISIBILITY_LEVELS]
    sensors = [
        {"token": make_token(seed, "sensor", c.name), "channel": c.name, "modality": "camera"}
        for c in rig.cameras
    ]
    sensors.append(
        {"token": make_token(seed, "sensor", rig.lidar.name), "channel": rig.lidar.name, "modality": "lidar"}
    )
    return {"category": cats, "attribute": attrs, "visibility": vis, "sensor": sensors}
