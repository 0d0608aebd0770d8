"""The ``Planner`` interface and the pruner pool every Qwen2.5-VL planner shares."""

from __future__ import annotations

import abc
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple, Union

import numpy as np
from torch import nn

from ..pruning import build_pruner, is_evaluation_only, list_pruners
from ..pruning.base import TokenPruner
from ..vla.adapter import PruningHandle, attach_pruner
from ..vla.pruner_sizing import host_pruner_kwargs
from .types import EgoState, PlanningInputError, PruningSpec, Trajectory

Frames = Union[np.ndarray, Mapping[str, np.ndarray]]


class Planner(abc.ABC):
    """``plan(frames, ego_state, command, pruning) -> Trajectory``: what the service and the simulator call.

    Implementations: :class:`~.embedded.EmbeddedPlanner` (the small driving
    VLA FastDrive trains) and :class:`~.text_planner.TextWaypointPlanner`
    (Qwen2.5-VL / Impromptu-VLA checkpoints that answer in text).
    """

    #: camera names the planner reads, in order
    cameras: Tuple[str, ...] = ("CAM_FRONT",)

    @abc.abstractmethod
    def plan(self, frames: Frames, ego_state: EgoState, command: Union[str, int],
             pruning: Optional[PruningSpec] = None, session_id: Optional[str] = None) -> Trajectory:
        """Plan 6 waypoints at 0.5 s.

        Args:
            frames: ``{camera name: (H, W, 3) uint8 RGB}`` (at least
                :attr:`cameras`), or one array for the first camera.
            ego_state: current speed / acceleration / yaw rate / past positions.
            command: 'left' | 'right' | 'straight' (or its index).
            pruning: method and ratio for this call (None: no pruning).
            session_id: key of the temporal state of stateful pruners
                (VLA-Pruner); one per driving session.

        Raises:
            PlanningInputError: on a bad frame, command, ego state or pruner.
        """

    def reset(self, session_id: Optional[str] = None) -> None:
        """Forget the temporal pruning state of ``session_id`` (all sessions if None)."""

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


class PrunerPool:
    """Builds pruners by name once and attaches the requested one to a Qwen2.5-VL model per call.

    One pool per model; :meth:`attached` is serialised with a lock because
    an attached handle (and a stateful pruner) serves one forward at a time.
    ``action_rows``: the model reads its plan from that many query tokens at
    the end of the prompt (see :class:`~fastdrive.vla.adapter.PruningHandle`);
    None when it generates text.
    """

    def __init__(self, model: nn.Module, action_rows: Optional[int] = None) -> None:
        self.model = model
        self.action_rows = action_rows
        self.lock = threading.RLock()
        self._pruners: Dict[Tuple[str, Tuple[Tuple[str, Any], ...]], TokenPruner] = {}
        self._memory: Dict[Tuple[str, Tuple[Tuple[str, Any], ...]], Dict[str, Dict[Any, Any]]] = {}

    @staticmethod
    def _key(spec: PruningSpec) -> Tuple[str, Tuple[Tuple[str, Any], ...]]:
        return spec.method, tuple(sorted((k, repr(v)) for k, v in dict(spec.options).items()))

    def pruner(self, spec: PruningSpec) -> TokenPruner:
        """The (cached) pruner of ``spec``; unknown names / bad options raise :class:`PlanningInputError`."""
        key = self._key(spec)
        if key not in self._pruners:
            if spec.method not in list_pruners(include_oracles=True):
                raise PlanningInputError(
                    f"unknown pruning method {spec.method!r}; choose one of: none, {', '.join(list_pruners())}")
            kwargs = {**self.model_defaults(spec.method), **dict(spec.options)}
            try:
                pruner = build_pruner(spec.method, **kwargs)
            except (TypeError, ValueError) as exc:
                raise PlanningInputError(f"cannot build pruner {spec.method!r}: {exc}") from None
            if isinstance(pruner, nn.Module):
                param = next(self.model.parameters())
                pruner = pruner.to(param.device)
            self._pruners[key] = pruner
        return self._pruners[key]

    def model_defaults(self, method: str) -> Dict[str, Any]:
        """Constructor arguments that must match the host LLM (see :func:`host_pruner_kwargs`)."""
        return host_pruner_kwargs(method, self.model.config)

    @contextmanager
    def attached(self, spec: Optional[PruningSpec], session_id: Optional[str] = None) -> Iterator[Optional[PruningHandle]]:
        """Attach the pruner of ``spec`` (keep = 1 - ratio) for the body of the ``with``; yields its handle.

        The temporal memory of stateful pruners (per session) is carried from
        one call to the next of the same (method, options).
        """
        with self.lock:
            if spec is None or not spec.active:
                yield None
                return
            pruner = self.pruner(spec)
            if is_evaluation_only(spec.method) and not spec.context:
                raise PlanningInputError(f"{spec.method!r} is a ground-truth oracle for the evaluation: it needs "
                                         "the world's ground truth in PruningSpec.context")
            key = self._key(spec)
            try:
                handle = attach_pruner(self.model, pruner, spec.keep, session_id=session_id,
                                       action_rows=self.action_rows, context=spec.context)
            except ValueError as exc:  # e.g. an in-LLM layer beyond this model's depth
                raise PlanningInputError(f"pruner {spec.method!r} does not fit this model: {exc}") from None
            if key in self._memory:
                handle.restore_memory(self._memory[key])
            try:
                yield handle
            finally:
                if getattr(pruner, "stateful", False):
                    self._memory[key] = handle.memory()
                handle.detach()

    def reset(self, session_id: Optional[str] = None) -> None:
        """Forget the temporal state of ``session_id`` (None: every session) in every pruner."""
        with self.lock:
            for key, memory in self._memory.items():
                for part in memory.values():
                    if session_id is None:
                        part.clear()
                    else:
                        part.pop(session_id, None)
                self._pruners[key].reset(session_id)
