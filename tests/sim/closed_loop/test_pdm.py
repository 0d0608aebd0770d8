"""PDM-style closed-loop score on hand-made trajectories whose answers are known."""

from typing import Callable, List

import numpy as np
import pytest
from shapely.geometry import box

from fastdrive.sim.closed_loop.pdm import (
    AgentBox,
    ComfortBounds,
    EgoTrace,
    PDMResult,
    SceneContext,
    comfort_violations,
    score_episode,
    summarize,
)

DT = 0.1
ROAD = box(-50.0, -5.0, 200.0, 5.0)  # a straight 10 m wide road along +x
ROUTE = np.array([[-50.0, 0.0], [200.0, 0.0]])


def _t(seconds: float = 4.0) -> np.ndarray:
    return np.arange(int(round(seconds / DT)) + 1) * DT


def straight(speed: float = 10.0, seconds: float = 4.0, x0: float = 0.0, y: float = 0.0) -> EgoTrace:
    """Constant-speed drive along +x."""
    t = _t(seconds)
    return EgoTrace(t, x0 + speed * t, np.full_like(t, y), np.zeros_like(t), np.full_like(t, speed))


def from_controls(t: np.ndarray, speed: np.ndarray, yaw: np.ndarray) -> EgoTrace:
    """Integrate positions from speed and heading (rectangle rule; only the comfort tests use it)."""
    x = np.concatenate([[0.0], np.cumsum(speed[:-1] * np.cos(yaw[:-1]) * DT)])
    y = np.concatenate([[0.0], np.cumsum(speed[:-1] * np.sin(yaw[:-1]) * DT)])
    return EgoTrace(t, x, y, yaw, speed)


def mover(token: str, kind: str, x0: float, y0: float, vx: float = 0.0, vy: float = 0.0,
          length: float = 4.5, width: float = 1.9) -> Callable[[float], AgentBox]:
    """An object moving at constant velocity, heading along its velocity (along +x when still)."""
    yaw = float(np.arctan2(vy, vx)) if (vx or vy) else 0.0
    return lambda t: AgentBox(token, kind, x0 + vx * t, y0 + vy * t, yaw, length, width, vx, vy)


def scene(ego: EgoTrace, objects=(), red=None, expert: float = 40.0, drivable=ROAD) -> SceneContext:
    agents: List[List[AgentBox]] = [[f(t) for f in objects] for t in ego.t]
    zones = red if red is not None else [[] for _ in ego.t]
    return SceneContext(agents, drivable, zones, ROUTE, expert)


def all_ones(r: PDMResult) -> bool:
    return (r.nc, r.dac, r.tlc, r.ep, r.ttc, r.c, r.pdms) == (1.0,) * 7


# ----------------------------------------------------------------------------- the clean drive


def test_smooth_straight_drive_scores_one_everywhere():
    ego = straight(10.0)  # 40 m in 4 s, as far as the expert
    oncoming = mover("onc", "vehicle", 80.0, 3.5, vx=-10.0)  # passes in the other lane
    r = score_episode(ego, scene(ego, [oncoming], expert=40.0))
    assert all_ones(r), r
    assert r.events == []
    assert r.ego_progress == pytest.approx(40.0)


# ----------------------------------------------------------------------------- NC


def test_frontal_collision_with_vehicle_is_at_fault_and_zeroes_pdms():
    ego = straight(10.0)
    head_on = mover("car1", "vehicle", 50.0, 0.0, vx=-5.0)  # meets the ego at t ~ 3.05 s
    r = score_episode(ego, scene(ego, [head_on]))
    assert r.nc == 0.0 and r.pdms == 0.0
    hits = [e for e in r.events if e.startswith("collision")]
    assert hits == [hits[0]] and "vehicle car1" in hits[0] and "(at fault)" in hits[0]  # counted once
    assert r.first_infraction_s == pytest.approx(3.0, abs=0.15)  # the first at-fault contact


def test_a_clean_episode_and_a_not_at_fault_contact_have_no_infraction():
    ego = straight(2.0)
    follower = mover("car2", "vehicle", -12.0, 0.0, vx=8.0)
    assert score_episode(ego, scene(ego, [follower], expert=8.0)).first_infraction_s is None


def test_rear_end_by_faster_vehicle_is_not_the_egos_fault():
    ego = straight(2.0)  # slow, but moving
    follower = mover("car2", "vehicle", -12.0, 0.0, vx=8.0)  # catches up at t ~ 1.3 s
    r = score_episode(ego, scene(ego, [follower], expert=8.0))
    assert any("car2" in e and "hit from behind" in e for e in r.events), r.events
    assert r.nc == 1.0 and r.ttc == 1.0 and r.pdms == 1.0


def test_stationary_ego_hit_from_the_side_is_not_at_fault():
    ego = straight(0.0)
    t_bone = mover("car3", "vehicle", 0.0, -12.0, vy=5.0)
    r = score_episode(ego, scene(ego, [t_bone], expert=0.0))
    assert any("car3" in e and "ego stationary" in e for e in r.events), r.events
    assert r.nc == 1.0 and r.ttc == 1.0 and r.ep == 1.0


def test_moving_ego_hit_from_the_side_is_at_fault():
    ego = straight(1.0)  # a T-bone into the middle of the rolling ego (at x ~ 1.8 by then)
    t_bone = mover("car3", "vehicle", 2.0, -12.0, vy=5.0)
    assert score_episode(ego, scene(ego, [t_bone], expert=4.0)).nc == 0.0


def test_collision_with_static_object_halves_nc():
    ego = straight(10.0)
    cone = mover("cone1", "static", 20.0, 0.0, length=0.5, width=0.5)
    r = score_episode(ego, scene(ego, [cone]))
    assert r.nc == 0.5
    assert r.ttc == 0.0  # it was seen coming
    assert r.pdms == pytest.approx(0.5 * (5 * 0.0 + 5 * 1.0 + 2 * 1.0) / 12)


def test_unknown_agent_kind_is_rejected():
    ego = straight(10.0)
    with pytest.raises(ValueError):
        score_episode(ego, scene(ego, [mover("x", "truck", 100.0, 0.0)]))


# ----------------------------------------------------------------------------- DAC and TLC


@pytest.mark.parametrize("drivable, dac", [
    (box(-50.0, -5.0, 25.0, 5.0), 0.0),  # the road ends at x = 25, the ego drives on to 40
    (box(-50.0, -5.0, 200.0, 0.925 - 0.05), 1.0),  # left corners 5 cm out: within the 0.1 m tolerance
    (box(-50.0, -5.0, 200.0, 0.925 - 0.15), 0.0),  # 15 cm out: beyond it
])
def test_drivable_area_compliance(drivable, dac):
    ego = straight(10.0)
    r = score_episode(ego, scene(ego, drivable=drivable))
    assert r.dac == dac
    assert r.pdms == (1.0 if dac else 0.0)


@pytest.mark.parametrize("zone, red_from, tlc", [
    (box(30.0, -5.0, 35.0, 5.0), 0, 0.0),  # driving into a red zone
    (box(-5.0, -5.0, 5.0, 5.0), 0, 1.0),  # already inside at the first step: leaving is fine
    (box(10.0, -5.0, 30.0, 5.0), 15, 1.0),  # turns red while the ego is already inside
    (box(10.0, -5.0, 30.0, 5.0), 0, 0.0),  # ...but red from the start: entering it counts
])
def test_traffic_light_compliance(zone, red_from, tlc):
    ego = straight(10.0)
    red = [[zone] if k >= red_from else [] for k in range(len(ego.t))]
    r = score_episode(ego, scene(ego, red=red))
    assert r.tlc == tlc
    assert r.pdms == (1.0 if tlc else 0.0)


# ----------------------------------------------------------------------------- EP


@pytest.mark.parametrize("speed, expert, ep", [
    (5.0, 40.0, 0.5),  # half the expert's distance
    (15.0, 40.0, 1.0),  # more than the expert
    (0.0, 2.0, 1.0),  # the expert barely moved: progress is not judged
    (0.0, 40.0, 0.0),  # the expert drove, the ego did not
])
def test_ego_progress(speed, expert, ep):
    ego = straight(speed)
    r = score_episode(ego, scene(ego, expert=expert))
    assert r.ep == pytest.approx(ep)
    assert r.ego_progress == pytest.approx(4.0 * speed)
    assert r.pdms == pytest.approx((5 + 5 * ep + 2) / 12)


# ----------------------------------------------------------------------------- TTC


@pytest.mark.parametrize("x_stopped, ttc", [(50.0, 0.0), (60.0, 1.0)])
def test_time_to_collision_with_object_ahead(x_stopped, ttc):
    ego = straight(10.0)  # front bumper ends at x ~ 42.0; 0.9 s ahead reaches ~ 51.0
    parked = mover("car4", "vehicle", x_stopped, 0.0)  # rear at x_stopped - 2.25
    r = score_episode(ego, scene(ego, [parked]))
    assert r.nc == 1.0 and r.ttc == ttc
    assert r.pdms == pytest.approx((5 * ttc + 5 + 2) / 12)


# ----------------------------------------------------------------------------- C


def _comfort_case(name: str) -> EgoTrace:
    t = _t(4.0)
    const = np.full_like(t, 10.0)
    cases = {
        "smooth": (const, np.zeros_like(t)),
        "accelerating": (5.0 + 3.0 * t, np.zeros_like(t)),  # lon_acc 3.0 > 2.40
        "braking": (25.0 - 5.0 * t, np.zeros_like(t)),  # lon_acc -5.0 < -4.05
        "lat_acc": (const, 0.6 * t),  # 10 m/s * 0.6 rad/s = 6.0 > 4.89
        "jerk": (const, -0.16 * np.cos(2.5 * t)),  # yaw rate 0.4 sin(2.5 t): lateral jerk 10 > 8.37
        "lon_jerk": (10.0 - (2.0 / 3.0) * np.cos(3.0 * t), np.zeros_like(t)),  # 6 cos(3 t): 6 > 4.13
        "yaw_rate": (np.full_like(t, 2.0), 1.2 * t),  # 1.2 > 0.95 rad/s
        # yaw rate 0.9 sin(2.6 t) stays under 0.95; its derivative 2.34 cos(2.6 t) exceeds 1.93 rad/s^2
        # (still ~2.1 after the 1.5 s Savitzky-Golay smoothing)
        "yaw_acc": (np.full_like(t, 1.0), -(0.9 / 2.6) * np.cos(2.6 * t)),
    }
    speed, yaw = cases[name]
    return from_controls(t, speed, yaw)


@pytest.mark.parametrize("case, violated", [
    ("smooth", []),
    ("accelerating", ["lon_acc"]),
    ("braking", ["lon_acc"]),
    ("lat_acc", ["lat_acc"]),
    ("jerk", ["jerk"]),
    ("lon_jerk", ["lon_jerk"]),
    ("yaw_rate", ["yaw_rate"]),
    ("yaw_acc", ["yaw_acc"]),
])
def test_each_comfort_bound_alone(case, violated):
    ego = _comfort_case(case)
    assert comfort_violations(ego) == violated
    big = box(-1000.0, -1000.0, 1000.0, 1000.0)
    r = score_episode(ego, SceneContext([], big, [], ROUTE, 0.0))
    assert r.c == (0.0 if violated else 1.0)


def test_comfort_bounds_are_configurable():
    ego = _comfort_case("accelerating")
    assert comfort_violations(ego, ComfortBounds(max_lon_acc=3.5)) == []


# ----------------------------------------------------------------------------- summarize


def _result(pdms: float) -> PDMResult:
    return PDMResult(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, pdms, [], 0.0)


def test_summarize_interval_contains_the_mean():
    rng = np.random.default_rng(1)
    scores = rng.uniform(0.3, 1.0, size=24)
    scenes = [f"s{i % 8}" for i in range(24)]
    out = summarize([_result(p) for p in scores], scenes)
    assert out["pdms"] == pytest.approx(scores.mean())
    lo, hi = out["pdms_ci"]
    assert lo < out["pdms"] < hi
    assert out["n_scenes"] == 8 and out["n_episodes"] == 24 and out["nc"] == 1.0


def test_summarize_resamples_whole_scenes():
    # scene a: three episodes at 1.0; scene b: one at 0.0. Whole-scene draws can only give
    # means 1.0, 0.75 or 0.0 (per-episode draws would also give e.g. 0.5)
    out = summarize([_result(1.0)] * 3 + [_result(0.0)], ["a", "a", "a", "b"], resamples=500)
    assert out["pdms"] == 0.75
    for end in out["pdms_ci"]:
        assert min(abs(end - v) for v in (0.0, 0.75, 1.0)) < 1e-9
    same = summarize([_result(0.6)] * 4, ["a", "b", "c", "d"])
    assert same["pdms_ci"] == pytest.approx((0.6, 0.6))


def test_paired_difference_resamples_scenes():
    from fastdrive.sim.closed_loop.pdm import paired_difference

    out = paired_difference([0.6, 0.7, 0.9], [0.5, 0.6, 0.8], ["a", "a", "b"], resamples=500)
    assert out["delta"] == pytest.approx(0.1) and out["delta_ci"] == pytest.approx((0.1, 0.1))
    mixed = paired_difference([1.0, 0.0], [0.0, 1.0], ["a", "b"], resamples=500)
    assert mixed["delta"] == 0.0 and mixed["delta_ci"][0] < 0 < mixed["delta_ci"][1]
    with pytest.raises(ValueError):
        paired_difference([1.0], [1.0, 2.0], ["a"])
