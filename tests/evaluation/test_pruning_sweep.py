"""``run_pruning_sweep`` on the tiny planning world with a tiny random driving VLA."""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "datasets"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from planning_world import VERSION, planning_world  # noqa: E402
from tiny_planner import NUM_VISUAL, export_tiny_planner  # noqa: E402

from fastdrive.datasets.planning import PlanningDataset, constant_velocity_planner  # noqa: E402
from fastdrive.evaluation.open_loop import evaluate_open_loop  # noqa: E402
from fastdrive.evaluation.pruning_sweep import (item_frames, ordered_indices, plan_item,  # noqa: E402
                                                run_pruning_sweep)
from fastdrive.planner import EmbeddedPlanner  # noqa: E402

METHODS = ("random", "grid", "fastv")  # two pre-LLM, one in-LLM; all keep a fixed count
RATIOS = (0.0, 0.25, 0.5, 0.75)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return str(planning_world(tmp_path_factory))


@pytest.fixture(scope="module")
def planner(tmp_path_factory):
    path = export_tiny_planner(tmp_path_factory.mktemp("tiny_vla") / "tiny.pth")
    return EmbeddedPlanner.from_checkpoint(str(path))


@pytest.fixture(scope="module")
def val_ds(root):
    return PlanningDataset(root, VERSION, "val")  # images at file size (320x180); the planner resizes


@pytest.fixture(scope="module")
def sweep(planner, val_ds):
    return run_pruning_sweep(planner, val_ds, METHODS, RATIOS)


def test_rows_token_counts_and_finite_metrics(sweep):
    assert [(r.method, r.ratio) for r in sweep.rows] == [(m, r) for m in METHODS for r in RATIOS]
    assert sweep.num_samples == 10 and sweep.num_scenes == 1  # 16 keyframes, 6 without a full future
    for row in sweep.rows:
        assert row.error is None
        assert row.num_visual == NUM_VISUAL
        assert row.tokens_kept == math.floor(NUM_VISUAL * (1.0 - row.ratio))
        assert row.metrics["num_samples"] == 10
        for key in ("L2_1s", "L2_2s", "L2_3s", "L2_avg", "collision_avg", "intersection_avg"):
            assert math.isfinite(row.metrics[key]), (row.method, row.ratio, key)
        assert row.latency_ms > 0 and row.unpruned_latency_ms > 0 and math.isfinite(row.latency_rel)
        assert row.pruner_ms >= 0.0
        if row.ratio > 0:
            assert row.pruner_ms > 0.0
    assert sweep.unpruned.tokens_kept == NUM_VISUAL and sweep.unpruned.pruner_ms == 0.0


def test_ratio_zero_is_the_unpruned_run_and_pruning_changes_plans(sweep):
    for m in METHODS:
        zero = sweep.row(m, 0.0)
        assert zero.metrics == sweep.unpruned.metrics
        assert zero.latency_ms == sweep.unpruned.latency_ms and zero.latency_rel == 1.0
        rel = sweep.relative(zero)
        assert rel["L2_avg_rel"] == 1.0 and rel["collision_avg_delta"] == 0.0 and rel["tokens_share"] == 1.0
    # the random model's plans depend on what it sees: removing 75% of the tokens moves them
    assert any(sweep.row(m, 0.75).metrics["L2_avg"] != sweep.unpruned.metrics["L2_avg"] for m in METHODS)
    rel = sweep.relative(sweep.row("grid", 0.75))
    assert rel["tokens_share"] == pytest.approx(6 / 24)
    assert rel["L2_avg_rel"] == pytest.approx(sweep.row("grid", 0.75).metrics["L2_avg"]
                                              / sweep.unpruned.metrics["L2_avg"])


def test_unpruned_and_constant_velocity_match_evaluate_open_loop(sweep, planner, val_ds):
    ref = evaluate_open_loop(lambda item: plan_item(planner, item, val_ds.cameras).waypoints, val_ds)
    for key in ("L2_1s", "L2_2s", "L2_3s", "L2_avg", "collision_avg", "intersection_avg", "num_samples"):
        assert sweep.unpruned.metrics[key] == pytest.approx(ref[key], abs=1e-9), key
    cv = evaluate_open_loop(constant_velocity_planner, val_ds)
    for key in ("L2_avg", "collision_avg", "intersection_avg", "num_samples"):
        assert sweep.constant_velocity.metrics[key] == pytest.approx(cv[key], rel=1e-6, abs=1e-9), key
    assert sweep.constant_velocity.metrics["L2_avg"] != sweep.unpruned.metrics["L2_avg"]


def test_item_frames_are_the_image_as_uint8(val_ds):
    item = val_ds[0]
    frames = item_frames(item, val_ds.cameras)
    assert list(frames) == ["CAM_FRONT"] and frames["CAM_FRONT"].shape == (180, 320, 3)
    assert frames["CAM_FRONT"].dtype == np.uint8
    np.testing.assert_array_equal(frames["CAM_FRONT"].astype(np.float32) / 255.0,
                                  item["imgs"][0].permute(1, 2, 0).numpy())


class _TwoScenes:
    """train + val splits in one dataset, samples in reverse order (the sweep must sort them)."""

    def __init__(self, root, prev_frame=False):
        self.parts = [PlanningDataset(root, VERSION, s, image_size=(168, 112), prev_frame=prev_frame)
                      for s in ("train", "val")]
        self.cameras = self.parts[0].cameras
        self.index = [(p, i) for p in self.parts for i in range(len(p))][::-1]

    def __len__(self):
        return len(self.index)

    def get_data_info(self, i):
        p, j = self.index[i]
        return p.get_data_info(j)

    def __getitem__(self, i):
        p, j = self.index[i]
        return p[j]


class _Recording(EmbeddedPlanner):
    """The real planner, logging (session_id, method) of each call and each reset."""

    def __init__(self, inner):
        super().__init__(inner.model)
        self.log = []
        self.clips = []  # (session_id, frames, prev_frames) of each call

    def plan(self, frames, ego_state, command, pruning=None, session_id=None, prev_frames=None):
        self.log.append(("plan", session_id, None if pruning is None else pruning.method))
        self.clips.append((session_id, frames, prev_frames))
        return super().plan(frames, ego_state, command, pruning, session_id, prev_frames)

    def reset(self, session_id=None):
        self.log.append(("reset", session_id, None))
        super().reset(session_id)


def test_scene_order_sessions_resets_pairing_and_errors(root, planner):
    ds = _TwoScenes(root)
    order = ordered_indices(ds)
    assert len(order) == 20
    scenes = [s for _, s in order]
    assert scenes[:10] == [scenes[0]] * 10 and scenes[10:] == [scenes[10]] * 10 and scenes[0] != scenes[10]
    stamps = [ds.get_data_info(i)["timestamp"] for i, _ in order]
    assert stamps[:10] == sorted(stamps[:10]) and stamps[10:] == sorted(stamps[10:])

    rec = _Recording(planner)
    res = run_pruning_sweep(rec, ds, ["grid", "fastv"], (0.5,), options={"fastv": {"layer": 99}},
                            limit=13, pairing="sample", warmup=True, swap=False)
    assert res.num_samples == 13 and res.num_scenes == 2
    assert res.row("fastv", 0.5).error is not None and "99" in res.row("fastv", 0.5).error
    assert not res.row("fastv", 0.5).metrics and res.row("grid", 0.5).tokens_kept == 12
    calls = [e for e in rec.log if e[0] == "plan" and e[1] != "__warmup__" and e[1] is not None]
    # pairing='sample': one unpruned + one grid call per sample, session = the scene token
    assert len(calls) == 26
    assert [c[1] for c in calls[::2]] == scenes[:13] and [c[2] for c in calls] == [None, "grid"] * 13
    # each configuration keeps its own temporal session per scene
    assert [c[1] for c in calls[1::2]] == [f"{s}/grid/0.5" for s in scenes[:13]]
    first_a = next(i for i, e in enumerate(rec.log) if e[0] == "plan" and e[1] == scenes[0])
    first_b = next(i for i, e in enumerate(rec.log) if e[0] == "plan" and e[1] == scenes[10])
    assert rec.log[first_a - 1][0] == "reset" and rec.log[first_b - 1][0] == "reset"  # between scenes
    assert sum(e[0] == "reset" for e in rec.log[first_a:first_b]) == 1

    # the metrics do not depend on the pairing (the model is deterministic)
    again = run_pruning_sweep(planner, ds, ["grid"], (0.5,), limit=13, pairing="config", warmup=False)
    assert again.unpruned.metrics == res.unpruned.metrics
    assert again.row("grid", 0.5).metrics == res.row("grid", 0.5).metrics
    with pytest.raises(ValueError):
        run_pruning_sweep(planner, ds, ["random"], (0.5,), pairing="bogus")
    with pytest.raises(ValueError):
        run_pruning_sweep(planner, ds, ["random"], (1.0,))


def test_foreground_recall_and_blind_reference(planner, val_ds):
    """An all-foreground mask makes recall the share of tokens kept; a grey camera changes the plans."""
    res = run_pruning_sweep(planner, val_ds, ["grid", "fastv"], (0.75,), limit=4, pairing="sample",
                            fg_mask=lambda rec: np.ones((40, 60), bool), blind=True)
    assert res.unpruned.fg_recall == 1.0
    for method in ("grid", "fastv"):
        row = res.row(method, 0.75)
        assert row.fg_recall == pytest.approx(row.tokens_kept / row.num_visual)
    half = np.zeros((40, 60), bool)
    half[:, :30] = True  # left half foreground: grid keeps tokens spread over both halves
    res2 = run_pruning_sweep(planner, val_ds, ["grid"], (0.75,), limit=2, pairing="sample",
                             fg_mask=lambda rec: half)
    assert 0.0 < res2.row("grid", 0.75).fg_recall < 1.0
    assert res.blind is not None and res2.blind is None
    assert res.blind.metrics["L2_avg"] != pytest.approx(res.unpruned.metrics["L2_avg"], abs=1e-6)


def test_on_sample_sees_every_scored_sample_with_its_plans(planner, val_ds):
    """The per-sample hook gets each position once, in order, with every configuration's plan."""
    seen = []
    res = run_pruning_sweep(planner, val_ds, ["grid"], (0.5, 0.75), limit=3, pairing="sample",
                            on_sample=lambda pos, rec, plans: seen.append((pos, rec["sample_token"], plans)))
    assert [pos for pos, _, _ in seen] == [0, 1, 2]
    assert [tok for _, tok, _ in seen] == [val_ds.get_data_info(i)["sample_token"]
                                          for i, _ in ordered_indices(val_ds, limit=3)]
    for _, _, plans in seen:
        assert set(plans) == {("none", 0.0), ("grid", 0.5), ("grid", 0.75)}
        assert plans[("none", 0.0)].num_kept == NUM_VISUAL
        assert plans[("grid", 0.75)].num_kept == math.floor(NUM_VISUAL * 0.25)
    assert res.row("grid", 0.75).num_planned == 3


def test_camera_swap_plans_with_another_scenes_frame(planner, root):
    """Swap partners come from another scene, are reproducible, and change the plans."""
    from fastdrive.evaluation.pruning_sweep import swap_partners

    ds = _TwoScenes(root)
    order = ordered_indices(ds)
    partners = swap_partners(order, seed=3)
    scene_of = {i: s for i, s in order}
    assert all(scene_of[p] != s for (_, s), p in zip(order, partners))
    assert partners == swap_partners(order, seed=3) and partners != swap_partners(order, seed=4)
    assert swap_partners(order[:10], seed=0) is None  # one scene: nothing to swap with
    res = run_pruning_sweep(planner, ds, ["grid"], (0.5,), limit=14, pairing="sample", swap_seed=3)
    assert res.swap is not None and res.swap.method == "camera_swap" and res.swap.num_planned == 14
    own, other = res.unpruned.samples["L2_avg"], res.swap.samples["L2_avg"]
    assert own.shape == other.shape == (14,) and not np.allclose(own, other)
    assert list(res.scenes) == [s for _, s in order[:14]]
    assert run_pruning_sweep(planner, ds, ["grid"], (0.5,), limit=4, swap=False).swap is None


def test_oracles_read_the_semantic_mask(planner, val_ds):
    """Objects on the left half, sky on the right: oracle_fg / oracle_obj keep left tokens, oracle_bg right ones."""
    sem = np.zeros((112, 168), np.uint8)  # 4 x 6 token grid
    sem[:, :84] = 8  # car
    res = run_pruning_sweep(planner, val_ds, ["oracle_fg", "oracle_obj", "oracle_bg"], (0.5,), limit=2,
                            pairing="sample", semantic=lambda rec: sem)
    left = np.zeros((4, 6), bool)
    left[:, :3] = True
    for method, expect in (("oracle_fg", left), ("oracle_obj", left), ("oracle_bg", ~left)):
        kept = res.row(method, 0.5).kept
        assert kept.shape == (2, 24)
        assert (kept == expect.reshape(-1)).all(), method
    with pytest.raises(ValueError, match="semantic"):
        run_pruning_sweep(planner, val_ds, ["oracle_fg"], (0.5,), limit=1)


def test_two_frame_planner_gets_the_previous_keyframe_and_the_swap_swaps_both(root, tmp_path):
    """With a planner that reads two frames, the sweep plans from each item's clip, and the camera
    swap replaces the whole clip (the other scene's previous and current frames)."""
    from fastdrive.evaluation.pruning_sweep import swap_partners

    pair = _Recording(EmbeddedPlanner.from_checkpoint(str(export_tiny_planner(tmp_path / "p.pth", frame_pair=True))))
    ds = _TwoScenes(root, prev_frame=True)
    order = ordered_indices(ds)
    item = ds[order[1][0]]
    clip = plan_item(pair, item, ds.cameras).waypoints
    still = plan_item(pair, dict(item, imgs_prev=None), ds.cameras).waypoints
    assert not np.allclose(clip, still, atol=1e-4)
    pair.clips.clear()
    run_pruning_sweep(pair, ds, ["grid"], (0.5,), limit=14, pairing="sample", swap_seed=3, warmup=False)
    partner = ds[swap_partners(order[:14], 3)[1]]  # 14 samples span two scenes
    own = [c for c in pair.clips if c[0] and c[0] != "__swap__" and "/" not in c[0]][1]  # sample 1, unpruned
    swap = [c for c in pair.clips if c[0] == "__swap__"][1]
    for (_, frames, prev), src in ((own, item), (swap, partner)):
        np.testing.assert_array_equal(frames["CAM_FRONT"], item_frames(src, ds.cameras)["CAM_FRONT"])
        want_prev = item_frames(dict(imgs=src["imgs_prev"]), ds.cameras)["CAM_FRONT"]
        np.testing.assert_array_equal(prev["CAM_FRONT"], want_prev)
    assert not np.array_equal(swap[2]["CAM_FRONT"], own[2]["CAM_FRONT"])
