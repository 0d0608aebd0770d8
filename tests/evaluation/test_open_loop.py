"""``evaluate_open_loop`` and ``PlanningMetric`` on the tiny planning world."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "datasets"))
from planning_world import VERSION, planning_world  # noqa: E402

from fastdrive.datasets.planning import PlanningDataset, constant_velocity_planner  # noqa: E402
from fastdrive.evaluation.open_loop import PlanningMetric, evaluate_open_loop  # noqa: E402
from fastdrive.registry import METRICS  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402


@pytest.fixture(scope="session")
def val_ds(tmp_path_factory):
    return PlanningDataset(str(planning_world(tmp_path_factory)), VERSION, "val", load_images=False)


def test_ground_truth_planner_scores_perfectly(val_ds):
    m = evaluate_open_loop(lambda item: item["meta"]["gt_traj"], val_ds)
    for key in ("L2_1s", "L2_2s", "L2_3s", "L2_avg", "collision_avg", "intersection_avg"):
        assert m[key] == 0.0, key
    assert m["num_samples"] == 10 and m["num_skipped"] == 6  # 16 keyframes, the last 6 lack a full future


def test_constant_velocity_and_offroad_planners(val_ds):
    cv = evaluate_open_loop(constant_velocity_planner, val_ds)
    assert 0.0 < cv["L2_1s"] < cv["L2_2s"] < cv["L2_3s"]
    side = evaluate_open_loop(lambda item: item["meta"]["gt_traj"] + np.array([0.0, 15.0]), val_ds)
    assert side["L2_avg"] == pytest.approx(15.0)
    assert side["intersection_avg"] > 50.0


def test_planning_metric_matches_evaluate_open_loop(val_ds):
    metric = METRICS.build(dict(type="PlanningMetric"))
    assert isinstance(metric, PlanningMetric)
    items = [val_ds[i] for i in range(len(val_ds))]
    preds = [{"pred_traj": torch.from_numpy(constant_velocity_planner(it)).float()} for it in items]
    for lo, hi in ((0, 8), (8, len(items))):  # batches as mmengine's Runner collates them
        batch = pseudo_collate(items[lo:hi])
        assert batch["gt_traj"][0].shape == (6, 2) and len(batch["meta"]) == hi - lo
        metric.process(batch, preds[lo:hi])
    got = metric.compute_metrics(metric.results)
    want = evaluate_open_loop(constant_velocity_planner, items)
    for key in ("L2_avg", "collision_avg", "intersection_avg", "num_samples"):
        assert got[key] == pytest.approx(want[key], abs=1e-5), key
    metric2 = PlanningMetric(use_map=False)
    metric2.process(None, [dict(it["meta"], pred_traj=it["meta"]["gt_traj"]) for it in items])
    out = metric2.compute_metrics(metric2.results)
    assert out["L2_avg"] == 0.0 and "intersection_avg" not in out
