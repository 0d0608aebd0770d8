"""Impromptu-style planning text parsing, on answers whose waypoints are known."""

from __future__ import annotations

import numpy as np
import pytest

from fastdrive.vla.planning_text import (MODES, PlanningParseError, extract_pairs,
                                         format_planning_text, parse_planning_text)


def _arc(radius: float, speed: float = 5.0, n: int = 6, dt: float = 0.5) -> np.ndarray:
    """Ego-frame points on a left arc (radius > 0) from the origin, heading +x."""
    s = speed * dt * np.arange(1, n + 1)
    theta = s / radius
    return np.stack([radius * np.sin(theta), radius * (1 - np.cos(theta))], axis=-1)


IMPROMPTU = ("<PLANNING>Predicted future movement details for the next 3 seconds The output is "
             "formatted as [displacement, theta]: [2.44, -1.0], [2.26, 0.0], [2.30, 0.0], "
             "[2.31, 1.0], [2.35, 0.0], [2.40, 0.0]</PLANNING>")


def test_impromptu_example_dist_dtheta() -> None:
    pts = parse_planning_text(IMPROMPTU, "dist-dtheta")
    assert pts.shape == (6, 2)
    # Total path length is the sum of the step distances (straight-ish path).
    steps = np.diff(np.vstack([[0, 0], pts]), axis=0)
    assert np.hypot(*steps.T).sum() == pytest.approx(2.44 + 2.26 + 2.30 + 2.31 + 2.35 + 2.40)
    # First step turns right by 1 degree: y slightly negative.
    assert pts[0, 1] < 0 and pts[0, 0] == pytest.approx(2.44, abs=1e-3)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("radius", [15.0, -25.0, 1e6])
def test_round_trip_every_mode(mode: str, radius: float) -> None:
    truth = _arc(radius)
    text = format_planning_text(truth, mode, decimals=None)
    np.testing.assert_allclose(parse_planning_text(text, mode), truth, atol=1e-6)


def test_rounded_text_stays_close() -> None:
    truth = _arc(20.0)
    pts = parse_planning_text(format_planning_text(truth, "dist-dtheta", decimals=2), "dist-dtheta")
    # Whole-degree headings in the real format are not our format; 2 decimals is.
    assert np.abs(pts - truth).max() < 0.05


def test_dx_dy_axes() -> None:
    text = "[dx, dy]: " + ", ".join(["[1.0, 2.0]"] * 6)
    pts = parse_planning_text(text, "dx-dy")
    np.testing.assert_allclose(pts[-1], [12.0, -6.0])  # +y forward, +x right


@pytest.mark.parametrize("bad", [
    "",
    "%DROP%",
    "<PLANNING>[1.0, 2.0], [1.0, 2.0]</PLANNING>",
    "<PLANNING>" + ", ".join(["[1.0, 2.0]"] * 6),
    "[x, y]: [1.0, 2.0], [1.0, 2.0], [1.0, abc2], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]",
    ", ".join(["[1.0, 2.0]"] * 7),
])
def test_malformed_text_fails_clearly(bad: str) -> None:
    with pytest.raises(PlanningParseError):
        extract_pairs(bad)


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown planning mode"):
        parse_planning_text(IMPROMPTU, "polar-ish")
