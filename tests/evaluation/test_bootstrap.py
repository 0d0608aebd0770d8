"""``scene_bootstrap``: coverage, scene vs sample resampling, pairing, NaNs, determinism."""

from __future__ import annotations

import time

import numpy as np
import pytest

from fastdrive.evaluation.bootstrap import Interval, scene_bootstrap, scene_bootstrap_rate


def _dataset(rng, num_scenes=40, per_scene=15, factor=1.0, scene_sd=2.0, diff_sd=0.3, noise_sd=1.0):
    """Paired per-sample values with a shared scene effect; b = factor * a + noise (true ratio b/a = factor).

    Returns ``a (S,)``, ``b (S,)``, ``scenes (S,)`` with ``S = num_scenes * per_scene``.
    """
    scenes = np.repeat(np.arange(num_scenes), per_scene)
    shared = rng.normal(0.0, scene_sd, num_scenes)[scenes]  # hard scene for both
    a = 10.0 + shared + rng.normal(0.0, noise_sd, scenes.size)
    b = factor * a + rng.normal(0.0, diff_sd, num_scenes)[scenes] + rng.normal(0.0, noise_sd, scenes.size)
    return a, b, scenes


def test_ratio_interval_covers_known_factor_and_excludes_one():
    a, b, scenes = _dataset(np.random.default_rng(10), factor=1.3)  # a 95% interval: ~1 seed in 20 misses
    iv = scene_bootstrap(b, a, scenes, stat="ratio")
    assert isinstance(iv, Interval) and iv.num_scenes == 40 and iv.num_samples == 600
    assert iv.low < 1.3 < iv.high and iv.low <= iv.point <= iv.high
    assert iv.excludes() and iv.excludes(1.0) and not iv.excludes(1.3)
    assert iv.fmt().endswith("]") and "x [" in iv.fmt()
    d = scene_bootstrap(b, a, scenes, stat="diff")
    assert d.point == pytest.approx(b.mean() - a.mean())
    assert d.low < 0.3 * a.mean() < d.high and d.excludes() and d.fmt().startswith("+")


def test_coverage_of_null_ratio_is_near_nominal():
    hits = 0
    for k in range(200):
        a, b, scenes = _dataset(np.random.default_rng(1000 + k), factor=1.0, diff_sd=0.5)
        iv = scene_bootstrap(a, b, scenes, stat="ratio", num_resamples=1000, seed=k)
        hits += iv.low <= 1.0 <= iv.high
    assert 0.88 <= hits / 200 <= 0.99


def test_scene_resampling_is_wider_than_sample_resampling():
    a, b, scenes = _dataset(np.random.default_rng(2), factor=1.1, diff_sd=0.8)
    by_scene = scene_bootstrap(b, a, scenes, stat="diff")
    by_sample = scene_bootstrap(b, a, np.arange(scenes.size), stat="diff")  # every sample its own "scene"
    assert by_scene.point == pytest.approx(by_sample.point)
    assert by_scene.high - by_scene.low > 2.0 * (by_sample.high - by_sample.low)


def test_paired_interval_is_narrower_than_unpaired():
    a, b, scenes = _dataset(np.random.default_rng(3), factor=1.05, scene_sd=3.0, diff_sd=0.1)
    paired = scene_bootstrap(b, a, scenes, stat="diff", paired=True)
    unpaired = scene_bootstrap(b, a, scenes, stat="diff", paired=False)
    assert paired.point == unpaired.point
    assert (paired.high - paired.low) < 0.5 * (unpaired.high - unpaired.low)


def test_deterministic_given_seed():
    a, b, scenes = _dataset(np.random.default_rng(4))
    scenes = np.array([f"scene-{s:04d}" for s in scenes])  # string ids work too
    one = scene_bootstrap(a, b, scenes, seed=7)
    assert one == scene_bootstrap(a, b, scenes, seed=7)
    assert one != scene_bootstrap(a, b, scenes, seed=8)


def test_nan_pairs_are_dropped_pairwise():
    a, b, scenes = _dataset(np.random.default_rng(5), num_scenes=10, per_scene=4)
    a2, b2 = a.copy(), b.copy()
    a2[0], b2[5] = np.nan, np.nan
    keep = np.ones(a.size, bool)
    keep[[0, 5]] = False
    got = scene_bootstrap(a2, b2, scenes, seed=3)
    want = scene_bootstrap(a[keep], b[keep], scenes[keep], seed=3)
    assert got == want and got.num_samples == a.size - 2
    # a scene with only NaN pairs does not count
    a3 = a.copy()
    a3[scenes == 0] = np.nan
    assert scene_bootstrap(a3, b, scenes).num_scenes == 9
    empty = scene_bootstrap([np.nan], [1.0], ["s"])
    assert empty.num_scenes == 0 and np.isnan(empty.point) and not empty.excludes()


def test_single_scene_degenerates():
    iv = scene_bootstrap([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], ["s", "s", "s"], stat="ratio")
    assert iv.num_scenes == 1 and iv.degenerate
    assert iv.point == iv.low == iv.high == pytest.approx(2.0)
    assert not iv.excludes() and iv.fmt() == "2.00x [2.00, 2.00] (1 scene)"


def test_rate_difference_in_percentage_points():
    rng = np.random.default_rng(6)
    scenes = np.repeat(np.arange(30), 10)
    risk = rng.uniform(0.0, 0.3, 30)[scenes]
    flags_b = rng.random(scenes.size) < risk
    flags_a = flags_b | (rng.random(scenes.size) < 0.15)  # A collides more
    iv = scene_bootstrap_rate(flags_a, flags_b, scenes)
    assert iv.stat == "diff"
    assert iv.point == pytest.approx(100.0 * (flags_a.mean() - flags_b.mean()))
    assert iv.excludes(0.0) and iv.low > 0.0
    pre = scene_bootstrap_rate(100.0 * flags_a, 100.0 * flags_b, scenes)  # already in %: left as is
    assert pre == iv
    assert scene_bootstrap(100.0 * flags_a, 100.0 * flags_b, scenes, stat="diff") == iv


def test_vectorised_speed_100_scenes_20_configs():
    rng = np.random.default_rng(7)
    scenes = np.repeat(np.arange(100), 20)
    base = rng.normal(5.0, 1.0, scenes.size)
    t0 = time.perf_counter()
    for c in range(20):
        scene_bootstrap(base + 0.01 * c + rng.normal(0, 0.1, scenes.size), base, scenes, num_resamples=2000)
    assert time.perf_counter() - t0 < 10.0  # ~0.1 s on an idle core


def test_bad_arguments():
    with pytest.raises(ValueError):
        scene_bootstrap([1.0], [1.0], ["s"], stat="mean")
    with pytest.raises(ValueError):
        scene_bootstrap([1.0, 2.0], [1.0], ["s", "s"])
    with pytest.raises(ValueError):
        scene_bootstrap([1.0], [1.0], ["s"], ci=1.0)


def test_to_dict_is_json_ready_and_keeps_the_verdict():
    import json

    from fastdrive.evaluation.selection_intervals import diff_text

    rng = np.random.default_rng(4)
    a, b, scenes = _dataset(rng, factor=1.3)
    d = scene_bootstrap(b, a, scenes, stat="ratio").to_dict()
    assert d["excludes_null"] and d["low"] > 1.0 and json.loads(json.dumps(d)) == d
    empty = scene_bootstrap([np.nan], [np.nan], ["s"], stat="diff").to_dict()
    assert empty["point"] is None and empty["low"] is None and not empty["excludes_null"]
    json.dumps(empty, allow_nan=False)  # no NaN reaches the JSON
    assert diff_text(empty) == ("+nan [+nan, +nan]", False)
    text, excludes = diff_text(scene_bootstrap(a + 1.0, a, scenes, stat="diff").to_dict())
    assert excludes and text.startswith("+1.000")
