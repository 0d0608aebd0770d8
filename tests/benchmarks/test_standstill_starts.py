"""``benchmarks/standstill_starts.py``: the AUC, its scene bootstrap, the swap partners, the CLI's errors."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS.parent / "benchmarks"))
sys.path.insert(0, str(TESTS / "datasets"))
standstill = importlib.import_module("standstill_starts")
from planning_world import planning_world  # noqa: E402


def test_auc_against_hand_counts():
    label = np.array([True, True, False, False])
    assert standstill.auc(np.array([3.0, 4.0, 1.0, 2.0]), label) == 1.0
    assert standstill.auc(np.array([1.0, 2.0, 3.0, 4.0]), label) == 0.0
    assert standstill.auc(np.ones(4), label) == 0.5
    # pairs (go, wait): (3>1) (3>5 no) (0.5<1 no) (0.5<5 no) -> 1 of 4; one tie (2 == 2) counts half
    assert standstill.auc(np.array([3.0, 0.5, 1.0, 5.0]), label) == 0.25
    assert standstill.auc(np.array([2.0, 0.5, 2.0, 5.0]), label) == pytest.approx(0.5 / 4)
    assert np.isnan(standstill.auc(np.ones(3), np.array([True, True, True])))


def test_scene_bootstrap_separates_a_reader_from_a_guesser():
    rng = np.random.default_rng(0)
    scenes = np.repeat([f"s{i}" for i in range(20)], 10)
    label = rng.random(200) < 0.4
    reader = label * 2.0 + rng.normal(0, 0.7, 200)  # sees the difference
    guesser = rng.normal(0, 1, 200)  # does not
    lo, hi = standstill.scene_bootstrap_auc(reader, label, scenes, num_resamples=400)
    assert 0.5 < lo <= standstill.auc(reader, label) <= hi <= 1.0
    lo, hi = standstill.scene_bootstrap_auc(guesser, label, scenes, num_resamples=400)
    assert lo < 0.5 < hi
    assert all(np.isnan(standstill.scene_bootstrap_auc(guesser, np.zeros(200, bool), scenes, num_resamples=50)))


def test_swap_partners_come_from_other_scenes():
    scenes = ["a", "a", "b", "c", "c", "c"]
    partners = standstill.swap_partner(scenes, seed=3)
    assert all(scenes[p] != s for p, s in zip(partners, scenes))
    assert partners == standstill.swap_partner(scenes, seed=3)
    with pytest.raises(ValueError, match="two scenes"):
        standstill.swap_partner(["a", "a"])


def test_cli_errors_are_one_line(tmp_path, tmp_path_factory, capsys):
    assert standstill.main(["--world", str(tmp_path)]) == 2
    assert "no v1.0-fastdrive tables" in capsys.readouterr().err
    world = str(planning_world(tmp_path_factory))
    assert standstill.main(["--world", world, "--checkpoint", str(tmp_path / "nope.pth")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
