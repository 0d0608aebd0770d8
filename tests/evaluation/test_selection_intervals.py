"""Ranking pruners by per-image token metrics, with paired scene-bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from fastdrive.evaluation.selection_intervals import selection_intervals, selection_lines
from fastdrive.evaluation.token_metrics import TokenMetrics


def _tm(kept: int, fg_kept: int, instances: int = 0, covered: int = 0) -> TokenMetrics:
    return TokenMetrics(num_tokens=100, num_kept=kept, fg_kept=fg_kept, instances=instances,
                        instances_covered=covered)


def test_clear_winner_excludes_zero_and_a_tie_does_not():
    rng = np.random.default_rng(0)
    scenes = np.repeat(np.arange(12), 5)
    n = len(scenes)
    good = [_tm(50, 40 + int(rng.integers(0, 5)), 4, 4) for _ in range(n)]
    ok = [_tm(50, 30 + int(rng.integers(0, 5)), 4, 2) for _ in range(n)]
    twin = [_tm(50, 30 + int(rng.integers(0, 5)), 4, 2) for _ in range(n)]
    oracle = [_tm(50, 50, 4, 4) for _ in range(n)]
    empty = [_tm(50, 10, 0, 0) for _ in range(n)]  # no instance in view: coverage undefined
    sparse = [_tm(8, 8, 4, 1) for _ in range(n)]  # an adaptive method keeping 8 of 100: off budget
    per = {"recon@0.5": good, "random@0.5": ok, "grid@0.5": twin, "oracle_fg@0.5": oracle,
           "blind@0.5": empty, "recon@0": good, "lightvla@0.5": sparse}
    out = selection_intervals(per, scenes, excluded=("oracle_fg",), num_resamples=500)
    assert list(out) == ["0.5"]
    prec = out["0.5"]["fg_precision"]
    assert prec["best"] == "recon" and prec["best_minus_next"]["low"] > 0
    assert "oracle_fg" not in dict(prec["ranking"])
    assert "lightvla" not in dict(prec["ranking"]) and list(prec["off_budget"]) == ["lightvla"]
    assert prec["off_budget"]["lightvla"] == pytest.approx(0.08)
    assert prec["ranking"][0][1] == np.mean([t.fg_precision for t in good])
    cov = out["0.5"]["instance_coverage"]
    assert cov["ranking"][0] == ["recon", 1.0] and "blind" not in dict(cov["ranking"])
    gap = prec["reference_minus"]["random"]
    assert gap["low"] > 0  # recon vs random: a real gap
    # random and grid are drawn alike: their difference interval straddles 0
    twins = selection_intervals({"random@0.5": ok, "grid@0.5": twin}, scenes, num_resamples=500)
    iv = twins["0.5"]["fg_precision"]["best_minus_next"]
    assert iv["low"] <= 0 <= iv["high"]
    text = "\n".join(selection_lines(out))
    assert "50% fg_precision: recon" in text and "(best)" in text and "lightvla keeps 8%" in text
    assert "(tied with the next)" in "\n".join(selection_lines(twins))
