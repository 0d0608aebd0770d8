"""The shipped driving VLA on a world it never saw: clearly better than constant velocity.

The tiny test world (seed 5, 320x180 frames) differs from the training world
(seed 1, 1600x900) in towns, traffic and image size, so this checks that the
shipped file, its prompt and the image preprocessing still fit together.
"""

from __future__ import annotations

import itertools
import os

import pytest

from fastdrive.datasets.planning import PlanningDataset, constant_velocity_planner
from fastdrive.evaluation import evaluate_open_loop
from fastdrive.evaluation.pruning_sweep import plan_item
from fastdrive.planner import DEFAULT_CHECKPOINT, EmbeddedPlanner

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.skipif(not os.path.isfile(DEFAULT_CHECKPOINT), reason="no shipped checkpoint")]


def test_shipped_planner_beats_constant_velocity(planning_world_root):
    planner = EmbeddedPlanner.from_checkpoint()
    splits = [PlanningDataset(planning_world_root, split=s, image_size=planner.model.image_size)
              for s in ("train", "val")]

    def items():
        return itertools.chain.from_iterable((ds[i] for i in range(len(ds))) for ds in splits)

    model = evaluate_open_loop(lambda it: plan_item(planner, it, ("CAM_FRONT",)).waypoints, items())
    cv = evaluate_open_loop(constant_velocity_planner, items())
    assert model["num_samples"] == cv["num_samples"] >= 15
    assert model["L2_avg"] < 0.7 * cv["L2_avg"], (model["L2_avg"], cv["L2_avg"])
    assert model["collision_avg"] <= cv["collision_avg"]
