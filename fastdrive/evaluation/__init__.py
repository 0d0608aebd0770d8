"""Metrics, registered in ``fastdrive.registry.METRICS``."""

from .regression_metric import RegressionMSE

__all__ = ["RegressionMSE"]
