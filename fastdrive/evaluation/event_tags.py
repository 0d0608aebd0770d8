"""Tag each planning sample by what its 3 s future holds (stops, starts, turns, cruising).

Sources, for a FastDrive world (``DATAROOT/fastdrive_gt`` exists):

* ``world.json``: per scene the ego's event log (``fastdrive.sim.ego.EventLog``):
  ``'<name>@frame=<k>'`` with ``k`` the keyframe (0.5 s apart) at which the ego's
  speed first fell below 0.3 m/s in a stop episode (``stop_for_pedestrian``,
  ``stop_for_lead``, ``red_light``, ``yield_at_intersection``; a cause that
  appears later in the same held episode is logged at that later frame) or at
  which it entered a turning connector (``turn_left``, ``turn_right``,
  ``go_straight``). An episode ends when the ego exceeds 1 m/s.
* ``ego_states.json``: sample token -> keyframe index ``frame`` and speed, used
  to tell whether the ego is still held in a stop episode.

Tags of a sample at keyframe ``f`` (several may apply; ``'cruise'`` only when none do):

* ``pedestrian`` / ``lead`` / ``red_light``: an event of that cause at a frame
  in ``f .. f + HORIZON_FRAMES`` (the ego will stop within 3 s), or the ego is
  *currently held*: an event of that cause at ``e <= f`` and the ego has not
  moved off since (speed <= :data:`MOVED_OFF_SPEED` at every keyframe
  ``e .. f``, from ``ego_states.json`` when given, else from the record's speed
  and the past trajectory for the last 2 s).
* ``start``: speed now < :data:`START_SPEED` and the future gets farther than
  :data:`START_DISTANCE_M` from the current position.
* ``turn``: a ``turn_left`` / ``turn_right`` event in ``f .. f + 6``, or the
  future heading departs from the current one by more than :data:`TURN_DEG`.
* ``cruise``: none of the above.

``yield_at_intersection`` and ``go_straight`` events have no tag of their own
(they are not in :data:`TAGS`).

``critical`` is True when the future speed departs from constant velocity
(:func:`cv_departure`) *and* one of pedestrian / lead / red_light / start applies:
the change of speed has a cause in view, so the image matters.

Real nuScenes dataroots (no ``fastdrive_gt``) have no event log: only the
speed-profile tags apply (``start``, ``turn`` from the heading change,
``cruise``) and ``critical`` is the constant-velocity departure alone.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "CAUSE_TAGS", "CV_DEPARTURE_ABS_M", "CV_DEPARTURE_MIN_M", "CV_DEPARTURE_REL", "HORIZON_FRAMES",
    "MOVED_OFF_SPEED", "START_DISTANCE_M", "START_SPEED", "STEP_S", "STOP_EVENT_TAGS", "SampleTags",
    "TAGS", "TURN_DEG", "TURN_EVENTS", "TURN_MIN_SEGMENT_M", "cv_departure", "load_scene_events",
    "load_sample_frames", "load_scene_speeds", "tag_records", "tag_sample"
]

TAGS: Tuple[str, ...] = ("pedestrian", "lead", "red_light", "start", "turn", "cruise")
"""Every tag, in display order."""

CAUSE_TAGS: Tuple[str, ...] = ("pedestrian", "lead", "red_light", "start")
"""Tags whose speed change has a cause in view (needed for ``critical``)."""

STOP_EVENT_TAGS: Dict[str, str] = {
    "stop_for_pedestrian": "pedestrian",
    "stop_for_lead": "lead",
    "red_light": "red_light",
}
"""Stop-event name of the world's event log -> tag."""

TURN_EVENTS: Tuple[str, ...] = ("turn_left", "turn_right")
"""Event names that tag a sample ``turn``."""

from ..constants import STEP_S  # noqa: E402 (seconds between keyframes and waypoints)

HORIZON_FRAMES = 6
"""Keyframes of the future horizon (6 x 0.5 s = 3 s): events at ``f .. f + 6`` count."""

MOVED_OFF_SPEED = 1.0
"""m/s; the ego has left a stop episode once it exceeds this (``EventLog`` ends episodes there)."""

START_SPEED = 0.5
"""m/s; a ``start`` sample is slower than this now ..."""

START_DISTANCE_M = 2.0
"""... and gets farther than this many metres from its current position within the horizon."""

TURN_DEG = 20.0
"""Degrees; a future segment heading that departs more than this from the current heading is a turn."""

TURN_MIN_SEGMENT_M = 1.0
"""Metres; future segments shorter than this (standing, creeping) have no reliable heading and are ignored."""

CV_DEPARTURE_ABS_M = 3.0
"""Metres; the future departs from constant velocity when ``|d - v * T|`` exceeds this, ..."""

CV_DEPARTURE_REL = 0.3
"""... or exceeds this share of ``v * T`` (``d``: future path length over ``T`` s, ``v``: speed now) ..."""

CV_DEPARTURE_MIN_M = 1.0
"""... while also exceeding this floor in metres (so creeping at ~0 m/s is not a departure)."""


@dataclass(frozen=True)
class SampleTags:
    """Tags of one sample: ``tags`` a non-empty subset of :data:`TAGS`; ``critical``: see the module doc."""

    tags: FrozenSet[str]
    critical: bool

    def has(self, tag: str) -> bool:
        """True when ``tag`` is among :attr:`tags`."""
        return tag in self.tags


def _gt_dir(data_root: str) -> str:
    return os.path.join(data_root, "fastdrive_gt")


def load_scene_events(data_root: str) -> Optional[Dict[str, List[Tuple[str, int]]]]:
    """Event log of every scene of a FastDrive world.

    Returns:
        scene name -> ``[(event_name, keyframe), ...]`` in log order, e.g.
        ``('stop_for_lead', 11)``; None when ``fastdrive_gt/world.json`` is
        missing (real nuScenes).
    """
    path = os.path.join(_gt_dir(data_root), "world.json")
    if not os.path.isfile(path):
        return None
    with open(path, "r", encoding="utf-8") as fh:
        scenes = json.load(fh).get("scenes", {})
    out: Dict[str, List[Tuple[str, int]]] = {}
    for name, info in scenes.items():
        events = []
        for text in info.get("events", []):
            ev, _, rest = str(text).partition("@")
            key, _, value = rest.partition("=")
            if key != "frame" or not value.strip().lstrip("-").isdigit():
                raise ValueError(f"scene {name}: cannot parse event {text!r} (want 'name@frame=K')")
            events.append((ev, int(value)))
        out[name] = events
    return out


def _ego_states(data_root: str) -> Optional[Dict[str, dict]]:
    path = os.path.join(_gt_dir(data_root), "ego_states.json")
    if not os.path.isfile(path):
        return None
    with open(path, "r", encoding="utf-8") as fh:
        return json.load(fh)


def load_sample_frames(data_root: str) -> Optional[Dict[str, int]]:
    """Sample token -> keyframe index within its scene, or None without ``fastdrive_gt/ego_states.json``."""
    states = _ego_states(data_root)
    return None if states is None else {tok: int(s["frame"]) for tok, s in states.items()}


def load_scene_speeds(data_root: str) -> Optional[Dict[str, Dict[int, float]]]:
    """Scene name -> {keyframe: ego speed (m/s)} from ``ego_states.json``, or None without it."""
    states = _ego_states(data_root)
    if states is None:
        return None
    out: Dict[str, Dict[int, float]] = {}
    for s in states.values():
        out.setdefault(str(s["scene"]), {})[int(s["frame"])] = float(s["speed"])
    return out


def _future(record: Mapping) -> np.ndarray:
    """``(T + 1, 2)`` origin plus the valid leading future waypoints (ego frame, m)."""
    traj = np.asarray(record["gt_traj"], dtype=np.float64).reshape(-1, 2)
    valid = np.asarray(record.get("gt_valid", np.ones(len(traj), bool)), dtype=bool).ravel()
    n = len(valid) if valid.all() else int(np.argmin(valid))  # leading valid run
    return np.vstack([np.zeros((1, 2)), traj[:n]])


def cv_departure(record: Mapping) -> bool:
    """True when the valid future departs from constant velocity at the current speed.

    With ``d`` the path length of the valid future (m, from ``gt_traj``) over
    ``T = 0.5 * n_valid`` s and ``v`` the speed now (m/s):
    ``|d - v T| > CV_DEPARTURE_ABS_M`` or
    (``|d - v T| > CV_DEPARTURE_REL * v T`` and ``|d - v T| > CV_DEPARTURE_MIN_M``).
    False without a valid future waypoint.
    """
    pts = _future(record)
    if len(pts) < 2:
        return False
    d = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())
    cv = abs(float(record["speed"])) * STEP_S * (len(pts) - 1)
    dev = abs(d - cv)
    return dev > CV_DEPARTURE_ABS_M or (dev > CV_DEPARTURE_REL * cv and dev > CV_DEPARTURE_MIN_M)


def _heading_change_deg(record: Mapping) -> float:
    """Largest |heading| (deg) of future segments >= ``TURN_MIN_SEGMENT_M`` long (current heading: 0)."""
    seg = np.diff(_future(record), axis=0)
    seg = seg[np.linalg.norm(seg, axis=1) >= TURN_MIN_SEGMENT_M]
    if len(seg) == 0:
        return 0.0
    return float(np.degrees(np.abs(np.arctan2(seg[:, 1], seg[:, 0]))).max())


def _past_speeds(record: Mapping) -> Dict[int, float]:
    """``-k`` (k = 1..3 keyframes ago) -> mean speed (m/s) over the 0.5 s ending there, from ``past_traj``."""
    past = record.get("past_traj")
    if past is None:
        return {}
    pts = np.vstack([np.asarray(past, dtype=np.float64).reshape(-1, 2), np.zeros((1, 2))])  # oldest .. now
    pv = record.get("past_valid")
    ok = np.append(np.asarray(pv, bool).ravel(), True) if pv is not None else np.ones(len(pts), bool)
    out = {}
    for k in range(1, len(pts) - 1):  # segment ending k frames ago
        j = len(pts) - 1 - k
        if ok[j] and ok[j - 1]:
            out[-k] = float(np.linalg.norm(pts[j] - pts[j - 1])) / STEP_S
    return out


def _held_since(event_frame: int, frame: int, speed_now: float, speeds: Optional[Mapping[int, float]],
                past: Dict[int, float]) -> bool:
    """True when the ego has stayed at or below ``MOVED_OFF_SPEED`` from ``event_frame`` to ``frame``."""
    if event_frame > frame or speed_now > MOVED_OFF_SPEED:
        return False
    for g in range(event_frame + 1, frame):
        v = speeds.get(g) if speeds is not None else None
        if v is None:
            v = past.get(g - frame)  # mean speed over (g - 1, g]; None when older than the past window
        if v is not None and v > MOVED_OFF_SPEED:
            return False
    return True


def tag_sample(
    record: Mapping,
    events: Optional[Sequence[Tuple[str, int]]],
    frame: Optional[int],
    scene_speeds: Optional[Mapping[int, float]] = None,
) -> SampleTags:
    """Tags of one planning record.

    Args:
        record: planning record with ``gt_traj (6, 2)`` (m, ego frame),
            ``gt_valid (6,)``, ``speed`` (m/s) and optionally ``past_traj (4, 2)``
            / ``past_valid (4,)``.
        events: the scene's event log ``[(name, keyframe), ...]`` (see
            :func:`load_scene_events`); None when there is none (real
            nuScenes): speed-profile tags only, ``critical`` = CV departure.
        frame: keyframe index of the sample in its scene (None: as without events).
        scene_speeds: optional keyframe -> speed (m/s) of the scene, to decide
            exactly whether the ego is still held in a stop episode; without it
            the record's speed and past trajectory decide, which only see the
            last 2 s (an older moving-off goes unnoticed; :func:`tag_records`
            always passes the speeds of a FastDrive world).
    """
    tags = set()
    speed = abs(float(record["speed"]))
    has_log = events is not None and frame is not None
    if has_log:
        past = _past_speeds(record)
        for name, e in events:  # type: ignore[union-attr]
            if name in STOP_EVENT_TAGS:
                upcoming = frame <= e <= frame + HORIZON_FRAMES  # type: ignore[operator]
                if upcoming or _held_since(e, frame, speed, scene_speeds, past):  # type: ignore[arg-type]
                    tags.add(STOP_EVENT_TAGS[name])
            elif name in TURN_EVENTS and frame <= e <= frame + HORIZON_FRAMES:  # type: ignore[operator]
                tags.add("turn")
    pts = _future(record)
    if speed < START_SPEED and len(pts) > 1 and float(np.linalg.norm(pts, axis=1).max()) > START_DISTANCE_M:
        tags.add("start")
    if _heading_change_deg(record) > TURN_DEG:
        tags.add("turn")
    departs = cv_departure(record)
    critical = departs and (bool(tags & set(CAUSE_TAGS)) if has_log else True)
    return SampleTags(frozenset(tags) if tags else frozenset({"cruise"}), bool(critical))


def tag_records(records: Sequence[Mapping], data_root: str) -> List[SampleTags]:
    """Tags of every record (``sample_token``, ``scene_name`` plus the fields of :func:`tag_sample`).

    Reads ``fastdrive_gt/world.json`` and ``ego_states.json`` under ``data_root``
    once; a real nuScenes dataroot (or a sample missing from them) gets the
    speed-profile-only tags.
    """
    scene_events = load_scene_events(data_root)
    frames = load_sample_frames(data_root) if scene_events is not None else None
    speeds = load_scene_speeds(data_root) if scene_events is not None else None
    out = []
    for rec in records:
        events = frame = scene_speed = None
        if scene_events is not None and frames is not None:
            frame = frames.get(str(rec["sample_token"]))
            scene = str(rec["scene_name"])
            events = scene_events.get(scene) if frame is not None else None
            scene_speed = (speeds or {}).get(scene)
        out.append(tag_sample(rec, events, frame, scene_speed))
    return out
