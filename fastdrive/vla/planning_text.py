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

Arc steps (modes that give a heading per step) are integrated along the
chord of the arc: a step of length ``d`` that turns the heading from
``h0`` to ``h1`` moves ``d`` along ``(h0 + h1) / 2``.
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


def _integrate(step: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """Positions from step lengths ``(T,)`` and headings after each step ``(T,)`` (rad)."""
    prev = np.concatenate([[0.0], heading[:-1]])
    chord = 0.5 * (prev + heading)
    return np.cumsum(np.stack([step * np.cos(chord), step * np.sin(chord)], axis=-1), axis=0)


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
        return _integrate(a, np.radians(b))
    if mode == "dist-dtheta":
        return _integrate(a, np.cumsum(np.radians(b)))
    # dist-curvature: heading change over a step = curvature * length
    return _integrate(a, np.cumsum(a * b / 100.0))


def parse_planning_text(text: str, mode: str = "dist-dtheta") -> np.ndarray:
    """Read six ego-frame waypoints ``(6, 2)`` (x forward, y left, m) from VLA text."""
    return pairs_to_waypoints(extract_pairs(text), mode)


def waypoints_to_pairs(waypoints: np.ndarray, mode: str) -> np.ndarray:
    """Inverse of :func:`pairs_to_waypoints` (exact up to the chord approximation).

    Args:
        waypoints: ``(T, 2)`` ego-frame xy.
    """
    if mode not in MODES:
        raise ValueError(f"unknown planning mode {mode!r}; choose from {MODES}")
    pts = np.asarray(waypoints, dtype=np.float64)
    if mode == "x-y":
        return pts.copy()
    if mode == "polar":
        return np.stack([np.hypot(pts[:, 0], pts[:, 1]),
                         np.degrees(np.arctan2(pts[:, 1], pts[:, 0]))], axis=-1)
    steps = np.diff(np.vstack([[0.0, 0.0], pts]), axis=0)
    if mode == "dx-dy":
        return np.stack([-steps[:, 1], steps[:, 0]], axis=-1)
    dist = np.hypot(steps[:, 0], steps[:, 1])
    chord = np.arctan2(steps[:, 1], steps[:, 0])
    heading = np.zeros(len(pts))
    prev = 0.0
    for i, c in enumerate(chord):  # chord = (prev + h) / 2  =>  h = 2 c - prev
        h = 2.0 * c - prev if dist[i] > 1e-6 else prev
        heading[i] = h
        prev = h
    if mode == "dist-theta":
        return np.stack([dist, np.degrees(heading)], axis=-1)
    dtheta = np.diff(np.concatenate([[0.0], heading]))
    if mode == "dist-dtheta":
        return np.stack([dist, np.degrees(dtheta)], axis=-1)
    curv = np.where(dist > 1e-6, dtheta / np.maximum(dist, 1e-6) * 100.0, 0.0)
    return np.stack([dist, curv], axis=-1)


def format_planning_text(waypoints: np.ndarray, mode: str = "dist-dtheta",
                         decimals: Optional[int] = 2) -> str:
    """Impromptu-style answer for ``(6, 2)`` ego-frame waypoints."""
    pairs = waypoints_to_pairs(waypoints, mode)
    fmt = (lambda v: f"{v:.{decimals}f}") if decimals is not None else repr
    body = ", ".join(f"[{fmt(a)}, {fmt(b)}]" for a, b in pairs)
    return ("<PLANNING>Predicted future movement details for the next 3 seconds "
            f"The output is formatted as {_LABELS[mode]}: {body}</PLANNING>")


__all__ = ["MODES", "PlanningParseError", "extract_pairs", "format_planning_text",
           "pairs_to_waypoints", "parse_planning_text", "waypoints_to_pairs"]
