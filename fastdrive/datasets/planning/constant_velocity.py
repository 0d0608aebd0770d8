"""Constant-velocity baseline planner (the floor every learned planner must beat)."""

from __future__ import annotations

import numpy as np

from .samples import NUM_FUTURE, STEP_S


def constant_velocity_plan(
    speed: float, yaw_rate: float = 0.0, num_steps: int = NUM_FUTURE, dt: float = STEP_S
) -> np.ndarray:
    """Waypoints of an ego that keeps its current speed and yaw rate.

    Exact integration of the unicycle model from the origin of the ego frame
    (x forward, y left, heading 0): constant speed ``v`` (m/s) along an arc of
    constant yaw rate ``w`` (rad/s); a straight line when ``w`` is ~0.

    Args:
        speed: current speed (m/s); negative values are clipped to 0.
        yaw_rate: current yaw rate (rad/s, positive = left).
        num_steps: number of waypoints.
        dt: time between waypoints (s).

    Returns:
        ``(num_steps, 2)`` float64 waypoints at t = dt, 2 dt, ...
    """
    v = max(float(speed), 0.0)
    w = float(yaw_rate)
    t = dt * np.arange(1, num_steps + 1)
    if abs(w) < 1e-6:
        return np.stack([v * t, np.zeros_like(t)], axis=-1)
    return np.stack([v / w * np.sin(w * t), v / w * (1.0 - np.cos(w * t))], axis=-1)


def constant_velocity_planner(sample: dict) -> np.ndarray:
    """Planner-function form for :func:`fastdrive.evaluation.open_loop.evaluate_open_loop`.

    Args:
        sample: a planning record or dataset item with ``speed`` and ``yaw_rate``
            (floats or 0-d / 1-element tensors), or ``ego_state`` ``[speed, accel, yaw_rate, ...]``.

    Returns:
        ``(6, 2)`` waypoints.
    """
    if "speed" in sample:
        speed, yaw_rate = float(sample["speed"]), float(sample["yaw_rate"])
    else:
        state = np.asarray(sample["ego_state"], float).reshape(-1)
        speed, yaw_rate = float(state[0]), float(state[2])
    return constant_velocity_plan(speed, yaw_rate)
