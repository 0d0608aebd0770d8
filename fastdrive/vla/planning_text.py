"""Planning text of Impromptu-VLA-style driving VLAs <-> ego-frame waypoints.

A real driving VLA answers a planning prompt with text such as::

    <PLANNING>Predicted future movement details for the next 3 seconds
    The output is formatted as [displacement, theta]: [2.44, -1.0], [2.26, 0.0],
    [2.30, 0.0], [2.31, 1.0], [2.35, 0.0], [2.40, 0.0]</PLANNING>

Six bracketed pairs for t = 0.5 ... 3.0 s whose meaning depends on the mode
(DESIGN.md section 4b). :func:`parse_planning_text` turns any mode into
``(6, 2)`` ego-frame waypoints (x forward, y left, metres) and raises
:class:`PlanningParseError` on malformed text -- never a silent guess.
:func:`format_planning_text` is the inverse, used to make training targets
and test cases.

The conventions are Impromptu-VLA's (its nuScenes planning pipeline writes
the text, its evaluator reads it back), in our ego frame (x forward, y
left, angles in degrees, positive = left):

* ``dist-theta``: ``[d_i, theta_i]``, ``d_i`` the length of the 0.5 s step
  ``i`` and ``theta_i`` the direction of that step's *chord* relative to
  the current heading; steps shorter than 0.2 m are written with theta 0.
  The step moves ``d_i`` along ``theta_i``.
* ``dist-dtheta``: ``[d_i, dtheta_i]`` with ``dtheta_i = theta_i -
  theta_{i-1}`` (``theta_0 = 0``, wrapped to [-180, 180]); the chord
  direction is the running sum of the ``dtheta``.
* ``dist-curvature``: ``[d_i, 100 * kappa_i]``, ``kappa_i`` the signed
  curvature (1/m) at waypoint ``i`` from finite differences over the
  current position and the six waypoints. A step of length ``d`` whose
  heading turns by ``kappa * d`` moves along the mean of its start and end
  headings (the chord of a circular arc). Impromptu's own inverse of this
  mode multiplies the distances by 0.5 a second time; FastDrive follows the
  writer instead, so that text written by the pipeline reads back as the
  trajectory it was written from.
"""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

import numpy as np

from ..errors import ModelError

MODES: Tuple[str, ...] = ("dist-dtheta", "dist-theta", "polar", "dx-dy", "dist-curvature", "x-y")
NUM_WAYPOINTS = 6
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(r"\[\s*(" + _NUMBER + r")\s*,\s*(" + _NUMBER + r")\s*\]")
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_BLOCK = re.compile(r"<PLANNING>(.*?)</PLANNING>", re.DOTALL)
_LABELS = {
    "dist-dtheta": "[displacement, theta]",
    "dist-theta": "[displacement, theta]",
    "polar": "[distance, angle]",
    "dx-dy": "[dx, dy]",
    "dist-curvature": "[displacement, curvature]",
    "x-y": "[x, y]",
}


class PlanningParseError(ModelError, ValueError):
    """The model's planning text cannot be read as six waypoints."""


def extract_pairs(text: str, num: int = NUM_WAYPOINTS) -> np.ndarray:
    """The numeric bracket pairs of a planning answer.

    Args:
        text: the model's answer; if it contains ``<PLANNING>...</PLANNING>``
            only that block is read. Bracketed format labels with
            non-numeric content (``[dx, dy]``) are ignored.
        num: how many pairs are required.

    Returns:
        ``(num, 2)`` float64 array.

    Raises:
        PlanningParseError: on ``%DROP%``, a bracket that is neither a label
            nor a numeric pair, or a pair count other than ``num``.
    """
    if not isinstance(text, str) or not text.strip():
        raise PlanningParseError("empty planning text")
    if "%DROP%" in text:
        raise PlanningParseError("sample is marked %DROP% (no six future poses)")
    block = _BLOCK.search(text)
    if "<PLANNING>" in text and block is None:
        raise PlanningParseError("unterminated <PLANNING> block")
    body = block.group(1) if block else text
    pairs: List[Tuple[float, float]] = []
    for m in _BRACKETS.finditer(body):
        inner = m.group(1)
        pm = _PAIR.fullmatch("[" + inner + "]")
        if pm:
            pairs.append((float(pm.group(1)), float(pm.group(2))))
        elif re.search(r"\d", inner):
            raise PlanningParseError(f"malformed waypoint {m.group(0)!r}")
        # else: a format label such as [dx, dy]; skip it
    if len(pairs) != num:
        raise PlanningParseError(f"expected {num} waypoint pairs, found {len(pairs)}")
    arr = np.asarray(pairs, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise PlanningParseError("non-finite number in waypoints")
    return arr


MIN_STEP_M = 0.2
"""Steps shorter than this are written with direction 0 (Impromptu's pipeline)."""


def _along(step: np.ndarray, chord: np.ndarray) -> np.ndarray:
    """Positions ``(T, 2)`` from step lengths ``(T,)`` and chord directions ``(T,)`` (rad)."""
    return np.cumsum(np.stack([step * np.cos(chord), step * np.sin(chord)], axis=-1), axis=0)


def _integrate(step: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """Positions from step lengths ``(T,)`` and headings after each step ``(T,)`` (rad): arc chords."""
    prev = np.concatenate([[0.0], heading[:-1]])
    return _along(step, 0.5 * (prev + heading))


def _wrap_degrees(a: np.ndarray) -> np.ndarray:
    return (a + 180.0) % 360.0 - 180.0


def signed_curvature(points: np.ndarray) -> np.ndarray:
    """``(T,)`` signed curvature (1/m, positive = left) at each of ``(T, 2)`` points, by central
    finite differences over the index (one-sided at the ends)."""
    d1 = np.gradient(points, axis=0)
    d2 = np.gradient(d1, axis=0)
    den = (d1[:, 0] ** 2 + d1[:, 1] ** 2) ** 1.5
    num = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def pairs_to_waypoints(pairs: np.ndarray, mode: str) -> np.ndarray:
    """Convert ``(T, 2)`` mode-specific pairs into ``(T, 2)`` ego-frame xy (x fwd, y left)."""
    if mode not in MODES:
        raise ValueError(f"unknown planning mode {mode!r}; choose from {MODES}")
    a, b = pairs[:, 0], pairs[:, 1]
    if mode == "x-y":
        return np.stack([a, b], axis=-1)
    if mode == "dx-dy":  # per-step, +y forward, +x right
        return np.cumsum(np.stack([b, -a], axis=-1), axis=0)
    if mode == "polar":
        phi = np.radians(b)
        return np.stack([a * np.cos(phi), a * np.sin(phi)], axis=-1)
    if mode == "dist-theta":
        return _along(a, np.radians(b))
    if mode == "dist-dtheta":
        return _along(a, np.cumsum(np.radians(b)))
    # dist-curvature: heading change over a step = curvature * length
    return _integrate(a, np.cumsum(a * b / 100.0))


def parse_planning_text(text: str, mode: str = "dist-dtheta") -> np.ndarray:
    """Read six ego-frame waypoints ``(6, 2)`` (x forward, y left, m) from VLA text."""
    return pairs_to_waypoints(extract_pairs(text), mode)


def waypoints_to_pairs(waypoints: np.ndarray, mode: str) -> np.ndarray:
    """What Impromptu's pipeline writes for ``(T, 2)`` ego-frame waypoints (see the module docstring).

    The inverse of :func:`pairs_to_waypoints` up to the 0.2 m rule of the theta
    modes and, for ``dist-curvature``, the finite-difference curvature
    (exact on straight lines and circular arcs).
    """
    if mode not in MODES:
        raise ValueError(f"unknown planning mode {mode!r}; choose from {MODES}")
    pts = np.asarray(waypoints, dtype=np.float64)
    if mode == "x-y":
        return pts.copy()
    if mode == "polar":
        return np.stack([np.hypot(pts[:, 0], pts[:, 1]),
                         np.degrees(np.arctan2(pts[:, 1], pts[:, 0]))], axis=-1)
    path = np.vstack([[0.0, 0.0], pts])
    steps = np.diff(path, axis=0)
    if mode == "dx-dy":
        return np.stack([-steps[:, 1], steps[:, 0]], axis=-1)
    dist = np.hypot(steps[:, 0], steps[:, 1])
    if mode == "dist-curvature":
        return np.stack([dist, 100.0 * signed_curvature(path)[1:]], axis=-1)
    theta = np.where(dist < MIN_STEP_M, 0.0, np.degrees(np.arctan2(steps[:, 1], steps[:, 0])))
    if mode == "dist-theta":
        return np.stack([dist, theta], axis=-1)
    dtheta = _wrap_degrees(np.diff(np.concatenate([[0.0], theta])))
    return np.stack([dist, dtheta], axis=-1)


def format_planning_text(waypoints: np.ndarray, mode: str = "dist-dtheta",
                         decimals: Optional[int] = 2) -> str:
    """Impromptu-style answer for ``(6, 2)`` ego-frame waypoints."""
    pairs = waypoints_to_pairs(waypoints, mode)
    fmt = (lambda v: f"{v:.{decimals}f}") if decimals is not None else repr
    body = ", ".join(f"[{fmt(a)}, {fmt(b)}]" for a, b in pairs)
    return ("<PLANNING>Predicted future movement details for the next 3 seconds "
            f"The output is formatted as {_LABELS[mode]}: {body}</PLANNING>")


__all__ = ["MIN_STEP_M", "MODES", "PlanningParseError", "extract_pairs", "format_planning_text",
           "pairs_to_waypoints", "parse_planning_text", "signed_curvature", "waypoints_to_pairs"]
