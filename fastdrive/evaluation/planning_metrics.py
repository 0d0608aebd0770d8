"""Open-loop planning metrics (nuScenes protocol of ST-P3 / UniAD / VAD / Impromptu-VLA).

Trajectories are 6 waypoints at 0.5 s (t = 0.5 ... 3.0 s) in the ego frame
at the current time (x forward, y left, metres). DESIGN.md section 6:

* **L2** at 1 s / 2 s / 3 s is the mean over the horizon steps up to that
  time of the per-step Euclidean error; ``avg`` is the mean of the three.
* **Collision**: the ego box (4.084 m x 1.85 m, its centre 0.5 m ahead of
  the rear axle) placed at each planned waypoint, heading along the path,
  is tested against the ground-truth boxes of other agents at the same
  future step. Samples whose *logged* trajectory already collides are
  excluded. Like L2, the rate at horizon ``t`` is the mean over steps up to
  ``t`` of the per-step rate.
* **Intersection**: the planned ego box is not contained in the drivable
  area (off-road), same aggregation.

The geometry uses shapely polygons; everything is numpy in, floats out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

EGO_LENGTH = 4.084
EGO_WIDTH = 1.85
EGO_CENTER_OFFSET = 0.5  # box centre ahead of the rear axle (m)
HORIZONS_S = (1.0, 2.0, 3.0)
from ..constants import STEP_S  # noqa: E402


def _steps_up_to(t: float) -> int:
    return int(round(t / STEP_S))


def l2_errors(pred: np.ndarray, gt: np.ndarray, valid: Optional[np.ndarray] = None) -> Dict[str, float]:
    """L2 errors of a batch of trajectories.

    Args:
        pred: ``(N, 6, 2)`` planned waypoints.
        gt: ``(N, 6, 2)`` logged waypoints.
        valid: ``(N, 6)`` bool, False where the log has no future pose.

    Returns:
        ``{'L2_1s', 'L2_2s', 'L2_3s', 'L2_avg'}`` in metres.
    """
    pred, gt = np.asarray(pred, float), np.asarray(gt, float)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"pred and gt must both be (N, T, 2), got {pred.shape} and {gt.shape}")
    err = np.linalg.norm(pred - gt, axis=-1)  # (N, T)
    valid = np.ones_like(err, dtype=bool) if valid is None else np.asarray(valid, bool)
    out: Dict[str, float] = {}
    for t in HORIZONS_S:
        k = _steps_up_to(t)
        out[f"L2_{int(t)}s"] = float(err[:, :k][valid[:, :k]].mean()) if valid[:, :k].any() else float("nan")
    out["L2_avg"] = float(np.mean([out[f"L2_{int(t)}s"] for t in HORIZONS_S]))
    return out


def path_headings(traj: np.ndarray, initial_yaw: float = 0.0, min_step: float = 0.05) -> np.ndarray:
    """Heading (rad) at each waypoint, along the path from the previous one.

    Args:
        traj: ``(T, 2)`` waypoints (the origin is the previous point of the first).
        initial_yaw: heading at the origin, used while the ego is standing.
        min_step: steps shorter than this keep the previous heading.
    """
    prev = np.vstack([[0.0, 0.0], traj[:-1]])
    d = traj - prev
    out = np.empty(len(traj))
    yaw = initial_yaw
    for i, (dx, dy) in enumerate(d):
        if np.hypot(dx, dy) >= min_step:
            yaw = float(np.arctan2(dy, dx))
        out[i] = yaw
    return out


def box_polygon(x: float, y: float, yaw: float, length: float, width: float) -> Polygon:
    """Rectangle centred at ``(x, y)`` with heading ``yaw``."""
    c, s = np.cos(yaw), np.sin(yaw)
    half = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]]) * [length / 2, width / 2]
    rot = np.array([[c, -s], [s, c]])
    return Polygon(half @ rot.T + [x, y])


def ego_polygons(traj: np.ndarray) -> List[Polygon]:
    """Ego boxes at each waypoint ``(T, 2)`` (rear-axle positions) -> T polygons."""
    yaws = path_headings(traj)
    polys = []
    for (x, y), yaw in zip(traj, yaws):
        cx, cy = x + EGO_CENTER_OFFSET * np.cos(yaw), y + EGO_CENTER_OFFSET * np.sin(yaw)
        polys.append(box_polygon(cx, cy, yaw, EGO_LENGTH, EGO_WIDTH))
    return polys


def collision_flags(traj: np.ndarray, others: Sequence[np.ndarray]) -> np.ndarray:
    """Per-step collision of the ego box with other agents.

    Args:
        traj: ``(T, 2)`` ego waypoints.
        others: T arrays ``(M_t, 5)`` of boxes ``[x, y, length, width, yaw]``
            at each future step, in the same ego frame.

    Returns:
        ``(T,)`` bool.
    """
    flags = np.zeros(len(traj), dtype=bool)
    for t, ego in enumerate(ego_polygons(traj)):
        for x, y, length, width, yaw in np.asarray(others[t], float).reshape(-1, 5):
            if ego.intersects(box_polygon(x, y, yaw, length, width)):
                flags[t] = True
                break
    return flags


def offroad_flags(traj: np.ndarray, drivable: BaseGeometry) -> np.ndarray:
    """Per-step flag: the ego box is not inside ``drivable`` (ego-frame geometry)."""
    drivable = drivable.buffer(1e-6)
    return np.array([not drivable.contains(p) for p in ego_polygons(traj)], dtype=bool)


def horizon_rates(per_step: np.ndarray, name: str) -> Dict[str, float]:
    """``{name_1s, name_2s, name_3s, name_avg}``: the mean of ``per_step (T,)`` up to each horizon, and their mean."""
    out = {f"{name}_{int(t)}s": float(per_step[: _steps_up_to(t)].mean()) for t in HORIZONS_S}
    out[f"{name}_avg"] = float(np.mean([out[f"{name}_{int(t)}s"] for t in HORIZONS_S]))
    return out


@dataclass
class PlanningAccumulator:
    """Accumulates samples and reports every open-loop metric.

    ``update`` one sample at a time; ``compute`` returns L2 (1/2/3 s, avg),
    ``collision_{1,2,3}s``/``collision_avg`` and
    ``intersection_{1,2,3}s``/``intersection_avg`` as percentages, and
    ``num_samples`` / ``num_collision_excluded``.
    """

    preds: List[np.ndarray] = field(default_factory=list)
    gts: List[np.ndarray] = field(default_factory=list)
    collisions: List[np.ndarray] = field(default_factory=list)
    offroads: List[np.ndarray] = field(default_factory=list)
    excluded: int = 0

    def update(self, pred: np.ndarray, gt: np.ndarray, others: Optional[Sequence[np.ndarray]] = None,
               drivable: Optional[BaseGeometry] = None) -> None:
        """Add one sample: ``pred``/``gt`` ``(6, 2)``, others' boxes per step, drivable area."""
        pred, gt = np.asarray(pred, float), np.asarray(gt, float)
        self.preds.append(pred)
        self.gts.append(gt)
        if others is not None:
            if collision_flags(gt, others).any():
                self.excluded += 1
            else:
                self.collisions.append(collision_flags(pred, others))
        if drivable is not None:
            self.offroads.append(offroad_flags(pred, drivable))

    @staticmethod
    def _rates(flags: List[np.ndarray], name: str) -> Dict[str, float]:
        if not flags:
            return {}
        return horizon_rates(np.stack(flags).mean(axis=0) * 100.0, name)

    def compute(self) -> Dict[str, float]:
        if not self.preds:
            raise ValueError("no samples were added")
        out = l2_errors(np.stack(self.preds), np.stack(self.gts))
        out.update(self._rates(self.collisions, "collision"))
        out.update(self._rates(self.offroads, "intersection"))
        out["num_samples"] = float(len(self.preds))
        out["num_collision_excluded"] = float(self.excluded)
        return out
