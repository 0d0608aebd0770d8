"""VLA-Pruner: semantic + temporally smoothed action attention (in-LLM, stateful).

Two importance signals over the ``N`` image tokens:

* semantic: ``context.attention (B, Q, L)`` at layer ``K = 3`` (head-mean),
  averaged over all ``Q`` query rows, on the visual columns
  (``context.visual_positions``); a host that averages the rows itself may
  pass the mean as a single row ``(B, 1, L)``;
* action: the previous control step's decode-time action->vision attention,
  ``context.extra['action_attention'] (B, N)`` (scatter the kept tokens'
  values into ``N`` columns, zeros for tokens pruned at that step),
  smoothed over the last ``w = 3`` steps with decay ``gamma = 0.8``:
  ``sum_i gamma^i a_{t-i} / sum_i gamma^i`` (``i = 0`` most recent).

No pruning (every token kept) until the window holds ``w`` steps. Then:
the union of the top-``M`` tokens by each signal; if it exceeds ``M`` it
is reduced by greedy max-min cosine diversity (as DivPrune, on ``tokens``),
seeded with the tokens both signals rank in their top ``M``.

State: ``{'history': [ (B, N) tensors, oldest first ]}``. It is returned in
``Selection.state`` and also kept in an internal dict keyed by
``context.session_id`` (``None`` is a session of its own); a
``context.state`` passed in takes precedence over the internal one (so a
stateless service can round-trip it).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Optional

import torch

from ..registry import PRUNERS
from ._similarity import greedy_maxmin, mask_to_indices
from ._utils import all_indices, check_tokens, require_attention, visual_columns
from .base import KeepSpec, PruningContext, Selection, TokenPruner, resolve_keep


def smooth_history(history: List[torch.Tensor], gamma: float) -> torch.Tensor:
    """Decay-weighted mean of ``(B, N)`` steps (oldest first); newest weighs most."""
    weights = [gamma ** i for i in range(len(history))]  # i = 0 is the newest
    total = sum(weights)
    out = torch.zeros_like(history[-1], dtype=torch.float32)
    for w, step in zip(weights, reversed(history)):
        out = out + (w / total) * step.float()
    return out


@PRUNERS.register_module(name="vla_pruner")
class VLAPruner(TokenPruner):
    """Dual-signal temporal pruner with warm-up.

    Args:
        layer: LLM layer before which tokens are dropped (semantic attention
            comes from the adapter at this layer).
        window: action-attention window ``w``.
        gamma: decay per step back in time.
        max_sessions: sessions kept in the internal dict (least recently
            used ones are forgotten first).
    """

    stage = "in_llm"
    attention_rows = "all"
    stateful = True

    def __init__(self, layer: int = 3, window: int = 3, gamma: float = 0.8, max_sessions: int = 4096) -> None:
        super().__init__()
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        self.layer = int(layer)
        self.window = int(window)
        self.gamma = float(gamma)
        self.max_sessions = int(max_sessions)
        self._sessions: "OrderedDict[Optional[str], Dict[str, Any]]" = OrderedDict()

    def reset(self, session_id: Optional[str] = None) -> None:
        """Forget every session, or one."""
        if session_id is None:
            self._sessions.clear()
        else:
            self._sessions.pop(session_id, None)

    def session_state(self, session_id: Optional[str]) -> Optional[Dict[str, Any]]:
        """The stored state of a session (None if unknown)."""
        return self._sessions.get(session_id)

    def _update_state(self, context: PruningContext, b: int, n: int, device: torch.device) -> Dict[str, Any]:
        prev = context.state if context.state is not None else self._sessions.get(context.session_id)
        history: List[torch.Tensor] = list(prev["history"]) if prev else []
        if history and tuple(history[-1].shape) != (b, n):
            history = []  # token count changed: start over
        action = context.extra.get("action_attention")
        if action is not None:
            action = action.float().to(device)
            if tuple(action.shape) != (b, n):
                raise ValueError(f"action_attention must be (B, N) = {(b, n)}, got {tuple(action.shape)}")
            history = (history + [action])[-self.window:]
        state = {"history": history}
        self._sessions[context.session_id] = state
        self._sessions.move_to_end(context.session_id)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return state

    def select(self, tokens: torch.Tensor, keep: KeepSpec,
               context: Optional[PruningContext] = None) -> Selection:
        """``scores`` ``(B, N)``: the semantic signal; ``state`` the new session state."""
        check_tokens(tokens)
        b, n, _ = tokens.shape
        m = resolve_keep(keep, n)
        attention = require_attention(context, "vla_pruner")
        semantic = visual_columns(attention, context.visual_positions, n).mean(dim=1).to(tokens.device)
        state = self._update_state(context, b, n, tokens.device)
        history = state["history"]
        if m == n or len(history) < self.window:
            return Selection(indices=all_indices(b, n, tokens.device), scores=semantic, state=state)
        action = smooth_history(history, self.gamma)
        top_sem = torch.zeros(b, n, dtype=torch.bool, device=tokens.device)
        top_sem.scatter_(1, semantic.topk(m, dim=1).indices, True)
        top_act = torch.zeros_like(top_sem).scatter_(1, action.topk(m, dim=1).indices, True)
        union = top_sem | top_act
        if bool((union.sum(dim=1) == m).all()):
            return Selection(indices=mask_to_indices(union), scores=semantic, state=state)
        mask, _ = greedy_maxmin(tokens, m, candidates=union, preselected=top_sem & top_act)
        return Selection(indices=mask_to_indices(mask), scores=semantic, state=state)

    def extra_repr(self) -> str:
        return f"layer={self.layer}, window={self.window}, gamma={self.gamma}"
