"""Ego vehicle of the closed loop: a kinematic bicycle and a trajectory-tracking controller.

* :func:`step` advances a rear-axle-centred kinematic bicycle by one time step. The limited
  acceleration and steering angle are held constant over the step (zero-order hold), and the
  pose is integrated *exactly* for that hold: with the steering fixed the rear axle moves on an
  arc of curvature ``tan(steer) / wheelbase``, so the pose only depends on the distance driven,
  which is integrated in closed form (speed clamped to ``[0, max_speed]``).
* :class:`TrajectoryTracker` follows a plan (6 ego-frame waypoints at 0.5 ... 3.0 s): pure pursuit
  for the steering, speed-profile feed-forward plus a P term on speed for the acceleration, and a
  full stop when the plan stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

STOP_RADIUS = 0.3  # m: waypoints this close to the last one mean "the plan stops here"
_EXTENSION = 100.0  # m: the path is extrapolated this far along its last direction


@dataclass(frozen=True)
class VehicleLimits:
    """Geometry and actuator limits of the ego vehicle."""

    wheelbase: float = 2.8  # m
    max_accel: float = 2.4  # m/s^2 (inside the comfort bound of the scorer)
    max_decel: float = 6.0  # m/s^2 (emergency braking allowed)
    max_jerk: float = 4.0  # m/s^3: how fast the applied acceleration may change
    max_steer: float = 0.6  # rad
    max_steer_rate: float = 0.5  # rad/s
    max_speed: float = 20.0  # m/s


@dataclass
class VehicleState:
    """Kinematic bicycle state at the rear axle, global frame (x, y in m; yaw, steer in rad)."""

    x: float
    y: float
    yaw: float  # rad, counter-clockwise from +x
    speed: float  # m/s, >= 0 (no reversing)
    accel: float = 0.0  # m/s^2, the applied one (0 while standing still)
    steer: float = 0.0  # rad, front-wheel angle, positive = left

    def yaw_rate(self, limits: VehicleLimits) -> float:
        """Yaw rate (rad/s) ``speed * tan(steer) / wheelbase``."""
        return self.speed * math.tan(self.steer) / limits.wheelbase


def _rate_limit(target: float, current: float, max_delta: float, lo: float, hi: float) -> float:
    """``target`` clamped to ``[lo, hi]`` and to ``current +- max_delta``."""
    value = min(max(target, lo), hi)
    value = min(max(value, current - max_delta), current + max_delta)
    return min(max(value, lo), hi)


def step(state: VehicleState, accel_cmd: float, steer_cmd: float, dt: float,
         limits: VehicleLimits) -> VehicleState:
    """Advance ``state`` by ``dt`` seconds under the commands (m/s^2, rad); returns a new state.

    The acceleration is clamped to ``[-max_decel, max_accel]`` and its change to
    ``max_jerk * dt``; the steering to ``+-max_steer`` and its change to ``max_steer_rate * dt``.
    Both are then held over the step. The speed is integrated in closed form and clamped to
    ``[0, max_speed]`` (a braking car stops, it never reverses; once stopped or at the speed cap
    the applied acceleration reads 0). The pose follows the exact arc of the held steering angle.
    """
    if dt <= 0:
        raise ValueError(f"dt must be positive, got {dt}")
    accel = _rate_limit(accel_cmd, state.accel, limits.max_jerk * dt, -limits.max_decel, limits.max_accel)
    steer = _rate_limit(steer_cmd, state.steer, limits.max_steer_rate * dt, -limits.max_steer, limits.max_steer)
    v0 = min(max(state.speed, 0.0), limits.max_speed)
    v1 = v0 + accel * dt
    if v1 <= 0.0 and accel < 0.0:  # stops within the step
        tau = v0 / -accel
        dist, v1, accel = 0.5 * v0 * tau, 0.0, 0.0
    elif v1 >= limits.max_speed and accel > 0.0:  # reaches the speed cap within the step
        tau = (limits.max_speed - v0) / accel
        dist = v0 * tau + 0.5 * accel * tau * tau + limits.max_speed * (dt - tau)
        v1, accel = limits.max_speed, 0.0
    else:
        dist = v0 * dt + 0.5 * accel * dt * dt
    dyaw = math.tan(steer) / limits.wheelbase * dist
    chord = dist * float(np.sinc(dyaw / (2.0 * math.pi)))  # 2 R sin(dyaw / 2), finite at dyaw = 0
    heading = state.yaw + 0.5 * dyaw
    yaw = math.atan2(math.sin(state.yaw + dyaw), math.cos(state.yaw + dyaw))
    return VehicleState(x=state.x + chord * math.cos(heading), y=state.y + chord * math.sin(heading),
                        yaw=yaw, speed=v1, accel=accel, steer=steer)


class TrajectoryTracker:
    """Follows a planned trajectory given as waypoints in the ego frame at the time of planning.

    Lateral: pure pursuit on the planned path (rear axle), lookahead distance
    ``max(min_lookahead, lookahead_time * speed)`` m, the path extrapolated along its last
    direction. Longitudinal: ``accel = a_plan(t) + speed_gain * (v_plan(t) - speed) +
    position_gain * e(t)`` with the plan's position, speed and acceleration at ``t`` read off the
    waypoints (linear in time between them) and ``e`` the along-track distance the car is behind
    the plan's position (negative ahead of it: the car waits for the plan rather than racing a
    plan point that lies behind it); once the plan has stopped and the car is within
    :data:`STOP_RADIUS` of its end, it brakes to a standstill (``max(1.5, stop_gain * speed)``
    m/s^2), past its end with ``max_decel``.
    """

    def __init__(self, limits: Optional[VehicleLimits] = None, lookahead_time: float = 0.8,
                 min_lookahead: float = 2.5, speed_gain: float = 2.0, position_gain: float = 2.0,
                 stop_gain: float = 2.0) -> None:
        self.limits = limits if limits is not None else VehicleLimits()
        self.position_gain = position_gain  # 1/s^2
        self.stop_gain = stop_gain  # 1/s: braking at the stop, as a share of speed
        self.lookahead_time = lookahead_time  # s
        self.min_lookahead = min_lookahead  # m
        self.speed_gain = speed_gain  # 1/s
        self.path: Optional[np.ndarray] = None  # (N + 1, 2) global, m: plan-time position + waypoints
        self.times: Optional[np.ndarray] = None  # (N + 1,) s after planning

    def set_plan(self, state: VehicleState, waypoints_ego: np.ndarray, dt_plan: float = 0.5) -> None:
        """Store a plan: ``waypoints_ego (N, 2)`` (x forward, y left, m) at ``dt_plan * (1 ... N)`` s
        after planning, relative to ``state``'s pose; kept in the global frame, starting at
        ``state``'s position."""
        wp = np.asarray(waypoints_ego, np.float64).reshape(-1, 2)
        if len(wp) == 0 or not np.all(np.isfinite(wp)):
            raise ValueError("a plan needs at least one finite waypoint")
        c, s = math.cos(state.yaw), math.sin(state.yaw)
        glob = np.stack([state.x + c * wp[:, 0] - s * wp[:, 1], state.y + s * wp[:, 0] + c * wp[:, 1]], axis=1)
        self.path = np.vstack([[state.x, state.y], glob])
        self.times = dt_plan * np.arange(len(self.path), dtype=np.float64)
        seg = np.linalg.norm(np.diff(self.path, axis=0), axis=1)
        self._arc = np.concatenate([[0.0], np.cumsum(seg)])  # (N + 1,) m
        self._seg_speed = seg / dt_plan  # (N,) m/s at the segment mid-times
        self._mid_times = dt_plan * (np.arange(len(seg)) + 0.5)
        # "the plan stops": its last points bunch within STOP_RADIUS of the final one
        far = np.linalg.norm(self.path - self.path[-1], axis=1) >= STOP_RADIUS
        self._stops = not far[-2]
        self._degenerate = not far.any()  # the whole plan stays put: no direction to steer along
        if self._degenerate:
            self._ext_path, self._ext_arc = self.path, self._arc
            return
        last_far = int(np.nonzero(far)[0][-1])
        direction = self.path[-1] - self.path[last_far]
        end = self.path[-1] + _EXTENSION * direction / np.linalg.norm(direction)
        self._ext_path = np.vstack([self.path, end])
        self._ext_arc = np.concatenate([self._arc, [self._arc[-1] + _EXTENSION]])

    def reference(self, t: float) -> np.ndarray:
        """``(2,)`` global position the plan holds at ``t`` s after planning (linear between waypoints,
        extrapolated along the last segment's velocity beyond the last)."""
        times, path = self.times, self.path
        if t >= times[-1]:
            vel = (path[-1] - path[-2]) / (times[-1] - times[-2])
            return path[-1] + (t - times[-1]) * vel
        return np.array([np.interp(t, times, path[:, 0]), np.interp(t, times, path[:, 1])])

    def plan_speed(self, t_since_plan: float, heading: Optional[float] = None) -> Tuple[float, float]:
        """The plan's (speed m/s, acceleration m/s^2) at ``t_since_plan`` s: central differences of
        :meth:`reference` over 0.5 s; motion against ``heading`` (a plan point behind the car) counts
        as no forward speed, since the car does not reverse."""
        h = 0.25

        def speed(t: float) -> float:
            d = self.reference(t + h) - self.reference(max(t - h, 0.0))
            v = float(np.hypot(*d)) / (t + h - max(t - h, 0.0))
            if heading is not None and d @ np.array([math.cos(heading), math.sin(heading)]) < 0:
                return 0.0
            return v

        v = speed(t_since_plan)
        return v, (speed(t_since_plan + h) - speed(max(t_since_plan - h, 0.0))) / (2 * h)

    def _project(self, point: np.ndarray) -> float:
        """Arc length (m) of the closest point of the (extended) path to ``point (2,)``."""
        a, b = self._ext_path[:-1], self._ext_path[1:]
        seg = b - a
        len2 = np.maximum((seg * seg).sum(1), 1e-12)
        u = np.clip(((point - a) * seg).sum(1) / len2, 0.0, 1.0)
        k = int(np.argmin(np.linalg.norm(a + u[:, None] * seg - point, axis=1)))
        return float(self._ext_arc[k] + u[k] * (self._ext_arc[k + 1] - self._ext_arc[k]))

    def control(self, state: VehicleState, t_since_plan: float) -> Tuple[float, float]:
        """(accel_cmd m/s^2, steer_cmd rad) for ``state``, ``t_since_plan`` s after :meth:`set_plan`."""
        if self.path is None:
            raise RuntimeError("control() before set_plan()")
        lim = self.limits
        pos = np.array([state.x, state.y])
        s_here = self._project(pos)
        # longitudinal: the plan's speed profile, plus feedback on the along-track position error
        heading = np.array([math.cos(state.yaw), math.sin(state.yaw)])
        v_ref, a_ref = self.plan_speed(t_since_plan, state.yaw)
        error = float((self.reference(t_since_plan) - pos) @ heading)  # m, > 0: the car is behind
        to_end = float((self.path[-1] - pos) @ heading)
        if self._stops and v_ref < 0.3 and to_end <= 0.0:  # past where the plan stops: stop now
            accel = -lim.max_decel
        elif self._stops and v_ref < 0.3 and to_end <= STOP_RADIUS:  # at the stop: come to a standstill
            accel = -max(1.5, self.stop_gain * state.speed)
        else:
            accel = a_ref + self.speed_gain * (v_ref - state.speed) + self.position_gain * error
        # lateral: pure pursuit towards the path point one lookahead further along
        if self._degenerate:
            return float(accel), float(state.steer)
        s_target = s_here + max(self.min_lookahead, self.lookahead_time * state.speed)
        target = np.array([np.interp(s_target, self._ext_arc, self._ext_path[:, 0]),
                           np.interp(s_target, self._ext_arc, self._ext_path[:, 1])])
        dx, dy = target - pos
        c, s = math.cos(state.yaw), math.sin(state.yaw)
        lateral = -s * dx + c * dy
        dist2 = max(dx * dx + dy * dy, 1e-6)
        steer = math.atan(2.0 * lim.wheelbase * lateral / dist2)
        return float(accel), float(np.clip(steer, -lim.max_steer, lim.max_steer))
