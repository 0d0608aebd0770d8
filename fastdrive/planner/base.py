"""The ``Planner`` interface: batch-first planning that the service, the simulator and the benchmarks call."""

from __future__ import annotations

import abc
from typing import Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .pruner_pool import PrunerPool, spec_key
from .types import EgoState, PlanningInputError, PlanRequest, PruningSpec, Trajectory, as_frame, command_index

Frames = Union[np.ndarray, Mapping[str, np.ndarray]]


class Planner(abc.ABC):
    """``plan_batch(requests) -> [Trajectory]``; ``plan(...)`` is a batch of one.

    Implementations: :class:`~.embedded.EmbeddedPlanner` (the small driving
    VLA FastDrive trains) and :class:`~.text_planner.TextWaypointPlanner`
    (Qwen2.5-VL / Impromptu-VLA checkpoints that answer in text). They
    implement :meth:`_plan_group`: one group of requests that share a
    pruning configuration. Calls from several threads may run at once: the
    pruning request of a forward is an argument of that forward (see
    :class:`~.pruner_pool.PrunerPool`), never a state of the model.
    """

    #: camera names the planner reads, in order
    cameras: Tuple[str, ...] = ("CAM_FRONT",)
    #: whether it reads the previous keyframe too (``PlanRequest.prev_frames``)
    reads_prev_frames: bool = False
    #: the planner's pruners and session store (set by implementations)
    pool: PrunerPool

    def plan(self, frames: Frames, ego_state: EgoState, command: Union[str, int],
             pruning: Optional[PruningSpec] = None, session_id: Optional[str] = None,
             prev_frames: Optional[Frames] = None) -> Trajectory:
        """Plan 6 waypoints at 0.5 s for one sample; see :class:`~.types.PlanRequest` for the arguments.

        Raises:
            PlanningInputError: on a bad frame, command, ego state or pruner.
        """
        return self.plan_batch([PlanRequest(frames, ego_state, command, pruning, session_id, prev_frames)])[0]

    def plan_batch(self, requests: Sequence[PlanRequest]) -> List[Trajectory]:
        """Plan every request; the result is in request order.

        Requests are validated first (nothing runs if one is bad), then
        grouped by pruning configuration (method, ratio, options, ground-truth
        context); each group is one :meth:`_plan_group` call. Each sample
        keeps its own session. Waypoints equal those of one-by-one calls
        within float tolerance.

        Raises:
            PlanningInputError: naming the first bad request (its index).
        """
        requests = list(requests)
        for i, req in enumerate(requests):
            try:
                self.validate(req)
            except PlanningInputError as exc:
                prefix = f"request {i}: " if len(requests) > 1 else ""
                raise PlanningInputError(f"{prefix}{exc}") from None
        groups: Dict[Hashable, List[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault(self._group_key(req.pruning), []).append(i)
        out: List[Optional[Trajectory]] = [None] * len(requests)
        for idx in groups.values():
            spec = requests[idx[0]].pruning
            for i, traj in zip(idx, self._plan_group([requests[i] for i in idx], spec)):
                out[i] = traj
        return out  # type: ignore[return-value]

    def validate(self, request: PlanRequest) -> None:
        """Raise :class:`PlanningInputError` for a request that cannot be planned (cheap; no model call)."""
        frames = self.select_frames(request.frames)
        for cam, frame in frames.items():
            as_frame(frame, cam)
        if request.prev_frames is not None and self.reads_prev_frames:  # others ignore them
            try:
                prev = self.select_frames(request.prev_frames)
            except PlanningInputError as exc:
                raise PlanningInputError(f"previous keyframe: {exc}") from None
            for cam, frame in prev.items():
                as_frame(frame, f"{cam} (previous keyframe)")
        command_index(request.command)
        request.ego_state.vector()
        request.ego_state.past()
        if request.pruning is not None:
            self.pool.check(request.pruning)

    @staticmethod
    def _group_key(spec: Optional[PruningSpec]) -> Hashable:
        if spec is None or not spec.active:
            return ("none",)
        # requests carrying ground truth (the oracles) share a group only with the same context object
        return spec_key(spec), float(spec.ratio), id(spec.context) if spec.context else None

    @abc.abstractmethod
    def _plan_group(self, requests: Sequence[PlanRequest], spec: Optional[PruningSpec]) -> List[Trajectory]:
        """Plan validated requests that share ``spec`` (None or inactive: no pruning)."""

    def reset(self, session_id: Optional[str] = None) -> None:
        """Forget the temporal pruning state of ``session_id`` (all sessions if None)."""
        self.pool.reset(session_id)

    def select_frames(self, frames: Frames) -> Dict[str, np.ndarray]:
        """``{camera: frame}`` for :attr:`cameras`, from a mapping or a single array."""
        if isinstance(frames, Mapping):
            missing = [c for c in self.cameras if c not in frames]
            if missing:
                raise PlanningInputError(f"missing camera frame(s): {', '.join(missing)}")
            return {c: frames[c] for c in self.cameras}
        if len(self.cameras) != 1:
            raise PlanningInputError(f"this planner needs frames for {', '.join(self.cameras)}")
        return {self.cameras[0]: frames}


__all__ = ["Frames", "Planner", "PrunerPool"]
