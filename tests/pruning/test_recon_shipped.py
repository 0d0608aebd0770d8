"""The shipped ReconPruner, loaded by name, keeps more foreground than random on a world it never saw."""

from __future__ import annotations

from fastdrive.datasets.planning import PlanningDataset
from fastdrive.evaluation.pruning_sweep import run_pruning_sweep
from fastdrive.evaluation.sweep_report import sweep_token_metrics
from fastdrive.planner import EmbeddedPlanner
from fastdrive.planner.types import PruningSpec
from fastdrive.pruning.recon_pruner import SHIPPED_WEIGHTS


def test_shipped_recon_beats_random_on_foreground_precision(planning_world_root, one_thread):
    planner = EmbeddedPlanner.from_checkpoint()
    assert planner.pool.pruner(PruningSpec("recon", 0.5)).weights_path == SHIPPED_WEIGHTS
    ds = PlanningDataset(planning_world_root, "v1.0-fastdrive", "train")  # seed 5, 320x180: never trained on
    result = run_pruning_sweep(planner, ds, ["recon", "random"], (0.5, 0.75), swap=False, warmup=False)
    tokens = sweep_token_metrics(result, planning_world_root)
    for ratio in ("0.5", "0.75"):
        recon, rand = tokens[f"recon@{ratio}"], tokens[f"random@{ratio}"]
        assert recon["fg_precision"] > rand["fg_precision"] + 0.1, (ratio, recon["fg_precision"], rand["fg_precision"])
