"""Per-sample open-loop metrics, so that any subset can be scored and intervals bootstrapped.

:class:`PlanningAccumulator` reports the protocol's averages; the pruning
sweep also needs every sample's own numbers: to report event-tagged subsets
and to resample scenes for paired confidence intervals. For samples with all
6 future poses, the mean of :func:`sample_metrics` over samples equals
:meth:`PlanningAccumulator.compute` (NaN entries skipped, a test checks it):

* ``L2_1s`` / ``L2_2s`` / ``L2_3s``: mean per-step error up to that time (m),
  ``L2_avg`` their mean;
* ``collision_avg``: mean over the 1/2/3 s horizons of the share of colliding
  steps up to that horizon, in percent; NaN where the *logged* trajectory
  collides (the protocol excludes those samples);
* ``intersection_avg``: the same for the planned box leaving the drivable
  area; NaN without a map.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from .planning_metrics import collision_flags, horizon_rates, l2_errors, offroad_flags

SAMPLE_KEYS = ("L2_1s", "L2_2s", "L2_3s", "L2_avg", "collision_avg", "intersection_avg")


class SampleScorer:
    """Scores planned trajectories against planning records, caching each record's geometry.

    Args:
        use_map: score intersection with the record's drivable area.
    """

    def __init__(self, use_map: bool = True) -> None:
        self.use_map = use_map
        self._cache: Dict[str, Tuple[list, Any, bool]] = {}

    def _geometry(self, record: Mapping[str, Any]) -> Tuple[list, Any, bool]:
        key = str(record.get("sample_token", id(record)))
        if key not in self._cache:
            from fastdrive.datasets.planning._drivable import from_wkt

            others = [np.asarray(b, np.float64).reshape(-1, 5) for b in record["future_boxes"]]
            gt = np.asarray(record["gt_traj"], np.float64).reshape(-1, 2)
            text = record.get("drivable_wkt", "") if self.use_map else ""
            self._cache[key] = (others, from_wkt(text) if text else None, bool(collision_flags(gt, others).any()))
        return self._cache[key]

    def __call__(self, pred: Any, record: Mapping[str, Any]) -> Dict[str, float]:
        """``{key: value}`` for :data:`SAMPLE_KEYS` of one ``(6, 2)`` plan (ego frame, m)."""
        if hasattr(pred, "detach"):
            pred = pred.detach().cpu().numpy()
        pred = np.asarray(pred, np.float64).reshape(-1, 2)
        gt = np.asarray(record["gt_traj"], np.float64).reshape(-1, 2)
        if pred.shape != gt.shape:
            raise ValueError(f"planned trajectory has shape {pred.shape}, expected {gt.shape}")
        out = l2_errors(pred[None], gt[None])
        others, drivable, logged_collides = self._geometry(record)
        out["collision_avg"] = float("nan") if logged_collides else \
            horizon_rates(100.0 * collision_flags(pred, others), "collision")["collision_avg"]
        out["intersection_avg"] = float("nan") if drivable is None else \
            horizon_rates(100.0 * offroad_flags(pred, drivable), "intersection")["intersection_avg"]
        return out


def mean_metrics(samples: Mapping[str, np.ndarray], subset: Optional[np.ndarray] = None) -> Dict[str, float]:
    """NaN-skipping means of per-sample arrays ``{key: (S,)}``, over ``subset`` ``(S,)`` bool if given."""
    out: Dict[str, float] = {}
    for k, v in samples.items():
        v = np.asarray(v, np.float64)
        if subset is not None:
            v = v[np.asarray(subset, bool)]
        v = v[np.isfinite(v)]
        out[k] = float(v.mean()) if v.size else float("nan")
    return out
