"""``PrunerPool``: the pruners one planner serves, built once, and the per-call pruning they run in."""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Dict, Hashable, Iterator, List, Mapping, Optional, Sequence, Tuple

from torch import nn

from ..pruning import build_pruner, is_evaluation_only, list_pruners
from ..pruning.base import TokenPruner
from ..registry import PRUNERS
from ..vla.adapter import PruningCall, install_adapter
from ..vla.pruner_sizing import host_pruner_kwargs
from .sessions import SessionStore
from .types import PlanningInputError, PruningSpec

_SCALARS = (bool, int, float)
SpecKey = Tuple[str, Tuple[Tuple[str, Any], ...]]


def spec_key(spec: PruningSpec) -> SpecKey:
    """``(method, sorted options)``: what makes two requests share a pruner (the ratio does not)."""
    return spec.method, tuple(sorted(dict(spec.options).items()))


class PrunerPool:
    """The pruners of one Qwen2.5-VL model, and pruning as an argument of each call.

    The adapter is installed once, here; a forward prunes only inside
    :meth:`pruning`, which hands its request to the hooks through a context
    variable, so calls from many threads can share the model. Temporal state
    lives in one :class:`SessionStore`; pruners are pure functions of it.

    Args:
        model: the ``Qwen2_5_VLForConditionalGeneration``.
        action_rows: plan-query rows that carry the action signal (see
            :class:`~fastdrive.vla.adapter.PruningAdapter`); None for text output.
        methods: the methods this pool serves, built now, so that a bad
            configuration fails at start-up (None: every registered one, the
            evaluation-only oracles included, each built at its first use).
        sessions: the session store (default: 4096 sessions, 10 min TTL).
        max_variants: bound on the option variants kept built beyond the
            defaults (least recently used are dropped).
        method_options: per method, constructor arguments the operator sets
            for every request (e.g. ``{'recon': {'weights': path}}``).
        strict_options: True (the service): a request may set only the
            method's ``request_options``, and only to numbers or booleans.
            False (the evaluation, whose caller is the operator): any
            constructor argument (e.g. ReconPruner ``weights``). Either way
            an option never overrides a size taken from the host model.
    """

    def __init__(self, model: nn.Module, action_rows: Optional[int] = None,
                 methods: Optional[Sequence[str]] = None, sessions: Optional[SessionStore] = None,
                 max_variants: int = 32, strict_options: bool = False,
                 method_options: Optional[Mapping[str, Mapping[str, Any]]] = None) -> None:
        self.model = model
        self.method_options = {m: dict(o) for m, o in (method_options or {}).items()}
        self.strict_options = bool(strict_options)
        self.action_rows = action_rows
        self.adapter = install_adapter(model, action_rows=action_rows)
        self.sessions = sessions if sessions is not None else SessionStore()
        known = list_pruners(include_oracles=True)
        eager = methods is not None
        methods = list(known if methods is None else methods)
        unknown = [m for m in methods if m not in known]
        if unknown:
            raise PlanningInputError(f"unknown pruning method(s) {', '.join(unknown)}; registered: "
                                     f"{', '.join(list_pruners())}")
        self.methods: Tuple[str, ...] = tuple(methods)
        for m, opts in self.method_options.items():
            clash = sorted(set(opts) & set(self.model_defaults(m)))
            if clash:
                raise PlanningInputError(f"{m}: {', '.join(clash)} are set by the host model and cannot be configured")
        self.max_variants = int(max_variants)
        self._lock = threading.Lock()
        self._defaults: Dict[str, TokenPruner] = {m: self._build(m, {}) for m in self.methods} if eager else {}
        self._variants: "OrderedDict[SpecKey, TokenPruner]" = OrderedDict()

    # ------------------------------------------------------------ pruners
    def allowed_options(self, method: str) -> Tuple[str, ...]:
        """Constructor arguments a request may set for ``method`` (its ``request_options``)."""
        return tuple(getattr(PRUNERS.get(method), "request_options", ()))

    def model_defaults(self, method: str) -> Dict[str, Any]:
        """Constructor arguments that must match the host LLM (see :func:`host_pruner_kwargs`)."""
        return host_pruner_kwargs(method, self.model.config)

    def _build(self, method: str, options: Dict[str, Any]) -> TokenPruner:
        try:
            pruner = build_pruner(method, **{**self.model_defaults(method), **self.method_options.get(method, {}),
                                             **options})
        except (TypeError, ValueError) as exc:
            raise PlanningInputError(f"cannot build pruner {method!r} with {options}: {exc}") from None
        if isinstance(pruner, nn.Module):
            param = next(self.model.parameters())
            pruner = pruner.to(device=param.device, dtype=param.dtype).eval()
        return pruner

    def check(self, spec: PruningSpec) -> None:
        """Raise :class:`PlanningInputError` unless this pool serves ``spec`` (method and options)."""
        if spec.method == "none":
            return
        if spec.method not in self.methods:
            raise PlanningInputError(f"unknown pruning method {spec.method!r}; choose one of: none, "
                                     f"{', '.join(m for m in self.methods if not is_evaluation_only(m))}")
        allowed = self.allowed_options(spec.method)
        sized = self.model_defaults(spec.method)
        for name, value in dict(spec.options).items():
            if name in sized:
                raise PlanningInputError(f"option {name!r} of {spec.method!r} is set by the host model "
                                         f"({name}={sized[name]!r}) and cannot be changed")
            if not self.strict_options:
                continue
            if name not in allowed:
                raise PlanningInputError(
                    f"option {name!r} cannot be set per request for {spec.method!r}; allowed: "
                    f"{', '.join(allowed) or 'none'}")
            if not isinstance(value, _SCALARS):
                raise PlanningInputError(f"option {name!r} of {spec.method!r} must be a number or a boolean, "
                                         f"got {type(value).__name__}")

    def pruner(self, spec: PruningSpec) -> TokenPruner:
        """The pruner of ``spec`` (built at start-up, or an option variant built once and cached)."""
        self.check(spec)
        if not spec.options:
            pruner = self._defaults.get(spec.method)
            if pruner is None:
                pruner = self._build(spec.method, {})
                with self._lock:
                    pruner = self._defaults.setdefault(spec.method, pruner)
            return pruner
        try:
            key = spec_key(spec)
            hash(key)
        except TypeError:
            raise PlanningInputError(f"options of {spec.method!r} must be hashable values") from None
        with self._lock:
            if key in self._variants:
                self._variants.move_to_end(key)
                return self._variants[key]
        pruner = self._build(spec.method, dict(spec.options))
        with self._lock:
            self._variants[key] = pruner
            while len(self._variants) > self.max_variants:
                self._variants.popitem(last=False)
        return pruner

    # ------------------------------------------------------------- a call
    @contextmanager
    def pruning(self, spec: Optional[PruningSpec],
                session_ids: Sequence[Optional[str]]) -> Iterator[Optional[PruningCall]]:
        """Forwards of this thread inside the ``with`` prune the ``B`` samples as ``spec`` says.

        Yields None when ``spec`` prunes nothing (the stock model runs).
        A stateful pruner gets each sample's state from the session store
        (by ``session_ids[b]``; None: no memory) and its new state is stored
        after the body.
        """
        if spec is None or not spec.active:
            yield None
            return
        pruner = self.pruner(spec)
        if is_evaluation_only(spec.method) and not spec.context:
            raise PlanningInputError(f"{spec.method!r} is a ground-truth oracle for the evaluation: it needs "
                                     "the world's ground truth in PruningSpec.context")
        key: Hashable = spec_key(spec)
        stateful = bool(getattr(pruner, "stateful", False))
        states = actions = None
        if stateful:
            entries = [self.sessions.get(s, key) if s is not None else None for s in session_ids]
            states = [e.state if e is not None else None for e in entries]
            actions = [e.action if e is not None else None for e in entries]
        try:
            call = self.adapter.new_call(pruner, spec.keep, context=spec.context, state=states,
                                         action_attention=actions)
        except ValueError as exc:  # e.g. an in-LLM layer beyond this model's depth
            raise PlanningInputError(f"pruner {spec.method!r} does not fit this model: {exc}") from None
        with self.adapter.active(call):
            yield call
        if stateful:
            self._store(call, session_ids, key)

    def _store(self, call: PruningCall, session_ids: Sequence[Optional[str]], key: Hashable) -> None:
        states: List[Any] = list(call.state_out) if call.state_out is not None else [None] * len(session_ids)
        action = call.action_out()
        for b, sid in enumerate(session_ids):
            if sid is not None:
                self.sessions.put(sid, key, state=states[b], action=None if action is None else action[b])

    def reset(self, session_id: Optional[str] = None) -> None:
        """Forget the temporal state of ``session_id`` (None: every session)."""
        self.sessions.reset(session_id)
