"""``token_metrics``: class shares, recall / precision, instance coverage and pooling on hand-made masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastdrive.evaluation.token_metrics import (FOREGROUND_CLASSES, OBJECT_CLASSES, SEMANTIC_CLASSES,
                                                TokenMetrics, load_token_masks, pool_token_metrics,
                                                token_class_shares, token_metrics)
from fastdrive.evaluation.token_overlay import cell_fractions

ID = {n: i for i, n in enumerate(SEMANTIC_CLASSES)}


def test_class_lists_match_the_simulator():
    from fastdrive.sim import types

    assert SEMANTIC_CLASSES == types.SEMANTIC_CLASSES
    assert set(FOREGROUND_CLASSES) == set(types.FOREGROUND_CLASSES)


def test_token_class_shares_match_cell_fractions_on_odd_sizes():
    rng = np.random.default_rng(0)
    sem = rng.integers(0, len(SEMANTIC_CLASSES), size=(37, 53)).astype(np.uint8)
    shares = token_class_shares(sem, (5, 7), len(SEMANTIC_CLASSES))
    assert shares.shape == (35, 17) and shares.dtype == np.float32
    np.testing.assert_allclose(shares.sum(1), 1.0, atol=1e-5)
    for c in (0, 5, 16):
        np.testing.assert_allclose(shares[:, c], cell_fractions(sem == c, (5, 7)).ravel(), atol=1e-6)
    with pytest.raises(ValueError):
        token_class_shares(sem, (5, 7), 10)


def _recall_scene():
    """40x40 image, 4x4 grid of 10 px cells: row 0 sky, rows 2-3 road; row 1 see below."""
    sem = np.full((40, 40), ID["sky"], np.uint8)
    sem[20:, :] = ID["road"]
    sem[14:20, 0:10] = ID["lane_marking"]  # cell (1, 0): 60 % road-like -> fg and road
    sem[15:20, 10:20] = ID["road"]  # cell (1, 1): exactly 50 % -> neither
    sem[10:13, 20:30] = ID["car"]  # cell (1, 2): 30 % car -> object token, not fg
    sem[10:20, 30:40] = ID["bus"]  # cell (1, 3): all bus -> fg and object
    return sem


def test_recall_and_precision_on_hand_made_mask():
    kept = np.zeros((4, 4), bool)
    kept[0, 0] = kept[1, 0] = kept[1, 2] = kept[2, 0] = kept[2, 1] = True
    m = token_metrics(kept, _recall_scene())
    assert (m.num_tokens, m.num_kept) == (16, 5)
    assert (m.fg_tokens, m.fg_kept) == (10, 3) and m.fg_recall == pytest.approx(0.3)
    assert (m.road_tokens, m.road_kept) == (9, 3) and m.road_recall == pytest.approx(1 / 3)
    assert (m.object_tokens, m.object_kept) == (2, 1) and m.object_recall == 0.5
    assert m.fg_precision == pytest.approx(0.6) and m.object_precision == pytest.approx(0.2)
    flat = token_metrics(kept.ravel(), _recall_scene(), grid_hw=(4, 4))
    assert flat == m
    none = token_metrics(np.zeros(16, bool), _recall_scene(), (4, 4))
    assert none.fg_recall == 0.0 and math.isnan(none.fg_precision)
    with pytest.raises(ValueError):
        token_metrics(kept.ravel(), _recall_scene())  # flat without grid_hw


def _objects():
    """64x64 image, 8x8 grid of 8 px cells: road below, a car, a pedestrian, a sign, a tiny cone."""
    sem = np.full((64, 64), ID["sky"], np.uint8)
    sem[32:, :] = ID["road"]
    sem[36:44, 4:20] = ID["car"]  # cells rows 4-5, cols 0-2; 128 px
    sem[10:26, 40:46] = ID["pedestrian"]  # cells rows 1-3, col 5; 96 px
    sem[2:8, 56:62] = ID["traffic_sign"]  # cell (0, 7); 36 px
    sem[50:53, 50:53] = ID["traffic_cone"]  # 9 px: below the minimum area
    return sem


def test_instance_coverage_two_of_three():
    kept = np.zeros((8, 8), bool)
    kept[4, 1] = True  # on the car
    kept[2, 5] = True  # on the pedestrian
    kept[6, 6] = True  # on the (too small) cone: not counted
    kept[7, 0] = True  # road only
    m = token_metrics(kept, _objects())
    assert (m.instances, m.instances_covered) == (3, 2)
    assert m.instance_coverage == pytest.approx(2 / 3)
    per = m.instance_coverage_per_class
    assert set(per) == set(OBJECT_CLASSES)
    assert per["car"] == 1.0 and per["pedestrian"] == 1.0 and per["traffic_sign"] == 0.0
    assert math.isnan(per["truck"]) and math.isnan(per["traffic_cone"])
    assert m.instances_per_class["traffic_sign"] == (0, 1)
    small = token_metrics(kept, _objects(), min_instance_area=5)
    assert (small.instances, small.instances_covered) == (4, 3)


def test_instance_mask_splits_touching_objects_and_signs_fall_back_to_components():
    sem = _objects()
    sem[36:44, 20:36] = ID["car"]  # a second car touching the first: one connected component
    inst = np.zeros(sem.shape, np.uint16)
    inst[36:44, 4:20] = 1
    inst[36:44, 20:36] = 2
    inst[10:26, 40:46] = 3  # pedestrian; the sign has no annotation (no nuScenes category)
    kept = np.zeros((8, 8), bool)
    kept[4, 1] = True  # first car only
    kept[0, 7] = True  # the sign
    by_cc = token_metrics(kept, sem)
    assert by_cc.instances_per_class["car"] == (1, 1)  # the two cars merge
    by_inst = token_metrics(kept, sem, instance=inst)
    assert by_inst.instances_per_class["car"] == (1, 2)
    assert by_inst.instances_per_class["traffic_sign"] == (1, 1)
    assert by_inst.instances_per_class["pedestrian"] == (0, 1)
    assert (by_inst.instances, by_inst.instances_covered) == (4, 2)


def test_pooling_sums_counts_not_ratios():
    kept_a = np.zeros((8, 8), bool)
    kept_a[4, 1] = True
    a = token_metrics(kept_a, _objects())  # covers 1 of 3 instances
    b = token_metrics(np.ones((4, 4), bool), _recall_scene())  # car and bus: 2 of 2 instances
    pooled = pool_token_metrics([a, b])
    assert pooled["num_images"] == 2
    assert pooled["instances"] == a.instances + b.instances
    want = (a.instances_covered + b.instances_covered) / (a.instances + b.instances)
    assert pooled["instance_coverage"] == pytest.approx(want)
    assert pooled["instance_coverage"] != pytest.approx((a.instance_coverage + b.instance_coverage) / 2)
    assert pooled["fg_recall"] == pytest.approx((a.fg_kept + b.fg_kept) / (a.fg_tokens + b.fg_tokens))
    assert pooled["fg_precision"] == pytest.approx((a.fg_kept + b.fg_kept) / (a.num_kept + b.num_kept))
    for c in OBJECT_CLASSES:
        assert f"instance_coverage/{c}" in pooled and f"instances/{c}" in pooled
    assert pooled["instances/car"] == a.instances_per_class["car"][1] + b.instances_per_class["car"][1]
    empty = pool_token_metrics([])
    assert empty["num_images"] == 0 and math.isnan(empty["fg_recall"])
    assert (a + TokenMetrics()) == a


def test_load_token_masks_missing_returns_none(tmp_path):
    assert load_token_masks(str(tmp_path), "samples/CAM_FRONT/x.jpg") is None
    from PIL import Image

    d = tmp_path / "fastdrive_gt" / "semantic" / "samples" / "CAM_FRONT"
    d.mkdir(parents=True)
    Image.fromarray(_objects()).save(d / "x.png")
    di = tmp_path / "fastdrive_gt" / "instance" / "samples" / "CAM_FRONT"
    di.mkdir(parents=True)
    inst = np.zeros((64, 64), np.uint16)
    inst[36:44, 4:20] = 300
    Image.fromarray(inst).save(di / "x.png")
    sem, ins = load_token_masks(str(tmp_path), "samples/CAM_FRONT/x.jpg")
    assert np.array_equal(sem, _objects()) and ins is not None and int(ins.max()) == 300
