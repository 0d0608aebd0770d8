"""Ground-truth oracle pruners: the evaluation's bounds, never a serving method.

They read the world's ground truth from ``context.extra['token_classes']``:
``(B, N, C)`` share of each semantic class in each token's cell (see
:func:`fastdrive.evaluation.token_overlay.token_class_shares`), with the
class ids of a FastDrive world (``fastdrive_gt/semantic_classes.json``):

* ``oracle_fg`` keeps the tokens with the largest foreground share (road,
  lane markings, crossings and every object class);
* ``oracle_obj`` keeps object tokens first (vehicles, people, cyclists,
  barriers, cones, signs, lights; by object share), then road tokens (by
  road share), then the rest;
* ``oracle_bg`` keeps the *least*-foreground tokens (sky, buildings, trees).

At one ratio, ``oracle_bg`` against ``oracle_fg`` / ``oracle_obj`` is the
dynamic range of an open-loop pruning table: what any pruner can gain or
lose by its choice of tokens. They are registered in ``PRUNERS`` (so the
evaluation builds them by name like any method) but flagged
``evaluation_only``: :func:`fastdrive.pruning.list_pruners` leaves them out
unless asked, and a call without the ground truth is an error.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..registry import PRUNERS
from ..errors import InputError
from ..sim.types import OBJECT_CLASSES, ROAD_CLASSES, SEMANTIC_ID
from ._utils import check_tokens
from .base import KeepSpec, PruningContext, Selection, TokenPruner, resolve_keep, topk_sorted

#: semantic ids of a FastDrive world (``fastdrive_gt/semantic_classes.json``)
ROAD_IDS = tuple(SEMANTIC_ID[c] for c in ROAD_CLASSES)      # road, lane marking, crossing
OBJECT_IDS = tuple(SEMANTIC_ID[c] for c in OBJECT_CLASSES)  # vehicles, people, cyclists, barriers, cones, signs, lights
CONTEXT_KEY = "token_classes"


class OracleError(InputError, ValueError):
    """An oracle pruner was called without the ground truth it reads."""


def _shares(tokens: torch.Tensor, context: Optional[PruningContext]) -> torch.Tensor:
    """``(B, N, C)`` class shares from the context, checked against ``tokens (B, N, D)``."""
    shares = None if context is None else context.extra.get(CONTEXT_KEY)
    if shares is None:
        raise OracleError("oracle pruners read the ground truth (context.extra['token_classes'], (B, N, C)); "
                          "they are for evaluation on a FastDrive world only")
    shares = torch.as_tensor(shares, device=tokens.device, dtype=torch.float32)
    if shares.dim() == 2:
        shares = shares[None]
    if shares.shape[:2] != tokens.shape[:2]:
        raise OracleError(f"token_classes has shape {tuple(shares.shape)}, tokens {tuple(tokens.shape[:2])}")
    return shares


def _sum(shares: torch.Tensor, ids: Sequence[int]) -> torch.Tensor:
    ids = [i for i in ids if i < shares.shape[-1]]
    return shares[..., ids].sum(-1)


class _Oracle(TokenPruner):
    stage = "pre_llm"
    evaluation_only = True

    def score(self, shares: torch.Tensor) -> torch.Tensor:
        """``(B, N, C)`` class shares -> ``(B, N)`` scores (higher is kept first)."""
        raise NotImplementedError

    def select(self, tokens: torch.Tensor, keep: KeepSpec, context: Optional[PruningContext] = None) -> Selection:
        check_tokens(tokens)
        scores = self.score(_shares(tokens, context))
        n = tokens.shape[1]
        # ties (e.g. many all-road cells) break by index, deterministically
        scores = scores - 1e-6 * torch.arange(n, device=scores.device, dtype=scores.dtype) / n
        return Selection(indices=topk_sorted(scores, resolve_keep(keep, n)), scores=scores)


@PRUNERS.register_module(name="oracle_fg")
class OracleForeground(_Oracle):
    """Keeps the tokens with the largest ground-truth foreground share."""

    def score(self, shares: torch.Tensor) -> torch.Tensor:
        return _sum(shares, ROAD_IDS + OBJECT_IDS)


@PRUNERS.register_module(name="oracle_obj")
class OracleObjects(_Oracle):
    """Keeps object tokens first (by object share), then road tokens (by road share), then the rest."""

    def score(self, shares: torch.Tensor) -> torch.Tensor:
        obj, road = _sum(shares, OBJECT_IDS), _sum(shares, ROAD_IDS)
        return 2.0 * (obj > 0).float() + obj + (road > 0).float() * (0.5 + 0.4 * road)


@PRUNERS.register_module(name="oracle_bg")
class OracleBackground(_Oracle):
    """Keeps the tokens with the *smallest* foreground share (the lower bound)."""

    def score(self, shares: torch.Tensor) -> torch.Tensor:
        return -_sum(shares, ROAD_IDS + OBJECT_IDS)
