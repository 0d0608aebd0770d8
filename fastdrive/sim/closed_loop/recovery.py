"""Recovery data for closed-loop training: the expert's plan from wherever the car drifted to.

A planner trained only on the logged drive never sees itself off the path, so in closed loop
its small errors compound (``docs/results.md``, closed loop). Here the car follows the logged
path through the same vehicle model and tracker as the closed loop, with noise injected into
the plans it follows (a lateral drift, a speed factor: DART-style noise on the expert), and at
every plan step the camera is rendered from where the car really is, with the *clean* expert
plan from there as the target: the logged path's next 3 s, starting at the logged point nearest
to the car (so a car that is ahead or behind gets the logged speed for that place, and one that
is off to the side is led back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np

from ...constants import NUM_FUTURE, STEP_S
from ..types import EgoState
from .episode import DT, PLAN_EVERY, Camera, start_state
from .geometry import to_ego
from .replay import TRACK_S, ReplayScene
from .vehicle import TrajectoryTracker, VehicleLimits, step


def nearest_log_time(scene: ReplayScene, x: float, y: float, t_hint: float, window: float = 4.0) -> float:
    """Time (s) of the logged ego point nearest to ``(x, y)``, searched within ``window`` s of ``t_hint``."""
    times = np.arange(max(0.0, t_hint - window), min(scene.duration, t_hint + window) + 1e-9, TRACK_S)
    pts = np.array([scene.ego_at(t)[:2] for t in times])
    return float(times[int(np.argmin(np.hypot(pts[:, 0] - x, pts[:, 1] - y)))])


def expert_plan(scene: ReplayScene, x: float, y: float, yaw: float, t_hint: float) -> np.ndarray:
    """``(6, 2)`` ego-frame waypoints: the logged path's next 3 s from its point nearest to the car."""
    tn = nearest_log_time(scene, x, y, t_hint)
    future = np.array([scene.ego_at(min(tn + STEP_S * k, scene.duration))[:2] for k in range(1, NUM_FUTURE + 1)])
    return to_ego(future, x, y, yaw)


@dataclass
class Noise:
    """Perturbations of the plans the car follows (not of the targets it records).

    Attributes:
        p: chance that a plan step starts a perturbation.
        lateral_m: standard deviation of the lateral drift reached at the plan's end (m).
        speed: range of the speed factor applied to the plan.
    """

    p: float = 0.5
    lateral_m: float = 1.5
    speed: tuple = (0.6, 1.4)


def collect_episode(scene: ReplayScene, camera: Camera, seconds: float, rng: np.random.Generator,
                    noise: Noise = Noise(), limits: VehicleLimits = VehicleLimits()) -> List[Dict[str, object]]:
    """One noisy drive from the scene's start; per plan step a sample ``{image, speed, accel, yaw_rate,
    command, target (6, 2)}`` rendered from the car's true pose."""
    state = start_state(scene, 0.0, limits)
    tracker = TrajectoryTracker(limits)
    samples: List[Dict[str, object]] = []
    t_plan, t_hint = 0.0, 0.0
    for k in range(int(round(seconds / DT))):
        t = k * DT
        if k % PLAN_EVERY == 0:
            t_hint = nearest_log_time(scene, state.x, state.y, t_hint)
            target = expert_plan(scene, state.x, state.y, state.yaw, t_hint)
            image = camera.render(scene, t, EgoState(state.x, state.y, state.yaw, state.speed), ("recovery", k))
            samples.append({"image": image["CAM_FRONT"], "speed": state.speed, "accel": state.accel,
                            "yaw_rate": state.yaw_rate(limits), "command": scene.frame(t_hint).command,
                            "target": target, "scene": scene.name, "t": t})
            follow = target.copy()
            if rng.random() < noise.p:  # drift sideways and / or change pace for the next 0.5 s
                ramp = np.linspace(1.0 / NUM_FUTURE, 1.0, NUM_FUTURE)
                follow[:, 1] += rng.normal(0.0, noise.lateral_m) * ramp
                follow *= np.array([rng.uniform(*noise.speed), 1.0])
            tracker.set_plan(state, follow)
            t_plan = t
        accel, steer = tracker.control(state, t + DT - t_plan)
        state = step(state, accel, steer, DT, limits)
    return samples
