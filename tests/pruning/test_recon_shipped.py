"""The shipped ReconPruner, loaded by name, keeps more of the objects than random on a world it never saw.

Its foreground is the object classes (road left out; configs/recon_pruner/recon_pruner_tiny-objects_*)."""

from __future__ import annotations

from fastdrive.datasets.planning import PlanningDataset
from fastdrive.evaluation.pruning_sweep import run_pruning_sweep
from fastdrive.evaluation.sweep_report import sweep_token_metrics
from fastdrive.planner import EmbeddedPlanner
from fastdrive.planner.types import PruningSpec
from fastdrive.pruning.recon_pruner import SHIPPED_WEIGHTS


def test_shipped_recon_keeps_more_objects_than_random(planning_world_root, one_thread):
    planner = EmbeddedPlanner.from_checkpoint()
    assert planner.pool.pruner(PruningSpec("recon", 0.5)).weights_path == SHIPPED_WEIGHTS
    ds = PlanningDataset(planning_world_root, "v1.0-fastdrive", "train")  # seed 5, 320x180: never trained on
    result = run_pruning_sweep(planner, ds, ["recon", "random"], (0.5, 0.75), swap=False, warmup=False)
    tokens = sweep_token_metrics(result, planning_world_root)
    for ratio in ("0.5", "0.75"):
        recon, rand = tokens[f"recon@{ratio}"], tokens[f"random@{ratio}"]
        # the world's object cells and instances (people, cars, signs: 11 cells, 21 instances in 10 frames)
        assert recon["object_recall"] >= rand["object_recall"] + 0.25, (ratio, recon, rand)
        # 21 instances: at 50% random already covers 17 of them, so one more instance is the margin there
        margin = 0.1 if ratio == "0.75" else 0.0
        assert recon["instance_coverage"] > rand["instance_coverage"] + margin, (ratio, recon, rand)
        assert recon["object_precision"] > rand["object_precision"], (ratio, recon, rand)


def test_peaks_first_is_a_per_request_option_of_the_shipped_recon(planning_world_root, one_thread):
    """A service (strict options) serves ``recon`` with ``peaks_first``; on real frames it keeps another set."""
    import numpy as np

    from fastdrive.evaluation.pruning_sweep import item_ego_state, item_frames

    planner = EmbeddedPlanner.from_checkpoint(methods=["recon"], strict_options=True)
    ds = PlanningDataset(planning_world_root, "v1.0-fastdrive", "train")
    differs = 0
    for i in range(4):
        item = ds[i]
        frames, ego = item_frames(item, ds.cameras), item_ego_state(item)
        plain = planner.plan(frames, ego, "straight", PruningSpec("recon", 0.75))
        peaks = planner.plan(frames, ego, "straight", PruningSpec("recon", 0.75, {"peaks_first": True}))
        assert peaks.num_kept == plain.num_kept == 36
        differs += int(not np.array_equal(peaks.kept_mask(), plain.kept_mask()))
    assert differs >= 2
