"""The closed-loop ego: kinematic bicycle ``step`` and the ``TrajectoryTracker``."""

import math

import numpy as np
import pytest

from fastdrive.sim.closed_loop.vehicle import TrajectoryTracker, VehicleLimits, VehicleState, step

LIMITS = VehicleLimits()
DT = 0.1  # s, simulation step
REPLAN_EVERY = 5  # steps: a new plan every 0.5 s
PLAN_DT, PLAN_LEN = 0.5, 6  # waypoints at 0.5 ... 3.0 s
DURATION = 8.0  # s


# ------------------------------------------------------------------ step

def test_step_is_exact_on_a_straight_line_and_on_a_constant_steer_circle():
    state = VehicleState(x=1.0, y=-2.0, yaw=0.0, speed=7.0)
    for k in range(1, 21):
        state = step(state, 0.0, 0.0, DT, LIMITS)
        assert state.x == pytest.approx(1.0 + 7.0 * DT * k, abs=1e-9)
        assert state.y == pytest.approx(-2.0, abs=1e-12) and state.speed == 7.0

    steer = 0.2
    radius = LIMITS.wheelbase / math.tan(steer)  # ~13.8 m
    state = VehicleState(x=0.0, y=0.0, yaw=0.3, speed=5.0, steer=steer)
    centre = np.array([-radius * math.sin(0.3), radius * math.cos(0.3)])  # left of the heading
    radii, yaws = [], []
    for _ in range(200):  # 100 m: more than a full turn
        state = step(state, 0.0, steer, DT, LIMITS)
        radii.append(math.hypot(state.x - centre[0], state.y - centre[1]))
    np.testing.assert_allclose(radii, radius, rtol=0.01)
    assert state.yaw_rate(LIMITS) == pytest.approx(5.0 / radius)


# ------------------------------------------------------------------ limits

def test_acceleration_jerk_steering_and_stop_limits_hold():
    state = VehicleState(x=0.0, y=0.0, yaw=0.0, speed=0.0)
    accels = [state.accel]
    for _ in range(30):
        state = step(state, 10.0, 0.0, DT, LIMITS)
        accels.append(state.accel)
    accels = np.array(accels)
    assert accels.max() == pytest.approx(LIMITS.max_accel)  # reached, never exceeded
    assert np.all(accels <= LIMITS.max_accel + 1e-12)
    assert np.all(np.abs(np.diff(accels)) <= LIMITS.max_jerk * DT + 1e-12)

    state = VehicleState(x=0.0, y=0.0, yaw=0.0, speed=3.0)
    steers = [state.steer]
    for cmd in [1.0] * 20 + [-1.0] * 40:
        state = step(state, 0.0, cmd, DT, LIMITS)
        steers.append(state.steer)
    steers = np.array(steers)
    assert np.all(np.abs(np.diff(steers)) <= LIMITS.max_steer_rate * DT + 1e-12)
    assert np.all(np.abs(steers) <= LIMITS.max_steer + 1e-12)
    assert steers.max() == pytest.approx(LIMITS.max_steer) and steers.min() == pytest.approx(-LIMITS.max_steer)

    state = VehicleState(x=0.0, y=0.0, yaw=0.0, speed=2.0, accel=-6.0)
    xs = [state.x]
    for _ in range(30):
        state = step(state, -50.0, 0.0, DT, LIMITS)
        assert state.speed >= 0.0 and state.accel >= -LIMITS.max_decel
        xs.append(state.x)
    assert state.speed == 0.0 and state.accel == 0.0
    assert np.all(np.diff(xs) >= 0.0)  # stopped, never reversed
    assert xs[-1] == pytest.approx(2.0 ** 2 / (2 * 6.0))  # stopping distance v^2 / 2a

    fast = VehicleState(x=0.0, y=0.0, yaw=0.0, speed=19.9, accel=2.4)
    fast = step(fast, 10.0, 0.0, DT, LIMITS)
    assert fast.speed == LIMITS.max_speed


# ------------------------------------------------------------------ tracker

class _Straight:
    """The +x axis; ``project`` returns (along-track, cross-track) in m."""

    def pose(self, s):
        return s, 0.0, 0.0

    def project(self, x, y):
        return x, abs(y)


class _LeftArc:
    """A left circle of radius ``radius`` m starting at the origin heading +x."""

    def __init__(self, radius):
        self.radius = radius

    def pose(self, s):
        th = s / self.radius
        return self.radius * math.sin(th), self.radius * (1.0 - math.cos(th)), th

    def project(self, x, y):
        return self.radius * math.atan2(x, self.radius - y), abs(math.hypot(x, y - self.radius) - self.radius)


def _braking(t):  # 10 m/s, 10/3 m/s^2 to a stop at t = 3 s, 15 m
    t = min(t, 3.0)
    return 10.0 * t - (10.0 / 6.0) * t * t, 10.0 - (10.0 / 3.0) * t


def _starting(t):  # standstill, 1.5 m/s^2 up to 5 m/s
    t_top = 5.0 / 1.5
    if t < t_top:
        return 0.75 * t * t, 1.5 * t
    return 0.75 * t_top ** 2 + 5.0 * (t - t_top), 5.0


CASES = {
    "straight_8mps": (_Straight(), lambda t: (8.0 * t, 8.0)),
    "left_arc_r30_6mps": (_LeftArc(30.0), lambda t: (6.0 * t, 6.0)),
    "brake_10mps_to_stop": (_Straight(), _braking),
    "start_to_5mps": (_Straight(), _starting),
}


def _drive(path, profile):
    """Closed loop at DT with a perfect planner: every 0.5 s the reference at +0.5 ... +3.0 s,
    re-expressed in the current ego frame. Returns (max cross-track m, along-track error at the
    end m, final state)."""
    x, y, yaw = path.pose(0.0)
    state = VehicleState(x=x, y=y, yaw=yaw, speed=profile(0.0)[1])
    tracker = TrajectoryTracker(LIMITS)
    steps = int(round(DURATION / DT))
    max_cross = 0.0
    for k in range(steps):
        if k % REPLAN_EVERY == 0:
            t0 = k * DT
            ref = np.array([path.pose(profile(t0 + PLAN_DT * i)[0])[:2] for i in range(1, PLAN_LEN + 1)])
            c, s = math.cos(state.yaw), math.sin(state.yaw)
            d = ref - [state.x, state.y]
            tracker.set_plan(state, np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], 1), PLAN_DT)
            k_plan = k
        state = step(state, *tracker.control(state, (k - k_plan) * DT), DT, LIMITS)
        max_cross = max(max_cross, path.project(state.x, state.y)[1])
    along = path.project(state.x, state.y)[0] - profile(steps * DT)[0]
    return max_cross, along, state


@pytest.mark.parametrize("case", sorted(CASES))
def test_tracker_follows_reference_trajectories(case):
    """Over 8 s at dt = 0.1 s, re-planned every 0.5 s from the true reference: max cross-track
    distance from the reference path < 0.3 m, final along-track error < 1.0 m; the braking case
    ends stopped (speed < 0.1 m/s) within 1.5 m of the reference stop point."""
    path, profile = CASES[case]
    max_cross, along, state = _drive(path, profile)
    print(f"{case}: max cross-track {max_cross:.3f} m, along-track {along:+.3f} m, speed {state.speed:.3f}")
    assert max_cross < 0.3
    assert abs(along) < 1.0
    if case == "brake_10mps_to_stop":
        assert state.speed < 0.1
        assert math.hypot(state.x - 15.0, state.y) < 1.5


def test_plan_in_a_rotated_translated_ego_frame_lands_in_the_global_frame():
    tracker = TrajectoryTracker()
    state = VehicleState(x=10.0, y=5.0, yaw=math.pi / 2, speed=5.0)
    wp = np.array([[5.0, 0.0], [10.0, 2.0], [15.0, 0.0], [20.0, 0.0], [25.0, 0.0], [30.0, 0.0]])
    tracker.set_plan(state, wp)
    np.testing.assert_allclose(tracker.path[0], [10.0, 5.0])
    np.testing.assert_allclose(tracker.path[1], [10.0, 10.0], atol=1e-12)
    np.testing.assert_allclose(tracker.path[2], [8.0, 15.0], atol=1e-12)  # 2 m left of +y is -x
    np.testing.assert_allclose(tracker.times, PLAN_DT * np.arange(7))


def test_a_plan_that_stops_brings_the_car_to_a_full_stop_and_holds_it():
    """Waypoints bunched within 0.3 m (with 5 cm noise) mean "stop": a car creeping at 1 m/s
    stops within 1 s and stays put, steering held."""
    rng = np.random.default_rng(0)
    tracker = TrajectoryTracker(LIMITS)
    state = VehicleState(x=0.0, y=0.0, yaw=0.0, speed=1.0)
    for k in range(40):
        if k % REPLAN_EVERY == 0:
            tracker.set_plan(state, rng.normal(0.0, 0.05, (PLAN_LEN, 2)), PLAN_DT)
            k_plan = k
        state = step(state, *tracker.control(state, (k - k_plan) * DT), DT, LIMITS)
        if k == 9:
            assert state.speed == 0.0
    assert state.speed == 0.0 and state.x < 0.5 and abs(state.steer) < 1e-12
