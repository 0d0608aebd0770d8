"""One closed-loop episode: render from the simulated pose, ask the driver, track the plan, score.

Simulation at 10 Hz; a new plan every 0.5 s. The ego is a kinematic bicycle following the
latest plan with a tracking controller (:mod:`.vehicle`); the other agents and the lights
replay the log (non-reactive); the camera is rendered from the *simulated* pose. The score is
:func:`~.pdm.score_episode` over the whole episode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ...constants import NUM_PAST, STEP_S
from ..render.camera import render_camera
from ..rig import nuscenes_rig
from ..nuscenes_schema import derive_seed
from ..types import EgoState
from .drivers import EpisodeFailure, PlanInput, PlanOutput
from .geometry import route_position, to_ego, to_global
from .pdm import AgentBox, EgoTrace, PDMResult, SceneContext, score_episode
from .replay import AGENT_KINDS, EGO_CENTER_OFFSET, ReplayScene
from .vehicle import TrajectoryTracker, VehicleLimits, VehicleState, step

DT = 0.1
PLAN_EVERY = 5  # steps: a new plan every 0.5 s
STATIC_KINDS = {"barrier", "traffic_cone", "traffic_sign", "traffic_light", "tree", "building"}


@dataclass
class EpisodeSpec:
    """Which episode: a scene, a start time (s after its first keyframe) and a length."""

    scene: ReplayScene
    start_s: float = 0.0
    seconds: float = 15.0
    swap_scene: Optional[ReplayScene] = None  # camera swap: render this scene's logged view instead


@dataclass
class EpisodeResult:
    """The outcome of one episode (``pdm`` None when it failed before its end)."""

    row: str
    scene: str
    start_s: float
    pdm: Optional[PDMResult]
    failure: Optional[str] = None
    steps: int = 0
    cost_ms: Dict[str, float] = field(default_factory=dict)
    frames: List[Dict[str, Any]] = field(default_factory=list)  # for the video, when recorded


class Camera:
    """Renders the cameras a planner reads, at a given size, from any ego pose of a scene."""

    def __init__(self, cameras=("CAM_FRONT",), size=(1600, 900), seed: int = 0) -> None:
        self.rig = nuscenes_rig(tuple(size), tuple(cameras))
        self.seed = seed

    def render(self, scene: ReplayScene, t: float, pose: EgoState, key: Any) -> Dict[str, np.ndarray]:
        frame = scene.frame(t)
        objects = scene.objects_at(t)
        return {cam.name: render_camera(scene.town, objects, pose, cam, lighting=frame.lighting or None,
                                        noise_seed=derive_seed(self.seed, scene.name, key, cam.name),
                                        lights=scene.lights_at(t) or None).rgb
                for cam in self.rig.cameras}


def start_state(scene: ReplayScene, t0: float, limits: VehicleLimits) -> VehicleState:
    """The vehicle as the logged ego moves at ``t0``: its pose, speed and acceleration, and the steering
    angle that gives its yaw rate."""
    x, y, yaw, v = scene.ego_at(t0)
    logged = scene.frame(t0).ego
    steer = float(np.clip(np.arctan(logged.yaw_rate * limits.wheelbase / max(v, 0.5)), -limits.max_steer,
                          limits.max_steer))
    return VehicleState(x, y, yaw, v, accel=float(logged.accel), steer=steer)


def _agents(scene: ReplayScene, t: float, near: np.ndarray, statics: List[AgentBox]) -> List[AgentBox]:
    out = []
    for o in scene.objects_at(t):
        kind = AGENT_KINDS.get(o.kind, "static")
        if np.hypot(*(o.center[:2] - near)) > 80.0:
            continue
        out.append(AgentBox(o.token, kind, float(o.center[0]), float(o.center[1]), float(o.yaw),
                            float(o.size[1]), float(o.size[0]), float(o.velocity[0]), float(o.velocity[1])))
    return out + statics


def _statics(scene: ReplayScene, path: np.ndarray) -> List[AgentBox]:
    """Town objects within 40 m of the logged path that a car can hit."""
    out = []
    for o in scene.town.statics:
        if o.kind not in STATIC_KINDS:
            continue
        if np.min(np.hypot(*(path - o.center[:2]).T)) > 40.0:
            continue
        out.append(AgentBox(o.token, "static", float(o.center[0]), float(o.center[1]), float(o.yaw),
                            float(o.size[1]), float(o.size[0])))
    return out


def _past_xy(history: List[tuple], scene: ReplayScene, t: float, x: float, y: float, yaw: float) -> np.ndarray:
    """``(4, 2)`` positions at t - 2.0 ... -0.5 s in the current ego frame: simulated where the episode
    has them, logged before its start, extrapolated back at the first logged speed before the log."""
    pts = []
    for k in range(NUM_PAST, 0, -1):
        tk = t - STEP_S * k
        sim = [h for h in history if abs(h[0] - tk) < DT / 2]
        if sim:
            pts.append(sim[0][1:3])
        elif tk >= 0:
            pts.append(scene.ego_at(tk)[:2])
        else:
            x0, y0, yaw0, v0 = scene.ego_at(0.0)
            pts.append((x0 + v0 * tk * np.cos(yaw0), y0 + v0 * tk * np.sin(yaw0)))
    return to_ego(np.asarray(pts), x, y, yaw)


def run_episode(spec: EpisodeSpec, plan: Callable[[PlanInput], PlanOutput], row: str,
                camera: Optional[Camera], *, log_replay: bool = False, record: bool = False,
                limits: VehicleLimits = VehicleLimits()) -> EpisodeResult:
    """Drive one episode and score it.

    Args:
        spec: scene, start and length.
        plan: the driver's ``plan`` (None-camera drivers get no frames).
        row: the row label (also the session id prefix).
        camera: renders the planner's view (None: the driver reads no camera).
        log_replay: follow the logged ego exactly (the scorer's check), no plans.
        record: keep the frames and plans for a video.
    """
    scene = spec.scene
    t0 = spec.start_s
    n_steps = int(round(spec.seconds / DT))
    if t0 + spec.seconds > scene.duration + 1e-6:
        raise ValueError(f"{scene.name} lasts {scene.duration:g} s; an episode of {spec.seconds:g} s cannot "
                         f"start at {t0:g} s")
    state = start_state(scene, t0, limits)
    tracker = TrajectoryTracker(limits)
    statics = _statics(scene, scene.route)
    history: List[tuple] = []
    trace: Dict[str, List[float]] = {k: [] for k in ("t", "x", "y", "yaw", "speed")}
    agents, zones = [], []
    cost = {"render": [], "http": [], "plan": []}
    result = EpisodeResult(row, scene.name, t0, None)
    t_plan = t0
    session = f"{row}/{scene.name}/{t0:g}"
    prev_frames: Optional[Dict[str, np.ndarray]] = None  # the last planning step's, 0.5 s before
    for k in range(n_steps + 1):
        t = t0 + k * DT
        if log_replay:
            x, y, yaw, v = scene.ego_at(t)
            state = VehicleState(x, y, yaw, v)
        history.append((t, state.x, state.y, state.yaw))
        cx, cy = state.x + EGO_CENTER_OFFSET * np.cos(state.yaw), state.y + EGO_CENTER_OFFSET * np.sin(state.yaw)
        for key, val in zip(trace, (t, cx, cy, state.yaw, state.speed)):
            trace[key].append(float(val))
        agents.append(_agents(scene, t, np.array([cx, cy]), statics))
        zones.append(scene.red_zones(t, cx, cy, state.yaw))
        if k == n_steps:
            break
        if not log_replay and k % PLAN_EVERY == 0:
            frames: Dict[str, np.ndarray] = {}
            if camera is not None:
                r0 = time.perf_counter()
                if spec.swap_scene is not None:
                    ts = min(t, spec.swap_scene.duration)
                    sx, sy, syaw, sv = spec.swap_scene.ego_at(ts)
                    frames = camera.render(spec.swap_scene, ts, EgoState(sx, sy, syaw, sv), (session, k))
                else:
                    frames = camera.render(scene, t, EgoState(state.x, state.y, state.yaw, state.speed),
                                           (session, k))
                cost["render"].append(1000.0 * (time.perf_counter() - r0))
            yaw_rate = state.yaw_rate(limits)
            inp = PlanInput(frames, state.speed, state.accel, float(yaw_rate),
                            _past_xy(history, scene, t, state.x, state.y, state.yaw), scene.frame(t).command,
                            session, t=t, pose=(state.x, state.y, state.yaw), prev_frames=prev_frames)
            prev_frames = frames or None
            try:
                out = plan(inp)
            except EpisodeFailure as exc:
                result.failure = f"t={t - t0:.1f} s: {exc}"
                result.steps = k
                break
            cost["http"].append(out.http_ms)
            cost["plan"].append(out.plan_ms)
            tracker.set_plan(state, out.waypoints)
            t_plan = t
            if record:
                result.frames.append({"t": t - t0, "frames": frames, "waypoints": out.waypoints,
                                      "kept_cells": out.kept_cells, "pose": (state.x, state.y, state.yaw),
                                      "agents": agents[-1], "tokens": out.tokens})
        if not log_replay:
            accel, steer = tracker.control(state, t + DT - t_plan)
            state = step(state, accel, steer, DT, limits)
    result.cost_ms = {k: float(np.mean(v)) if v else 0.0 for k, v in cost.items()}
    if result.failure is not None:
        return result
    result.steps = n_steps
    ego = EgoTrace(**{k: np.asarray(v) for k, v in trace.items()})
    route = _centre_route(scene)
    ctx = SceneContext(agents=agents, drivable=scene.drivable, red_zones=zones, route=route,
                       expert_progress=_centre_progress(scene, route, t0, t0 + spec.seconds))
    result.pdm = score_episode(ego, ctx)
    return result


def _centre_progress(scene: ReplayScene, route: np.ndarray, t0: float, t1: float) -> float:
    """Metres the logged ego's box centre advanced along ``route`` from ``t0`` to ``t1``."""
    def centre(t: float) -> np.ndarray:
        x, y, yaw, _ = scene.ego_at(t)
        return np.array([x + EGO_CENTER_OFFSET * np.cos(yaw), y + EGO_CENTER_OFFSET * np.sin(yaw)])

    return route_position(route, *centre(t1)) - route_position(route, *centre(t0))


def _centre_route(scene: ReplayScene) -> np.ndarray:
    r = scene.route
    heading = np.arctan2(*np.diff(r, axis=0).T[::-1])
    heading = np.append(heading, heading[-1])
    return r + EGO_CENTER_OFFSET * np.stack([np.cos(heading), np.sin(heading)], axis=-1)


__all__ = ["Camera", "EpisodeResult", "EpisodeSpec", "run_episode", "to_global"]
