"""Value types of the planning interface: what goes into ``Planner.plan`` and what comes out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..constants import COMMANDS, NUM_PAST, STEP_S
from ..constants import NUM_FUTURE as NUM_WAYPOINTS  # noqa: F401 (re-exported)
from ..errors import InputError


class PlanningInputError(InputError, ValueError):
    """Bad input to a planner (unknown command, wrong frame shape, missing camera, ...)."""


@dataclass(frozen=True)
class PruningSpec:
    """Which pruner acts and how much it removes.

    Attributes:
        method: a name of :func:`fastdrive.pruning.list_pruners`, or 'none'.
        ratio: share of visual tokens removed, in [0, 1) (0.75 keeps
            floor(N * 0.25)); 0 with any method means no pruning.
        options: constructor arguments of the method (e.g. ``{'layer': 2}``).
        context: per-call inputs handed to the pruner in
            ``PruningContext.extra``; the evaluation puts the ground truth
            that the oracle pruners read here (``{'token_classes': (N, C)}``).
    """

    method: str = "none"
    ratio: float = 0.0
    options: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.ratio) < 1.0:
            raise PlanningInputError(f"pruning ratio must be in [0, 1), got {self.ratio}")

    @property
    def active(self) -> bool:
        return self.method != "none" and float(self.ratio) > 0.0

    @property
    def keep(self) -> float:
        """Share of visual tokens kept (``1 - ratio``)."""
        return 1.0 - float(self.ratio)


@dataclass
class EgoState:
    """Ego motion at planning time (ego frame: x forward, y left; SI units).

    Attributes:
        speed: m/s. accel: longitudinal acceleration, m/s^2.
        yaw_rate: rad/s, positive = left.
        past_traj: ``(4, 2)`` positions at t = -2.0 ... -0.5 s in the
            current ego frame (None: extrapolated back at constant speed).
    """

    speed: float
    accel: float = 0.0
    yaw_rate: float = 0.0
    past_traj: Optional[np.ndarray] = None

    def past(self) -> np.ndarray:
        """``(4, 2)`` float32 past positions (given, or constant-speed straight line)."""
        if self.past_traj is not None:
            arr = np.asarray(self.past_traj, np.float32)
            if arr.shape != (NUM_PAST, 2) or not np.all(np.isfinite(arr)):
                raise PlanningInputError(f"past_traj must be {NUM_PAST}x2 finite numbers, got shape {arr.shape}")
            return arr
        t = -STEP_S * np.arange(NUM_PAST, 0, -1, dtype=np.float32)
        return np.stack([self.speed * t, np.zeros_like(t)], axis=-1).astype(np.float32)

    def vector(self) -> np.ndarray:
        """``(3,)`` float32 ``[speed, accel, yaw_rate]``."""
        v = np.array([self.speed, self.accel, self.yaw_rate], np.float32)
        if not np.all(np.isfinite(v)):
            raise PlanningInputError(f"ego state must be finite, got {v.tolist()}")
        return v


@dataclass
class Trajectory:
    """A plan: waypoints plus what it cost and which visual tokens it used.

    Attributes:
        waypoints: ``(6, 2)`` float64 x/y (m) in the ego frame at t = 0.5 ... 3.0 s.
        dt: seconds between waypoints.
        timings: seconds: ``preprocess``, ``model`` (vision + LLM, pruner
            included), ``pruner`` (the method's own share), ``total``.
        num_visual: visual tokens before pruning (all cameras).
        num_kept: visual tokens the LLM saw.
        kept_tokens: per camera, ``(K, 2)`` int ``(row, col)`` of kept tokens
            in that camera's token grid; None when nothing was pruned.
        grids: per camera, the token grid ``(rows, cols)``.
        cameras: camera names in the order of ``kept_tokens`` / ``grids``.
        pruning: the spec that was applied.
        text: the raw model answer (text-output planners), else None.
        batch_size: samples in the forward that planned this one (the
            timings are those of the whole forward).
    """

    waypoints: np.ndarray
    dt: float = STEP_S
    timings: Dict[str, float] = field(default_factory=dict)
    num_visual: int = 0
    num_kept: int = 0
    kept_tokens: Optional[List[np.ndarray]] = None
    grids: List[Sequence[int]] = field(default_factory=list)
    cameras: List[str] = field(default_factory=list)
    pruning: PruningSpec = field(default_factory=PruningSpec)
    text: Optional[str] = None
    batch_size: int = 1

    def kept_mask(self, camera: int = 0) -> np.ndarray:
        """``(rows, cols)`` bool map of the tokens of camera ``camera`` the LLM saw (all True unpruned)."""
        mask = np.zeros(tuple(self.grids[camera]), bool)
        if self.kept_tokens is None:
            mask[:] = True
        else:
            rc = self.kept_tokens[camera]
            mask[rc[:, 0], rc[:, 1]] = True
        return mask


@dataclass
class PlanRequest:
    """One sample to plan (an element of ``Planner.plan_batch``).

    Attributes:
        frames: ``{camera name: (H, W, 3) uint8 RGB}`` (at least the
            planner's cameras), or one array for its first camera.
        ego_state: current speed / acceleration / yaw rate / past positions.
        command: 'left' | 'right' | 'straight' (or its index).
        pruning: method and ratio for this sample (None: no pruning).
        session_id: key of the temporal state of stateful pruners
            (VLA-Pruner); one per driving session (None: no memory).
        prev_frames: the same cameras at the previous keyframe (0.5 s
            earlier), same form as ``frames``; read by a planner whose model
            sees a two-frame clip (``DrivingVLA(frame_pair=True)``), which
            without them plans from a still (the current frame twice).
            Ignored by single-frame planners.
    """

    frames: Any
    ego_state: EgoState
    command: Union[str, int]
    pruning: Optional[PruningSpec] = None
    session_id: Optional[str] = None
    prev_frames: Any = None


def command_index(command: Union[str, int]) -> int:
    """'left' | 'right' | 'straight' (or 0 / 1 / 2) -> index into :data:`COMMANDS`."""
    if isinstance(command, (int, np.integer)) and not isinstance(command, bool):
        if 0 <= int(command) < len(COMMANDS):
            return int(command)
    elif isinstance(command, str) and command.lower() in COMMANDS:
        return COMMANDS.index(command.lower())
    raise PlanningInputError(f"command must be one of {', '.join(COMMANDS)}, got {command!r}")


def as_frame(frame: Any, name: str) -> np.ndarray:
    """Validate one camera frame: ``(H, W, 3)`` uint8 (float frames in [0, 1] are converted)."""
    arr = np.asarray(frame)
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 28:
        raise PlanningInputError(f"{name}: expected an (H, W, 3) RGB image of at least 28x28, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)):
            raise PlanningInputError(f"{name}: expected uint8 or float pixels, got {arr.dtype}")
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return arr
