"""The 13 nuScenes tables of a synthetic world (pure functions, no file I/O).

Two steps, so that rendering can run in parallel between them:

1. :func:`plan_world` fixes every token, file name and the annotated objects
   of every keyframe (cheap, deterministic from the seed);
2. :func:`build_tables` turns the plan, the scenes and the per-frame sensor
   statistics (visibility, lidar points per box, see ``frame_sensors``) into
   the table records, keyed by table name.

All records use the nuScenes v1.0 field names and token links (``prev`` /
``next`` chains, ``first_*`` / ``last_*`` tokens, ``nbr_*`` counts). Global
coordinates are the town's shifted by ``map_expansion.export_offset`` so the
map origin is at the bottom-left of the basemap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Sequence, Tuple

import numpy as np

from fastdrive.sim.map_expansion import export_offset
from fastdrive.sim.rig import Rig, yaw_to_quaternion
from fastdrive.sim.nuscenes_schema import (  # noqa: F401  (re-exported)
    ANNOTATION_RANGE,
    ATTRIBUTES,
    NUSCENES_CATEGORIES,
    TABLES,
    VISIBILITY_LEVELS,
    attribute_for,
    category_names,
    derive_seed,
    make_token,
    static_tables,
    visibility_token,
)
from fastdrive.sim.types import OBJECT_KIND_TO_CATEGORY, SceneLog, Town, WorldObject


@dataclass
class PlannedAnnotation:
    """One annotated object of one keyframe.

    ``index`` is the object's position in ``list(frame.objects) + town.statics``
    (the renderer's instance id); ``instance_key`` identifies the object over the scene.
    """

    index: int
    obj: WorldObject
    token: str
    instance_key: str


@dataclass
class SamplePlan:
    """Tokens and files of one keyframe.

    ``data`` maps a channel to ``(sample_data_token, filename)``, filename
    relative to the dataroot (``samples/CAM_FRONT/<name>.jpg``).
    """

    scene_idx: int
    frame_idx: int
    token: str
    data: Dict[str, Tuple[str, str]]
    anns: List[PlannedAnnotation] = field(default_factory=list)


@dataclass
class FrameStats:
    """Sensor statistics of one keyframe, aligned with ``SamplePlan.anns``.

    ``visible_fraction[i]``: share of annotation i's projected box area not
    hidden by nearer objects, over all six cameras (0..1);
    ``num_lidar_pts[i]``: lidar points inside its box;
    ``visible_pixels[i]``: camera pixels showing it (all six cameras).
    Annotations with neither pixels nor lidar points are dropped.
    """

    visible_fraction: List[float]
    num_lidar_pts: List[int]
    visible_pixels: List[int]


def log_name(seed: int, scene: SceneLog) -> str:
    """Log / file-name stem of a scene, e.g. ``fastdrive-s0-scene-0003``."""
    return f"fastdrive-s{int(seed)}-{scene.name}"


def annotated_objects(
    frame_objects: Sequence[WorldObject], town: Town, ego_xy: np.ndarray, max_range: float = ANNOTATION_RANGE
) -> List[Tuple[int, WorldObject]]:
    """``(instance index, object)`` of the objects that get a ``sample_annotation``.

    Annotated kinds (``OBJECT_KIND_TO_CATEGORY`` not None) among the frame's
    objects and the town's statics, within ``max_range`` metres of the ego.
    """
    out = []
    for i, obj in enumerate(list(frame_objects) + list(town.statics)):
        if OBJECT_KIND_TO_CATEGORY.get(obj.kind) is None:
            continue
        if float(np.hypot(obj.center[0] - ego_xy[0], obj.center[1] - ego_xy[1])) <= max_range:
            out.append((i, obj))
    return out


def plan_world(scenes: Sequence[SceneLog], seed: int, rig: Rig) -> List[SamplePlan]:
    """Tokens, file names and annotated objects of every keyframe, scene by scene."""
    channels = [c.name for c in rig.cameras] + [rig.lidar.name]
    plans = []
    for si, scene in enumerate(scenes):
        stem = log_name(seed, scene)
        static_ids = {id(o) for o in scene.town.statics}
        for fi, frame in enumerate(scene.frames):
            data = {}
            for ch in channels:
                ext = "pcd.bin" if ch == rig.lidar.name else "jpg"
                data[ch] = (
                    make_token(seed, "sample_data", scene.name, fi, ch),
                    f"samples/{ch}/{stem}__{ch}__{int(frame.timestamp)}.{ext}",
                )
            plan = SamplePlan(si, fi, make_token(seed, "sample", scene.name, fi), data)
            for idx, obj in annotated_objects(
                frame.objects, scene.town, np.array([frame.ego.x, frame.ego.y])
            ):
                key = f"{'static' if id(obj) in static_ids else 'agent'}:{obj.token}"
                plan.anns.append(
                    PlannedAnnotation(idx, obj, make_token(seed, "ann", scene.name, fi, key), key)
                )
            plans.append(plan)
    return plans


def _link(records: List[dict]) -> None:
    """Fill ``prev`` / ``next`` of records that form one chain, in order."""
    for i, rec in enumerate(records):
        rec["prev"] = records[i - 1]["token"] if i > 0 else ""
        rec["next"] = records[i + 1]["token"] if i + 1 < len(records) else ""


def _command_summary(scene: SceneLog) -> str:
    runs: List[List] = []
    for f in scene.frames:
        if runs and runs[-1][0] == f.command:
            runs[-1][1] += 1
        else:
            runs.append([f.command, 1])
    return ",".join(f"{c}x{n}" for c, n in runs)


def scene_description(scene: SceneLog) -> str:
    """``split=<train|val>; commands=<run-length commands>; events=<...>; <free text>``."""
    parts = [f"split={scene.split}", f"commands={_command_summary(scene)}"]
    if scene.events:
        parts.append("events=" + ",".join(scene.events))
    if scene.description:
        parts.append(scene.description.strip())
    return "; ".join(parts)


def _date(timestamp_us: int) -> str:
    return datetime.fromtimestamp(int(timestamp_us) / 1e6, tz=timezone.utc).strftime("%Y-%m-%d")


def build_tables(
    scenes: Sequence[SceneLog], plans: Sequence[SamplePlan], stats: Sequence[FrameStats], rig: Rig, seed: int
) -> Dict[str, List[dict]]:
    """All 13 nuScenes tables (table name -> records).

    Args:
        scenes: the scene logs (their towns give locations and export offsets).
        plans: :func:`plan_world` output.
        stats: per plan, the :class:`FrameStats` measured while rendering.
        rig: the sensor rig (calibration of every sensor).
        seed: the world seed (tokens).
    """
    t = static_tables(seed, rig)
    t.update({k: [] for k in TABLES if k not in t})  # the tables filled per scene below
    cat_token = {c["name"]: c["token"] for c in t["category"]}
    attr_token = {a["name"]: a["token"] for a in t["attribute"]}
    sensor_token = {s["channel"]: s["token"] for s in t["sensor"]}
    sensors = [(c.name, c.translation, c.rotation, np.asarray(c.intrinsic).tolist()) for c in rig.cameras]
    sensors.append((rig.lidar.name, rig.lidar.translation, rig.lidar.rotation, []))
    image_hw = {c.name: (int(c.height), int(c.width)) for c in rig.cameras}
    by_scene: Dict[int, List[Tuple[SamplePlan, FrameStats]]] = {}
    for plan, st in zip(plans, stats):
        by_scene.setdefault(plan.scene_idx, []).append((plan, st))
    logs_by_location: Dict[str, List[str]] = {}

    for si, scene in enumerate(scenes):
        off = export_offset(scene.town)
        log_tok = make_token(seed, "log", scene.name)
        t["log"].append(
            {
                "token": log_tok,
                "logfile": log_name(seed, scene),
                "vehicle": "fastdrive-ego",
                "date_captured": _date(scene.frames[0].timestamp),
                "location": scene.town.name,
            }
        )
        logs_by_location.setdefault(scene.town.name, []).append(log_tok)
        calib = {}
        for name, trans, rot, k in sensors:
            calib[name] = make_token(seed, "calibrated_sensor", scene.name, name)
            t["calibrated_sensor"].append(
                {
                    "token": calib[name],
                    "sensor_token": sensor_token[name],
                    "translation": [float(v) for v in trans],
                    "rotation": [float(v) for v in rot],
                    "camera_intrinsic": k,
                }
            )
        samples, chains = [], {name: [] for name, *_ in sensors}
        inst_anns: Dict[str, List[dict]] = {}
        inst_cat: Dict[str, str] = {}
        for plan, st in by_scene.get(si, []):
            frame = scene.frames[plan.frame_idx]
            samples.append({"token": plan.token, "timestamp": int(frame.timestamp), "scene_token": ""})
            pose_t = [float(frame.ego.x + off[0]), float(frame.ego.y + off[1]), 0.0]
            pose_r = [float(v) for v in yaw_to_quaternion(frame.ego.yaw)]
            for name, *_ in sensors:
                sd_tok, fname = plan.data[name]
                is_cam = name in image_hw
                t["ego_pose"].append(
                    {
                        "token": sd_tok,
                        "timestamp": int(frame.timestamp),
                        "translation": pose_t,
                        "rotation": pose_r,
                    }
                )
                chains[name].append(
                    {
                        "token": sd_tok,
                        "sample_token": plan.token,
                        "ego_pose_token": sd_tok,
                        "calibrated_sensor_token": calib[name],
                        "timestamp": int(frame.timestamp),
                        "fileformat": "jpg" if is_cam else "pcd",
                        "is_key_frame": True,
                        "height": image_hw.get(name, (0, 0))[0],
                        "width": image_hw.get(name, (0, 0))[1],
                        "filename": fname,
                    }
                )
            for ann, vis, npts, npx in zip(
                plan.anns, st.visible_fraction, st.num_lidar_pts, st.visible_pixels
            ):
                if npts == 0 and npx == 0:
                    continue  # observed by no sensor: not annotated
                obj = ann.obj
                inst_tok = make_token(seed, "instance", scene.name, ann.instance_key)
                inst_cat[inst_tok] = OBJECT_KIND_TO_CATEGORY[obj.kind]
                attr = attribute_for(obj)
                inst_anns.setdefault(inst_tok, []).append(
                    {
                        "token": ann.token,
                        "sample_token": plan.token,
                        "instance_token": inst_tok,
                        "visibility_token": visibility_token(vis),
                        "attribute_tokens": [attr_token[attr]] if attr else [],
                        "translation": [
                            float(obj.center[0] + off[0]),
                            float(obj.center[1] + off[1]),
                            float(obj.center[2]),
                        ],
                        "size": [float(v) for v in obj.size],
                        "rotation": [float(v) for v in yaw_to_quaternion(obj.yaw)],
                        "num_lidar_pts": int(npts),
                        "num_radar_pts": 0,
                    }
                )
        scene_tok = make_token(seed, "scene", scene.name)
        for s in samples:
            s["scene_token"] = scene_tok
        _link(samples)
        t["sample"].extend(samples)
        for name, *_ in sensors:
            _link(chains[name])
            t["sample_data"].extend(chains[name])
        for inst_tok in sorted(inst_anns, key=lambda k: inst_anns[k][0]["token"]):
            anns = inst_anns[inst_tok]
            _link(anns)
            t["sample_annotation"].extend(anns)
            t["instance"].append(
                {
                    "token": inst_tok,
                    "category_token": cat_token[inst_cat[inst_tok]],
                    "nbr_annotations": len(anns),
                    "first_annotation_token": anns[0]["token"],
                    "last_annotation_token": anns[-1]["token"],
                }
            )
        t["scene"].append(
            {
                "token": scene_tok,
                "log_token": log_tok,
                "nbr_samples": len(samples),
                "first_sample_token": samples[0]["token"] if samples else "",
                "last_sample_token": samples[-1]["token"] if samples else "",
                "name": scene.name,
                "description": scene_description(scene),
            }
        )
    for loc in sorted(logs_by_location):
        tok = make_token(seed, "map", loc)
        t["map"].append(
            {
                "token": tok,
                "log_tokens": logs_by_location[loc],
                "category": "semantic_prior",
                "filename": f"maps/{tok}.png",
            }
        )
    return t


def splits_of(scenes: Sequence[SceneLog]) -> Dict[str, List[str]]:
    """The ``splits.json`` content: scene names per split tag (plus ``fastdrive_*`` aliases)."""
    from fastdrive.sim.splits import splits_from_scenes

    return splits_from_scenes((s.name, s.split) for s in scenes)
