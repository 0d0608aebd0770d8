"""Trainable models, registered in ``fastdrive.registry.MODELS``."""

from .driving_vla import DrivingVLA, driving_vla_config
from .recon_trainer import ReconPrunerTrainer
from .toy_regressor import ToyRegressor

__all__ = ["DrivingVLA", "ReconPrunerTrainer", "ToyRegressor", "driving_vla_config"]
