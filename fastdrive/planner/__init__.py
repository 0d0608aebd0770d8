"""The planning interface the service, the simulator and the benchmarks call.

``planner.plan(frames, ego_state, command, pruning) -> Trajectory``; see
:class:`~.base.Planner`. :class:`EmbeddedPlanner` runs the small driving VLA
FastDrive trains on its world (the default); :class:`TextWaypointPlanner`
runs a Qwen2.5-VL / Impromptu-VLA checkpoint that answers in text.
"""

from .base import Planner, PrunerPool
from .embedded import DEFAULT_CHECKPOINT, EmbeddedPlanner
from .text_planner import TextWaypointPlanner
from .types import (COMMANDS, EgoState, PlanningInputError, PruningSpec, Trajectory, as_frame,
                    command_index)

__all__ = ["COMMANDS", "DEFAULT_CHECKPOINT", "EgoState", "EmbeddedPlanner", "Planner", "PlanningInputError",
           "PrunerPool", "PruningSpec", "TextWaypointPlanner", "Trajectory", "as_frame", "command_index"]
