"""Open-loop planning data: per-sample records from nuScenes tables, the dataset, baselines."""

from .constant_velocity import constant_velocity_plan, constant_velocity_planner
from .dataset import PlanningDataset, PlanningMeta, split_scene_names
from .samples import COMMAND_INDEX, NUM_FUTURE, NUM_PAST, build_record, build_records, derive_command

__all__ = [
    "COMMAND_INDEX",
    "NUM_FUTURE",
    "NUM_PAST",
    "PlanningDataset",
    "PlanningMeta",
    "build_record",
    "build_records",
    "constant_velocity_plan",
    "constant_velocity_planner",
    "derive_command",
    "split_scene_names",
]
