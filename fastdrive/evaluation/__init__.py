"""Metrics, registered in ``fastdrive.registry.METRICS``."""

from .open_loop import PlanningMetric, evaluate_open_loop
from .regression_metric import RegressionMSE
from .token_overlay import foreground_recall, overlay_kept_tokens

__all__ = ["PlanningMetric", "RegressionMSE", "evaluate_open_loop", "foreground_recall",
           "overlay_kept_tokens"]
