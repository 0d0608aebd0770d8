"""Subsets, paired intervals, oracle ranges and JSON of a sweep, on a hand-built ``SweepResult``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastdrive.evaluation.event_tags import SampleTags
from fastdrive.evaluation.pruning_sweep import ConfigResult, SweepResult
from fastdrive.evaluation.sample_metrics import SAMPLE_KEYS, mean_metrics
from fastdrive.evaluation.sweep_report import compare, oracle_ranges, subsets, sweep_to_json

NUM_SCENES, PER_SCENE = 20, 10


def _row(method: str, ratio: float, l2: np.ndarray, rng: np.random.Generator) -> ConfigResult:
    samples = {k: np.abs(l2 + 0.01 * rng.standard_normal(l2.size)) for k in SAMPLE_KEYS}
    samples["collision_avg"] = np.where(rng.random(l2.size) < 0.02, 100.0, 0.0)
    samples["intersection_avg"] = np.zeros(l2.size)
    return ConfigResult(method=method, ratio=ratio, metrics=mean_metrics(samples), num_visual=144,
                        tokens_kept=144 * (1 - ratio), samples=samples)


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    scene_effect = rng.uniform(0.2, 0.8, NUM_SCENES)  # hard and easy scenes, shared by every row
    base = np.repeat(scene_effect, PER_SCENE) + 0.05 * rng.standard_normal(NUM_SCENES * PER_SCENE)
    rows = [_row("random", 0.75, base * 1.10, rng), _row("oracle_fg", 0.75, base * 1.02, rng),
            _row("oracle_obj", 0.75, base * 1.05, rng), _row("oracle_bg", 0.75, base * 1.30, rng)]
    scenes = np.repeat([f"s{i}" for i in range(NUM_SCENES)], PER_SCENE).astype(object)
    return SweepResult(rows=rows, unpruned=_row("none", 0.0, base, rng),
                       constant_velocity=_row("constant_velocity", 0.0, base * 2.0, rng), num_samples=base.size,
                       num_scenes=NUM_SCENES, pairing="sample", swap=_row("camera_swap", 0.0, base * 1.4, rng),
                       scenes=scenes, sample_tokens=np.arange(base.size).astype(object))


def _tags(n: int):
    return [SampleTags(frozenset({"lead"} if i % 4 == 0 else {"cruise"}), i % 8 == 0) for i in range(n)]


def test_subsets_follow_the_tags():
    masks = subsets(_tags(16))
    assert masks["all"].sum() == 16 and masks["lead"].sum() == 4 and masks["cruise"].sum() == 12
    assert masks["critical"].sum() == 2 and masks["pedestrian"].sum() == 0
    assert masks["critical_moving"].sum() == 2  # no starts among them
    starting = subsets([SampleTags(frozenset({"start", "pedestrian"}), True),
                        SampleTags(frozenset({"pedestrian"}), True), SampleTags(frozenset({"cruise"}), False)])
    assert starting["critical"].tolist() == [True, True, False]
    assert starting["critical_moving"].tolist() == [False, True, False]


def test_paired_intervals_cover_the_built_in_ratios(result):
    swap = compare(result, result.swap, "L2_avg")
    assert swap.low < 1.4 < swap.high and swap.excludes() and swap.num_scenes == NUM_SCENES
    rnd = compare(result, result.row("random", 0.75), "L2_avg")
    assert rnd.low < 1.10 < rnd.high
    coll = compare(result, result.row("random", 0.75), "collision_avg")
    assert coll.stat == "diff" and coll.low <= coll.point <= coll.high


def test_oracle_range_and_random_position(result):
    rng = oracle_ranges(result, {"all": np.ones(result.num_samples, bool)}, num_resamples=500)["0.75"]["all"]
    assert rng["best"] == "oracle_fg"
    iv = rng["bg_vs_best"]
    assert iv["low"] < 1.30 / 1.02 < iv["high"] and iv["excludes_null"]
    assert rng["random_position"] == pytest.approx((1.10 - 1.02) / (1.30 - 1.02), abs=0.05)


def test_json_round_trip(result, tmp_path):
    data = sweep_to_json(result, _tags(result.num_samples), str(tmp_path / "s.json"), num_resamples=300)
    again = json.loads((tmp_path / "s.json").read_text())
    assert again == json.loads(json.dumps(data))
    names = [r["method"] for r in again["rows"]]
    assert names[:3] == ["none", "constant_velocity", "camera_swap"]
    swap = again["rows"][2]["subsets"]
    assert swap["all"]["vs_unpruned"]["L2_avg"]["excludes_null"] is True
    assert set(swap) >= {"all", "lead", "cruise", "critical"}
    assert again["oracle_range"]["0.75"]["all"]["best"] == "oracle_fg"
