"""``PlanningDataset`` items, splits, resizing, cache; the constant-velocity baseline on the world."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from planning_world import VERSION, planning_world

from fastdrive.datasets.planning import PlanningDataset, constant_velocity_plan, constant_velocity_planner
from fastdrive.evaluation.planning_metrics import l2_errors, path_headings
from fastdrive.registry import DATASETS


@pytest.fixture(scope="session")
def root(tmp_path_factory):
    return str(planning_world(tmp_path_factory))


@pytest.fixture(scope="session")
def val_ds(root, tmp_path_factory):
    cache = tmp_path_factory.mktemp("plan_cache") / "val.pkl"
    return PlanningDataset(root, VERSION, "val", image_size=(160, 96), cache_file=str(cache))


def test_item_shapes_and_ranges(val_ds):
    item = val_ds[3]
    assert item["imgs"].shape == (1, 3, 96, 160) and item["imgs"].dtype == torch.float32
    assert 0.0 <= float(item["imgs"].min()) and float(item["imgs"].max()) <= 1.0 and item["imgs"].std() > 0.01
    assert item["ego_state"].shape == (3,) and item["past_traj"].shape == (4, 2)
    assert item["gt_traj"].shape == (6, 2) and item["gt_valid"].dtype == torch.bool
    assert item["command"].dtype == torch.long and 0 <= int(item["command"]) < 3
    meta = item["meta"]
    np.testing.assert_allclose(item["gt_traj"].numpy(), meta["gt_traj"], atol=1e-5)
    assert float(item["ego_state"][0]) == pytest.approx(meta["speed"], rel=1e-6)
    # intrinsics follow the resize 320x180 -> 160x96
    k0 = meta["cams"]["CAM_FRONT"]["cam_intrinsic"]
    k = item["cam_intrinsics"][0].numpy()
    assert k[0, 0] == pytest.approx(k0[0][0] * 0.5, rel=1e-5)
    assert k[1, 1] == pytest.approx(k0[1][1] * 96 / 180, rel=1e-5)


def test_previous_keyframe_is_the_scenes_sample_half_a_second_before(root, val_ds, tmp_path):
    ds = PlanningDataset(root, VERSION, "val", image_size=(160, 96), cache_file=str(tmp_path / "v.pkl"),
                         prev_frame=True, full_future_only=True)
    recs = [val_ds.get_data_info(i) for i in range(len(val_ds))]
    by_token = {r["sample_token"]: r for r in recs}
    firsts = 0
    for i in range(len(ds)):
        rec = ds.get_data_info(i)
        same = [r for r in recs if r["scene_token"] == rec["scene_token"] and r["timestamp"] < rec["timestamp"]]
        if not same:  # the scene's first keyframe: a still (its own frames)
            assert rec["prev_cams"] is None
            firsts += 1
            torch.testing.assert_close(ds[i]["imgs_prev"], ds[i]["imgs"])
            continue
        before = max(same, key=lambda r: r["timestamp"])
        assert rec["timestamp"] - before["timestamp"] == 500_000
        prev_path = by_token[before["sample_token"]]["cams"]["CAM_FRONT"]["img_path"]
        assert rec["prev_cams"]["CAM_FRONT"]["img_path"] == prev_path
    assert firsts >= 1 and len(ds) > firsts
    i = next(i for i in range(len(ds)) if ds.get_data_info(i)["prev_cams"] is not None)
    item = ds[i]
    assert item["imgs_prev"].shape == item["imgs"].shape and not torch.equal(item["imgs_prev"], item["imgs"])
    assert "imgs_prev" not in val_ds[i] and "prev_cams" not in val_ds.get_data_info(i)


def test_splits_are_scenes_and_registry_builds(root, val_ds):
    train = DATASETS.build(dict(type="PlanningDataset", data_root=root, split="train", load_images=False))
    assert {train.get_data_info(i)["scene_name"] for i in range(len(train))} == {"scene-0000"}
    assert {val_ds.get_data_info(i)["scene_name"] for i in range(len(val_ds))} == {"scene-0001"}
    assert len(train) == len(val_ds) == 16
    full = PlanningDataset(root, VERSION, "val", load_images=False, full_future_only=True)
    assert len(full) == 10 and all(full.get_data_info(i)["gt_valid"].all() for i in range(len(full)))
    with pytest.raises(ValueError):
        PlanningDataset(root, VERSION, "test")


def test_six_cameras_and_cache_reuse(root, tmp_path):
    cams = ("CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_LEFT", "CAM_BACK", "CAM_BACK_RIGHT")
    cache = tmp_path / "c.pkl"
    ds = PlanningDataset(root, VERSION, "val", cameras=cams, cache_file=str(cache))
    assert cache.is_file()
    assert ds[0]["imgs"].shape == (6, 3, 180, 320)
    assert not torch.equal(ds[0]["imgs"][0], ds[0]["imgs"][1])
    again = PlanningDataset(root, VERSION, "val", cameras=cams, cache_file=str(cache))
    assert [again.get_data_info(i)["sample_token"] for i in range(len(again))] == [
        ds.get_data_info(i)["sample_token"] for i in range(len(ds))
    ]
    other = PlanningDataset(root, VERSION, "train", cache_file=str(cache), load_images=False)  # key mismatch
    assert other.get_data_info(0)["scene_name"] == "scene-0000"


def test_constant_velocity_kinematics():
    np.testing.assert_allclose(constant_velocity_plan(4.0, 0.0)[:, 0], 2.0 * np.arange(1, 7))
    arc = constant_velocity_plan(5.0, 0.5)  # circle of radius 10 m centred at (0, 10)
    np.testing.assert_allclose(np.hypot(arc[:, 0], arc[:, 1] - 10.0), 10.0, atol=1e-9)
    np.testing.assert_allclose(np.hypot(*np.diff(np.vstack([[0, 0], arc]), axis=0).T), 2 * 10 * np.sin(0.125))
    assert np.all(constant_velocity_plan(-1.0, 0.3) == 0.0)


def test_constant_velocity_good_when_steady_bad_when_turning_or_braking(root):
    ds = PlanningDataset(root, VERSION, "train", load_images=False)
    ds_val = PlanningDataset(root, VERSION, "val", load_images=False)
    recs = [d.get_data_info(i) for d in (ds, ds_val) for i in range(len(d))]
    recs = [r for r in recs if r["gt_valid"].all() and r["speed"] > 2.0]

    def err(r):
        return l2_errors(constant_velocity_planner(r)[None], r["gt_traj"][None])

    def turn(r):
        return abs(np.degrees(path_headings(r["gt_traj"])[-1]))

    steady = min(recs, key=lambda r: turn(r) + 10.0 * abs(r["accel"]))
    hard = max(recs, key=lambda r: turn(r) + 10.0 * abs(r["accel"]))
    # since the scene mix of issue 10 the tiny world's 8 s scenes (a turn while braking, a crossing)
    # never cruise: its steadiest sample still settles its speed at about 1 m/s^2
    assert turn(steady) < 10.0 and abs(steady["accel"]) < 1.5
    assert turn(hard) > 30.0 or abs(hard["accel"]) > 1.5
    assert err(steady)["L2_avg"] < 1.2
    assert err(hard)["L2_3s"] > 2.5 and err(hard)["L2_avg"] > 1.5 * err(steady)["L2_avg"]
