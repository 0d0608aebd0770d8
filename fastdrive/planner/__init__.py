"""The planning interface the service, the simulator and the benchmarks call.

``planner.plan_batch([PlanRequest, ...]) -> [Trajectory, ...]`` and
``planner.plan(frames, ego_state, command, pruning, session_id, prev_frames)`` (a batch of
one); see :class:`~.base.Planner`. :class:`EmbeddedPlanner` runs the small
driving VLA FastDrive trains on its world (the default);
:class:`TextWaypointPlanner` runs a Qwen2.5-VL / Impromptu-VLA checkpoint
that answers in text. Importing this package loads neither mmengine nor the
datasets nor the simulation (the model code is imported when a model is loaded).
"""

from .base import Planner
from .embedded import DEFAULT_CHECKPOINT, EmbeddedPlanner
from .pruner_pool import PrunerPool
from .sessions import SessionStore
from .text_planner import TextWaypointPlanner
from .types import (COMMANDS, EgoState, PlanningInputError, PlanRequest, PruningSpec, Trajectory, as_frame,
                    command_index)

__all__ = ["COMMANDS", "DEFAULT_CHECKPOINT", "EgoState", "EmbeddedPlanner", "Planner", "PlanningInputError",
           "PlanRequest", "PrunerPool", "PruningSpec", "SessionStore", "TextWaypointPlanner", "Trajectory",
           "as_frame", "command_index"]
