"""Trainable models, registered in ``fastdrive.registry.MODELS``."""

from .driving_vla import DrivingVLA, driving_vla_config
from .toy_regressor import ToyRegressor

__all__ = ["DrivingVLA", "ToyRegressor", "driving_vla_config"]
