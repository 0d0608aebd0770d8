"""Datasets and transforms, registered in ``fastdrive.registry.DATASETS``."""

from .toy_dataset import ToyRegressionDataset

__all__ = ["ToyRegressionDataset"]
