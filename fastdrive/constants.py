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

STANDSTILL_MAX_SPEED: float = 0.3
"""m/s: below this, with no throttle, the ego stands still (the go / wait question)."""
STANDSTILL_MAX_ACCEL: float = 0.05
"""m/s^2: at most this much acceleration counts as no throttle."""
GO_METRES: float = 1.0
"""A standstill sample is "go" when the logged ego moves more than this in the next 3 s."""

__all__ = ["CAMERA_NAMES", "COMMANDS", "GO_METRES", "NUM_FUTURE", "NUM_PAST", "STANDSTILL_MAX_ACCEL",
           "STANDSTILL_MAX_SPEED", "STEP_S"]
