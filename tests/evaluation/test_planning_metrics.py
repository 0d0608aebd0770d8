"""Planning metrics on hand-made trajectories whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from fastdrive.evaluation.planning_metrics import (EGO_LENGTH, PlanningAccumulator,
                                                   collision_flags, l2_errors, offroad_flags,
                                                   path_headings)

STRAIGHT = np.stack([np.arange(1, 7) * 2.5, np.zeros(6)], axis=-1)  # 5 m/s forward


def test_l2_cumulative_means() -> None:
    pred = STRAIGHT.copy()
    pred[:, 1] += np.arange(1, 7)  # lateral error 1, 2, ..., 6 m
    out = l2_errors(pred[None], STRAIGHT[None])
    assert out["L2_1s"] == pytest.approx(1.5)  # mean(1, 2)
    assert out["L2_2s"] == pytest.approx(2.5)  # mean(1..4)
    assert out["L2_3s"] == pytest.approx(3.5)  # mean(1..6)
    assert out["L2_avg"] == pytest.approx(2.5)


def test_l2_shape_check() -> None:
    with pytest.raises(ValueError):
        l2_errors(np.zeros((1, 6, 2)), np.zeros((1, 5, 2)))


def test_headings_follow_path_and_hold_when_standing() -> None:
    traj = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    yaw = path_headings(traj)
    np.testing.assert_allclose(yaw, [0, np.pi / 2, np.pi / 2, np.pi, np.pi, np.pi])


def test_collision_with_car_ahead_only_when_reached() -> None:
    # A stopped car (4.5 m long) centred 12 m ahead: its rear is at 9.75 m.
    car = np.array([[12.0, 0.0, 4.5, 1.9, 0.0]])
    others = [car] * 6
    flags = collision_flags(STRAIGHT, others)
    # Ego front = x + 0.5 + 4.084 / 2; collides once that passes 9.75 m.
    front = STRAIGHT[:, 0] + 0.5 + EGO_LENGTH / 2
    np.testing.assert_array_equal(flags, front > 9.75)
    # The same car one lane over (3.5 m left) is never hit.
    shifted = [np.array([[12.0, 3.5, 4.5, 1.9, 0.0]])] * 6
    assert not collision_flags(STRAIGHT, shifted).any()


def test_offroad_when_leaving_the_road() -> None:
    road = box(-10, -3.5, 100, 3.5)
    assert not offroad_flags(STRAIGHT, road).any()
    veer = STRAIGHT.copy()
    veer[3:, 1] = 5.0
    np.testing.assert_array_equal(offroad_flags(veer, road), [False] * 3 + [True] * 3)


def test_accumulator_excludes_colliding_logs_and_reports_percent() -> None:
    acc = PlanningAccumulator()
    road = box(-10, -3.5, 100, 3.5)
    car = [np.array([[12.0, 0.0, 4.5, 1.9, 0.0]])] * 6
    stop_short = np.stack([np.linspace(1, 3, 6), np.zeros(6)], axis=-1)
    # Sample 1: logged path stops short, plan drives into the car.
    acc.update(STRAIGHT, stop_short, others=car, drivable=road)
    # Sample 2: the logged path itself hits the car -> excluded from collision.
    acc.update(stop_short, STRAIGHT, others=car, drivable=road)
    out = acc.compute()
    assert out["num_collision_excluded"] == 1
    expected = collision_flags(STRAIGHT, car).astype(float) * 100
    assert out["collision_3s"] == pytest.approx(expected.mean())
    assert out["collision_1s"] == pytest.approx(expected[:2].mean())
    assert out["intersection_avg"] == 0.0
    assert out["num_samples"] == 2
