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

State is per sample and the pruner is a pure function of it:
``context.state`` is None (every sample starts fresh) or a sequence of ``B``
entries, each None or ``{'history': [ (N,) tensors, oldest first ]}``, and
``Selection.state`` is the list of the ``B`` new entries. The caller keeps
them between calls (the planner's :class:`~fastdrive.planner.SessionStore`,
or a client that carries its own state), so the pruner holds no session
table. Samples of one batch may be at different points of their warm-up:
a sample still warming up keeps every token (``Selection.counts``).
"""

from __future__ import annotations

from typing import Any, List, Optional

import torch

from ..registry import PRUNERS
from ._similarity import greedy_maxmin, mask_to_indices
from ._utils import check_tokens, require_attention, visual_columns
from .base import KeepSpec, PruningContext, Selection, TokenPruner, pad_rows, resolve_keep


def smooth_history(history: List[torch.Tensor], gamma: float) -> torch.Tensor:
    """Decay-weighted mean of ``(B, N)`` steps (oldest first); newest weighs most."""
    weights = [gamma ** i for i in range(len(history))]  # i = 0 is the newest
    total = sum(weights)
    out = torch.zeros_like(history[-1], dtype=torch.float32)
    for w, step in zip(weights, reversed(history)):
        out = out + (w / total) * step.float()
    return out


def _per_sample(value: Any, b: int, what: str) -> List[Any]:
    """``None`` / a sequence of ``B`` entries / a ``(B, ...)`` tensor -> a list of ``B`` entries."""
    if value is None:
        return [None] * b
    if isinstance(value, torch.Tensor):
        return list(value.unbind(0)) if value.shape[0] == b else _bad(what, b, tuple(value.shape))
    if isinstance(value, dict):  # one sample's state given without its list
        value = [value]
    if len(value) != b:
        _bad(what, b, len(value))
    return list(value)


def _bad(what: str, b: int, got: Any) -> Any:
    raise ValueError(f"{what} must hold one entry per sample (B = {b}), got {got}")


@PRUNERS.register_module(name="vla_pruner")
class VLAPruner(TokenPruner):
    """Dual-signal temporal pruner with warm-up.

    Args:
        layer: LLM layer before which tokens are dropped (semantic attention
            comes from the adapter at this layer).
        window: action-attention window ``w``.
        gamma: decay per step back in time.
    """

    stage = "in_llm"
    attention_rows = "all"
    stateful = True
    request_options = ("layer", "window", "gamma")

    def __init__(self, layer: int = 3, window: int = 3, gamma: float = 0.8) -> None:
        super().__init__()
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        self.layer = int(layer)
        self.window = int(window)
        self.gamma = float(gamma)

    def _histories(self, context: PruningContext, b: int, n: int,
                   device: torch.device) -> List[List[torch.Tensor]]:
        """Per sample, the ``(N,)`` action history after this step's signal is added."""
        states = _per_sample(context.state, b, "context.state")
        actions = _per_sample(context.extra.get("action_attention"), b, "action_attention")
        out = []
        for state, action in zip(states, actions):
            history = [h.to(device) for h in (state or {}).get("history", [])]
            if history and tuple(history[-1].shape) != (n,):
                history = []  # token count changed: start over
            if action is not None:
                action = action.float().to(device).reshape(-1)
                if action.numel() != n:
                    raise ValueError(f"action_attention rows must hold N = {n} values, got {action.numel()}")
                history = (history + [action])[-self.window:]
            out.append(history)
        return out

    def select(self, tokens: torch.Tensor, keep: KeepSpec,
               context: Optional[PruningContext] = None) -> Selection:
        """``scores`` ``(B, N)``: the semantic signal; ``state`` the ``B`` new per-sample states."""
        check_tokens(tokens)
        b, n, _ = tokens.shape
        m = resolve_keep(keep, n)
        attention = require_attention(context, "vla_pruner")
        semantic = visual_columns(attention, context.visual_positions, n).mean(dim=1).to(tokens.device)
        histories = self._histories(context, b, n, tokens.device)
        state = [{"history": h} for h in histories]
        rows = []
        for i, history in enumerate(histories):
            if m == n or len(history) < self.window:
                rows.append(torch.arange(n, device=tokens.device))
                continue
            sem = semantic[i:i + 1]
            action = smooth_history([h[None] for h in history], self.gamma)
            top_sem = torch.zeros(1, n, dtype=torch.bool, device=tokens.device)
            top_sem.scatter_(1, sem.topk(m, dim=1).indices, True)
            top_act = torch.zeros_like(top_sem).scatter_(1, action.topk(m, dim=1).indices, True)
            union = top_sem | top_act
            if int(union.sum()) != m:
                union, _ = greedy_maxmin(tokens[i:i + 1], m, candidates=union, preselected=top_sem & top_act)
            rows.append(mask_to_indices(union)[0])
        indices, counts = pad_rows(rows, tokens.device)
        return Selection(indices=indices, counts=counts, scores=semantic, state=state)

    def extra_repr(self) -> str:
        return f"layer={self.layer}, window={self.window}, gamma={self.gamma}"
