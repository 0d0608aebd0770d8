"""The world a closed-loop episode drives in: a FastDrive world's scenes, re-simulated from its seed,
replayed at any time (non-reactive log replay, interpolated between the 2 Hz keyframes).

A FastDrive dataroot records how it was generated (``fastdrive_gt/world.json``: seed, scene
count and splits); the simulation is deterministic, so the towns and every agent's log come
back exactly. The town is static, so a camera can be rendered from any ego pose; the other
agents and the traffic lights are as logged at that time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import InputError
from ..scenario import generate_world
from ..types import Frame, SceneLog, Town, WorldObject

KEYFRAME_S = 0.5
TRACK_S = 0.1  # the simulation step: the logged ego track's spacing
EGO_CENTER_OFFSET = 0.5  # box centre ahead of the rear axle (m), as the planning metrics use
AGENT_KINDS = {"car": "vehicle", "truck": "vehicle", "bus": "vehicle", "pedestrian": "pedestrian",
               "cyclist": "cyclist", "barrier": "static", "traffic_cone": "static"}


class WorldError(InputError, ValueError):
    """A dataroot that is not a FastDrive world, or one that cannot be re-simulated."""


def _wrap(a: float) -> float:
    return float((a + np.pi) % (2 * np.pi) - np.pi)


def _lerp_object(a: WorldObject, b: WorldObject, w: float) -> WorldObject:
    yaw = a.yaw + w * _wrap(b.yaw - a.yaw)
    return WorldObject(token=a.token, kind=a.kind, center=(1 - w) * a.center + w * b.center, size=a.size,
                       yaw=float(yaw), velocity=(1 - w) * np.asarray(a.velocity) + w * np.asarray(b.velocity),
                       color=a.color, attribute=a.attribute, static=a.static)


@dataclass
class ReplayScene:
    """One scene: its town, keyframes and the logged ego path."""

    log: SceneLog

    @property
    def name(self) -> str:
        return self.log.name

    @property
    def town(self) -> Town:
        return self.log.town

    @property
    def duration(self) -> float:
        """Seconds from the first to the last keyframe."""
        return KEYFRAME_S * (len(self.log.frames) - 1)

    def _bracket(self, t: float) -> Tuple[Frame, Frame, float]:
        frames = self.log.frames
        u = min(max(t / KEYFRAME_S, 0.0), len(frames) - 1.0)
        i = min(int(np.floor(u)), len(frames) - 2) if len(frames) > 1 else 0
        j = min(i + 1, len(frames) - 1)
        return frames[i], frames[j], u - i

    def frame(self, t: float) -> Frame:
        """The nearest keyframe at or before ``t`` (command, lights, lighting)."""
        return self.log.frames[min(int(np.floor(t / KEYFRAME_S + 1e-9)), len(self.log.frames) - 1)]

    def objects_at(self, t: float) -> List[WorldObject]:
        """The dynamic objects at ``t`` s (linear in position and yaw between keyframes; an object present
        in only one of the two keyframes is taken from it)."""
        a, b, w = self._bracket(t)
        later = {o.token: o for o in b.objects}
        out = []
        for o in a.objects:
            out.append(_lerp_object(o, later[o.token], w) if o.token in later else o)
        seen = {o.token for o in a.objects}
        out += [o for o in b.objects if o.token not in seen and w >= 0.5]
        return out

    def lights_at(self, t: float) -> Dict[str, str]:
        return dict(self.frame(t).lights)

    def ego_at(self, t: float) -> Tuple[float, float, float, float]:
        """Logged ego ``(x, y, yaw, speed)`` (rear axle) at ``t`` s, from the simulation's 10 Hz track
        (linear between its steps)."""
        track = self.log.ego_track
        u = min(max(t / TRACK_S, 0.0), len(track) - 1.0)
        i = min(int(np.floor(u)), len(track) - 2)
        w = u - i
        a, b = track[i], track[i + 1]
        return ((1 - w) * a.x + w * b.x, (1 - w) * a.y + w * b.y, a.yaw + w * _wrap(b.yaw - a.yaw),
                (1 - w) * a.speed + w * b.speed)

    @cached_property
    def route(self) -> np.ndarray:
        """``(R, 2)`` the logged ego path (rear axle), extended 60 m straight past the last keyframe."""
        pts = np.array([[f.ego.x, f.ego.y] for f in self.log.frames], np.float64)
        keep = np.concatenate([[True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-3])
        pts = pts[keep]  # a stopped ego logs the same point again
        last = self.log.frames[-1].ego
        ext = pts[-1] + 60.0 * np.array([np.cos(last.yaw), np.sin(last.yaw)])
        return np.vstack([pts, ext])

    @cached_property
    def drivable(self):
        """Union of the town's road and intersection polygons (shapely)."""
        from shapely.geometry import Polygon
        from shapely.ops import unary_union

        return unary_union([Polygon(seg.polygon).buffer(0) for seg in self.town.road_segments])

    @cached_property
    def intersections(self) -> List["object"]:
        from shapely.geometry import Polygon

        return [Polygon(seg.polygon).buffer(0) for seg in self.town.road_segments if seg.is_intersection]

    def red_zones(self, t: float, x: float, y: float, yaw: float, reach: float = 25.0) -> List["object"]:
        """Intersections the ego at ``(x, y, yaw)`` may not enter at ``t``: those behind a red light that
        faces the ego's approach (light heading within 45 degrees of the ego's reverse heading) and whose
        stop line lies ahead of the ego within ``reach`` metres."""
        from shapely.geometry import Point

        lights = self.lights_at(t)
        out = []
        for spec in self.town.traffic_lights:
            if lights.get(spec.token) != "red":
                continue
            if abs(_wrap(spec.heading - (yaw + np.pi))) > np.pi / 4:
                continue
            stop = np.asarray(spec.stop_line, np.float64).reshape(-1, 2).mean(axis=0)
            rel = stop - np.array([x, y])
            ahead = rel @ np.array([np.cos(yaw), np.sin(yaw)])
            if not -3.0 <= ahead <= reach:
                continue
            near = min(self.intersections, key=lambda p: p.distance(Point(*stop)), default=None)
            if near is not None and near.distance(Point(*stop)) < 6.0:
                out.append(near)
        return out


class ReplayWorld:
    """Every scene of a FastDrive world, re-simulated from ``fastdrive_gt/world.json``.

    Raises:
        WorldError: not a FastDrive world, or the re-simulation does not give back its scenes.
    """

    def __init__(self, dataroot: str) -> None:
        meta_path = os.path.join(dataroot, "fastdrive_gt", "world.json")
        if not os.path.isfile(meta_path):
            raise WorldError(f"{dataroot!r} is not a FastDrive world (no fastdrive_gt/world.json); closed-loop "
                             "driving re-simulates a world made by data_tools.make_world")
        with open(meta_path) as f:
            meta = json.load(f)
        self.dataroot = dataroot
        self.meta = meta
        self.seed = int(meta["seed"])
        self.image_size = tuple(meta.get("image_size", (1600, 900)))
        names = sorted(meta["scenes"])
        n = int(meta.get("num_scenes", len(names)))
        n_val = sum(1 for s in meta["scenes"].values() if s["split"] == "val")
        samples = int(meta.get("samples_per_scene") or self._samples_from_tables(dataroot, meta))
        logs = generate_world(n, self.seed, samples, val_fraction=n_val / n if n else 0.25)
        for log in logs:
            want = meta["scenes"].get(log.name)
            if want is None or want["split"] != log.split or list(want["events"]) != list(log.events):
                raise WorldError(f"re-simulating {dataroot!r} (seed {self.seed}, {n} scenes, {samples} samples "
                                 f"each) does not give back {log.name}; was it made by another FastDrive version?")
        self.scenes: Dict[str, ReplayScene] = {log.name: ReplayScene(log) for log in logs}

    @staticmethod
    def _samples_from_tables(dataroot: str, meta: dict) -> int:
        path = os.path.join(dataroot, meta.get("version", "v1.0-fastdrive"), "scene.json")
        try:
            with open(path) as f:
                return int(json.load(f)[0]["nbr_samples"])
        except (OSError, ValueError, KeyError, IndexError) as exc:
            raise WorldError(f"cannot read the samples per scene from {path}: {exc}") from None

    def split(self, split: Optional[str] = "val", names: Optional[Sequence[str]] = None) -> List[ReplayScene]:
        """Scenes of ``split`` (None: all), or the named ones (in that order).

        Raises:
            WorldError: an unknown scene name, or a split without scenes.
        """
        if names:
            missing = [s for s in names if s not in self.scenes]
            if missing:
                raise WorldError(f"unknown scene(s) {', '.join(missing)}; this world has "
                                 f"{', '.join(sorted(self.scenes))}")
            return [self.scenes[s] for s in names]
        out = [s for s in self.scenes.values() if split is None or s.log.split == split]
        if not out:
            raise WorldError(f"no {split!r} scenes in {self.dataroot!r}")
        return out
