"""Open-loop planning evaluation over planning records (DESIGN.md section 6).

:func:`evaluate_open_loop` runs any planner function over a dataset of
planning records (``fastdrive.datasets.planning``) and scores it with
:class:`PlanningAccumulator`: L2 at 1/2/3 s, collision against the
ground-truth future boxes of others, intersection with the map's drivable
area. :class:`PlanningMetric` is the same for mmengine's evaluator
(``mim test``).

Samples without all 6 future poses (end of a scene) are skipped, like
Impromptu-VLA's ``%DROP%`` samples; they are counted in ``num_skipped``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from ..registry import METRICS
from .planning_metrics import PlanningAccumulator


def _record_of(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """The planning record inside a dataset item (``item['meta']``) or the record itself."""
    return item["meta"] if "meta" in item else item


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def add_sample(acc: PlanningAccumulator, pred: Any, record: Mapping[str, Any], use_map: bool = True) -> bool:
    """Score one planned trajectory against its record; False if the sample was skipped.

    Args:
        acc: the accumulator to update.
        pred: ``(6, 2)`` planned waypoints (ego frame, metres; numpy or torch).
        record: planning record with ``gt_traj``, ``gt_valid``, ``future_boxes``, ``drivable_wkt``.
        use_map: score intersection with the drivable area (needs ``drivable_wkt``).
    """
    from fastdrive.datasets.planning._drivable import from_wkt

    valid = np.asarray(record["gt_valid"], bool)
    if not valid.all():
        return False
    pred = _to_numpy(pred).reshape(-1, 2)
    gt = _to_numpy(record["gt_traj"]).reshape(-1, 2)
    if pred.shape != gt.shape:
        raise ValueError(f"planned trajectory has shape {pred.shape}, expected {gt.shape}")
    others = [np.asarray(b, np.float64).reshape(-1, 5) for b in record["future_boxes"]]
    text = record.get("drivable_wkt", "") if use_map else ""
    acc.update(pred, gt, others, from_wkt(text) if text else None)
    return True


def evaluate_open_loop(
    planner_fn: Callable[[Mapping[str, Any]], Any],
    dataset: Iterable[Mapping[str, Any]],
    use_map: bool = True,
) -> Dict[str, float]:
    """Run ``planner_fn`` on every sample of ``dataset`` and return the open-loop metrics.

    Args:
        planner_fn: item -> ``(6, 2)`` waypoints in the ego frame (x forward, y
            left, metres). It gets what the dataset yields (a ``PlanningDataset``
            item or a bare planning record).
        dataset: a ``PlanningDataset`` or any iterable of items / records.
        use_map: also score intersection (off the drivable area).

    Returns:
        ``L2_{1,2,3}s`` / ``L2_avg`` (m), ``collision_*`` and ``intersection_*``
        (%), ``num_samples``, ``num_collision_excluded``, ``num_skipped``.
    """
    acc = PlanningAccumulator()
    skipped = 0
    for item in _iterate(dataset):
        record = _record_of(item)
        if not np.asarray(record["gt_valid"], bool).all():
            skipped += 1
            continue
        add_sample(acc, planner_fn(item), record, use_map)
    out = acc.compute()
    out["num_skipped"] = float(skipped)
    return out


def _iterate(dataset: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    if hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__"):
        return (dataset[i] for i in range(len(dataset)))
    return iter(dataset)


@METRICS.register_module()
class PlanningMetric(BaseMetric):
    """Open-loop L2 / collision / intersection for mmengine's evaluator.

    ``process`` takes the model's ``predict`` outputs: one dict per sample with
    ``pred_traj`` ``(6, 2)`` and either the planning record under ``meta``
    or the record's fields (``gt_traj``, ``gt_valid``, ``future_boxes``,
    ``drivable_wkt``). When an output carries no record, the record is read
    from ``data_batch['meta'][i]`` (``PlanningDataset`` items collated by
    ``pseudo_collate``).

    Args:
        use_map: score intersection with the drivable area.
        collect_device / prefix: as in ``mmengine.evaluator.BaseMetric``.
    """

    default_prefix = "plan"

    def __init__(
        self, use_map: bool = True, collect_device: str = "cpu", prefix: Optional[str] = None
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.use_map = use_map

    @staticmethod
    def _batch_records(data_batch: Any) -> Optional[List[Mapping[str, Any]]]:
        if isinstance(data_batch, Mapping) and "meta" in data_batch:
            return list(data_batch["meta"])  # pseudo_collate'd PlanningDataset items
        if isinstance(data_batch, Sequence) and data_batch and isinstance(data_batch[0], Mapping):
            return [_record_of(d) for d in data_batch]
        return None

    def process(self, data_batch: Any, data_samples: Sequence[Mapping[str, Any]]) -> None:
        batch_records = self._batch_records(data_batch)
        for i, out in enumerate(data_samples):
            if "meta" in out:
                rec = out["meta"]
            elif "gt_traj" in out:
                rec = out
            elif batch_records is not None:
                rec = batch_records[i]
            else:
                raise KeyError(
                    "PlanningMetric needs the planning record in the outputs or in data_batch['meta']"
                )
            self.results.append(
                {
                    "pred": _to_numpy(out["pred_traj"]).reshape(-1, 2),
                    "gt_traj": _to_numpy(rec["gt_traj"]),
                    "gt_valid": np.asarray(_to_numpy(rec["gt_valid"]), bool),
                    "future_boxes": [np.asarray(b, np.float64) for b in rec["future_boxes"]],
                    "drivable_wkt": rec.get("drivable_wkt", ""),
                }
            )

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        acc = PlanningAccumulator()
        skipped = sum(0 if add_sample(acc, r["pred"], r, self.use_map) else 1 for r in results)
        if not acc.preds:
            return {"num_samples": 0.0, "num_skipped": float(skipped)}
        out = acc.compute()
        out["num_skipped"] = float(skipped)
        return out
