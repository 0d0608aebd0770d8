"""Datasets and transforms, registered in ``fastdrive.registry.DATASETS``."""

from . import transforms  # noqa: F401  (registers LoadFGMask in TRANSFORMS)
from .nuscenes_fg import NuScenesFGDataset
from .nuscenes_fg.recon_dataset import ReconFGDataset
from .planning import PlanningDataset
from .toy_dataset import ToyRegressionDataset

__all__ = ["NuScenesFGDataset", "PlanningDataset", "ReconFGDataset", "ToyRegressionDataset"]
