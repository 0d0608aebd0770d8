"""Metrics, registered in ``fastdrive.registry.METRICS``."""

from .open_loop import PlanningMetric, evaluate_open_loop
from .regression_metric import RegressionMSE

__all__ = ["PlanningMetric", "RegressionMSE", "evaluate_open_loop"]
