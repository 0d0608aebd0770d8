"""Trainable models, registered in ``fastdrive.registry.MODELS``."""

from .toy_regressor import ToyRegressor

__all__ = ["ToyRegressor"]
