"""Metrics (registered in ``fastdrive.registry.METRICS``), the pruning sweep and token overlays."""

from .open_loop import PlanningMetric, evaluate_open_loop
from .pruning_sweep import SweepResult, run_pruning_sweep
from .recon_metric import ReconTokenMetric
from .regression_metric import RegressionMSE
from .token_overlay import foreground_recall, overlay_kept_tokens

__all__ = ["PlanningMetric", "ReconTokenMetric", "RegressionMSE", "SweepResult", "evaluate_open_loop", "foreground_recall",
           "overlay_kept_tokens", "run_pruning_sweep"]
