"""Planning constants shared by the planner, the service, the world and the datasets.

This module imports nothing: ``fastdrive.planner`` (and so the service)
reads its commands, horizon and camera names here without loading the
simulation or the datasets, which take theirs from here as well.
"""

from typing import Tuple

COMMANDS: Tuple[str, ...] = ("left", "right", "straight")
"""Navigation commands, in index order (the planner's command embedding)."""

STEP_S: float = 0.5
"""Seconds between waypoints (and between the world's keyframes)."""

NUM_FUTURE: int = 6
"""Planned waypoints: t = 0.5 ... 3.0 s."""

NUM_PAST: int = 4
"""Past ego positions handed to the planner: t = -2.0 ... -0.5 s."""

CAMERA_NAMES: Tuple[str, ...] = (
    "CAM_FRONT",
    "CAM_FRONT_RIGHT",
    "CAM_BACK_RIGHT",
    "CAM_BACK",
    "CAM_BACK_LEFT",
    "CAM_FRONT_LEFT",
)
"""The six nuScenes cameras, in the nuScenes rig order."""

__all__ = ["CAMERA_NAMES", "COMMANDS", "NUM_FUTURE", "NUM_PAST", "STEP_S"]
