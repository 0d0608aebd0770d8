"""Plug :class:`~fastdrive.pruning.base.TokenPruner` s into a Qwen2.5-VL model.

Two ways in, one mechanism:

* **Per call (the planner, the service).** ``adapter = install_adapter(model)``
  registers forward pre-hooks once (nothing in transformers is edited or
  replaced). Each forward that should prune runs inside
  ``with adapter.pruning(pruner, keep, ...) as call:``; the request travels in
  a :class:`contextvars.ContextVar` that the hooks read, so concurrent
  threads calling the same model each see only their own request, and a
  forward outside such a block is the stock computation. ``call.last`` says
  which tokens were kept; ``call.state_out`` / ``call.action_out()`` are the
  temporal state to hand to the session's next call. ``adapter.remove()``
  removes the hooks.
* **Attached (scripts, notebooks).** ``handle = attach_pruner(model, pruner,
  keep=0.25)`` makes every later ``model(**inputs)`` / ``model.generate(...)``
  prune until ``handle.detach()``; the handle keeps each session's temporal
  state. It is the same adapter with a standing request, one thread at a time.

Hook points (see :mod:`._call`):

* pre-LLM (``pruner.stage == 'pre_llm'``), a pre-hook on ``model.model``
  (``Qwen2_5_VLModel``): on a prefill with images it runs the vision tower +
  merger, computes 3D M-RoPE ``position_ids`` over the full sequence with
  the model's own ``get_rope_index``, asks the pruner, then hands the
  language model ``inputs_embeds`` and the ``position_ids`` /
  ``attention_mask`` / ``mm_token_type_ids`` columns of the kept tokens only:
  every kept token keeps its original position.
* in-LLM (``'in_llm'``, acting before layer ``K = pruner.layer``),
  pre-hooks on the decoder layers: layer ``K-1``'s input is recorded so its
  attention rows / keys can be recomputed for the pruner (every layer stays
  on SDPA), then layers ``>= K`` get their hidden states, ``(cos, sin)``,
  mask and position ids sliced (see :mod:`._in_llm`).

Decode steps after a pruned prefill are recognised by their KV cache (the
same object) and get their 2D mask / positions / per-layer masks mapped
onto the pruned cache; decode positions continue from the full sequence.

Batches: all samples must hold the same number of visual tokens. A pruner
may keep different counts per sample (``Selection.counts``); shorter rows
are padded with hidden slots (see :mod:`._gather`), so outputs stay
rectangular: ``logits`` of a pruned forward are ``(B, L', V)`` over the
slots of ``call.last.plan``.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Mapping, Optional

from torch import nn

from ..pruning.base import KeepSpec, TokenPruner
from ._call import PruningCall
from ._state import PruningRecord

_ACTIVE: contextvars.ContextVar[Optional[PruningCall]] = contextvars.ContextVar("fastdrive_pruning_call",
                                                                                default=None)


class PruningAdapter:
    """Forward pre-hooks on one Qwen2.5-VL model that prune when a request is active.

    Args:
        model: a ``Qwen2_5_VLForConditionalGeneration`` (anything with
            ``.model`` being a ``Qwen2_5_VLModel``).
        action_rows: for models that read their actions from query tokens at
            the end of the prompt in one prefill (plan queries): the number
            ``R`` of those rows, whose attention is the action signal of
            stateful pruners; None: decode steps are the action tokens.
    """

    def __init__(self, model: nn.Module, action_rows: Optional[int] = None) -> None:
        vlm = model.model
        text_cfg = vlm.language_model.config
        if any(t != "full_attention" for t in text_cfg.layer_types):
            raise NotImplementedError("pruning with sliding-window layers is not supported")
        self.model = model
        self.action_rows = action_rows
        self._vlm = vlm
        self._standing: Optional["PruningHandle"] = None
        self._hooks: List[Any] = [
            vlm.register_forward_pre_hook(self._model_hook, with_kwargs=True),
            # generate() encodes the images itself and then drops image_grid_thw;
            # the call remembers the grids the vision tower was last called with
            vlm.visual.register_forward_pre_hook(self._visual_hook, with_kwargs=True),
        ]
        for idx, layer in enumerate(vlm.language_model.layers):
            self._hooks.append(layer.register_forward_pre_hook(self._layer_hook(idx), with_kwargs=True))

    # ------------------------------------------------------------------ API
    def new_call(self, pruner: TokenPruner, keep: KeepSpec = 1.0, *, context: Optional[Mapping[str, Any]] = None,
                 state: Any = None, action_attention: Any = None, action_layer: Optional[int] = None,
                 session_id: Optional[str] = None) -> PruningCall:
        """A :class:`PruningCall` for this model (see its arguments); run it with :meth:`active`."""
        if not self.installed:
            raise RuntimeError("this pruning adapter was removed")
        return PruningCall(self._vlm, pruner, keep, context=context, state=state,
                           action_attention=action_attention, action_layer=action_layer,
                           action_rows=self.action_rows, session_id=session_id)

    @contextmanager
    def active(self, call: PruningCall) -> Iterator[PruningCall]:
        """Forwards of this thread / task inside the ``with`` prune as ``call`` says."""
        if call._vlm is not self._vlm:
            raise ValueError("this PruningCall was made for another model")
        call.adapter = self
        token = _ACTIVE.set(call)
        try:
            yield call
        finally:
            _ACTIVE.reset(token)
            call.finish()

    @contextmanager
    def pruning(self, pruner: TokenPruner, keep: KeepSpec = 1.0, **kwargs: Any) -> Iterator[PruningCall]:
        """``with adapter.pruning(pruner, 0.5) as call: model(**inputs)``; see :meth:`new_call`."""
        with self.active(self.new_call(pruner, keep, **kwargs)) as call:
            yield call

    def remove(self) -> nn.Module:
        """Remove every hook; the model is the stock model again."""
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        self._standing = None
        return self.model

    @property
    def installed(self) -> bool:
        return bool(self._hooks)

    # ---------------------------------------------------------------- hooks
    def _current(self) -> Optional[PruningCall]:
        call = _ACTIVE.get()
        if call is not None:
            return call if getattr(call, "adapter", None) is self else None
        return self._standing.current if self._standing is not None else None

    def _model_hook(self, module: nn.Module, args: tuple, kwargs: dict):
        if _ACTIVE.get() is None and self._standing is not None:
            self._standing.before_forward(kwargs, args)
        call = self._current()
        return None if call is None else call.model_hook(args, kwargs)

    def _visual_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if _ACTIVE.get() is None and self._standing is not None:
            self._standing.visual_args = (args, kwargs)  # generate() encodes images before the prefill
        call = self._current()
        if call is not None:
            call.visual_hook(args, kwargs)

    def _layer_hook(self, idx: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict):
            call = self._current()
            return None if call is None else call.layer_hook(idx, module, args, kwargs)
        return hook


def _adapters(vlm: nn.Module) -> List[PruningAdapter]:
    """The adapters installed on ``vlm``, found through its hooks (there is no global table)."""
    out = []
    for hook in vlm._forward_pre_hooks.values():
        owner = getattr(hook, "__self__", None)
        if isinstance(owner, PruningAdapter) and owner.installed:
            out.append(owner)
    return out


def install_adapter(model: nn.Module, action_rows: Optional[int] = None) -> PruningAdapter:
    """The pruning adapter of ``model``: the one already installed, or a new one; see :class:`PruningAdapter`.

    Planners sharing one model share its adapter (one set of hooks).
    """
    for adapter in _adapters(model.model):
        if adapter._standing is None:
            if adapter.action_rows != action_rows:
                raise ValueError(f"the adapter on this model reads action_rows={adapter.action_rows}, "
                                 f"not {action_rows}")
            return adapter
    return PruningAdapter(model, action_rows=action_rows)


def _standing_handles(vlm: nn.Module) -> List["PruningHandle"]:
    return [a._standing for a in _adapters(vlm) if a._standing is not None]


class PruningHandle:
    """A pruner attached to a ``Qwen2_5_VLForConditionalGeneration`` until :meth:`detach`.

    Every prefill with images prunes with the handle's current ``pruner`` /
    ``keep`` / ``session_id`` (all may be changed between calls); the handle
    keeps each session's temporal state. Not thread-safe: one forward or
    generate at a time. Concurrent callers use :class:`PruningAdapter`.

    Attributes:
        last: :class:`PruningRecord` of the last pruned prefill, or None.
        action_layer: LLM layer whose attention on the visual tokens is the
            next prefill's action signal (stateful pruners; None disables).
    """

    def __init__(self, model: nn.Module, pruner: TokenPruner, keep: KeepSpec = 1.0,
                 session_id: Optional[str] = None, action_layer: Optional[int] = None,
                 action_rows: Optional[int] = None, context: Optional[Mapping[str, Any]] = None) -> None:
        if _standing_handles(model.model):
            raise RuntimeError("a pruner is already attached to this model; detach it first")
        self.model = model
        self.pruner = pruner
        self.keep = keep
        self.session_id = session_id
        self.action_layer = action_layer
        self.context = dict(context or {})
        self.current: Optional[PruningCall] = None
        self._last: Optional[PruningRecord] = None
        self.visual_args: Optional[tuple] = None
        self._states: Dict[Any, Any] = {}
        self._action: Dict[Any, Any] = {}
        self._adapter = PruningAdapter(model, action_rows=action_rows)
        PruningCall(model.model, pruner, keep, action_layer=action_layer)  # fail now on a misfit pruner
        self._adapter._standing = self

    @property
    def last(self) -> Optional[PruningRecord]:
        """Provenance of the last pruned prefill (None before the first)."""
        if self.current is not None and self.current.last is not None:
            return self.current.last
        return self._last

    def before_forward(self, kwargs: dict, args: tuple) -> None:
        """Start a new call on a prefill (not on the decode steps of the current one)."""
        cache = kwargs.get("past_key_values")
        run = self.current._run if self.current is not None else None
        if run is not None and cache is not None and cache is run.cache and cache.get_seq_length() > 0:
            return
        self._file()
        sid = self.session_id
        self.current = PruningCall(self.model.model, self.pruner, self.keep, context=self.context,
                                   state=self._states.get(sid), action_attention=self._action.get(sid),
                                   action_layer=self.action_layer, action_rows=self._adapter.action_rows,
                                   session_id=sid)
        if self.visual_args is not None:
            self.current.visual_hook(*self.visual_args)

    def _file(self) -> None:
        call = self.current
        if call is None:
            return
        if call.last is not None:
            self._last = call.last
        if call.state_out is not None:
            self._states[call.session_id] = call.state_out
        action = call.action_out()
        if action is not None:
            self._action[call.session_id] = action

    def set_state(self, state: Any, session_id: Optional[str] = None) -> None:
        """Temporal state handed to the pruner (``context.state``) at the next prefill of ``session_id``."""
        self._states[session_id] = state

    def set_action_attention(self, attention: Any, session_id: Optional[str] = None) -> None:
        """``(B, N)`` action->vision attention handed to the next prefill of the session."""
        self._action[session_id] = attention

    def memory(self) -> Dict[str, Dict[Any, Any]]:
        """Temporal memory of every session (pruner states, action attention)."""
        self._file()
        return {"states": dict(self._states), "action": dict(self._action)}

    def reset(self, session_id: Optional[str] = None) -> None:
        """Forget temporal state (one session, or all)."""
        if session_id is None:
            self._states.clear()
            self._action.clear()
        else:
            self._states.pop(session_id, None)
            self._action.pop(session_id, None)

    def detach(self) -> nn.Module:
        """Remove every hook; the model is the stock model again."""
        self._file()
        self.current = None
        return self._adapter.remove()

    @property
    def attached(self) -> bool:
        return self._adapter.installed

    def __enter__(self) -> "PruningHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.detach()


def attach_pruner(model: nn.Module, pruner: TokenPruner, keep: KeepSpec = 1.0,
                  session_id: Optional[str] = None, action_layer: Optional[int] = None,
                  action_rows: Optional[int] = None, context: Optional[Mapping[str, Any]] = None) -> PruningHandle:
    """Attach ``pruner`` to a ``Qwen2_5_VLForConditionalGeneration``; see :class:`PruningHandle`.

    ``context``: extra per-call inputs handed to the pruner in ``PruningContext.extra``
    (e.g. the ground truth the evaluation-only oracle pruners read).
    """
    return PruningHandle(model, pruner, keep, session_id=session_id, action_layer=action_layer,
                         action_rows=action_rows, context=context)


__all__ = ["PruningAdapter", "PruningCall", "PruningHandle", "attach_pruner", "install_adapter"]
