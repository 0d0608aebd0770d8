"""Mean squared error metric (used by the toy training config)."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch
from mmengine.evaluator import BaseMetric

from ..registry import METRICS


@METRICS.register_module()
class RegressionMSE(BaseMetric):
    """Mean squared error over ``pred``/``target`` pairs from ``mode='predict'``."""

    default_prefix = "toy"

    def process(self, data_batch: Any, data_samples: Sequence[Dict[str, torch.Tensor]]) -> None:
        for sample in data_samples:
            err = (sample["pred"].float() - sample["target"].float()).pow(2).mean()
            self.results.append(float(err))

    def compute_metrics(self, results: List[float]) -> Dict[str, float]:
        return {"mse": sum(results) / max(len(results), 1)}
