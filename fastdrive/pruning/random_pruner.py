"""Random pruning: the floor every method must beat.

Keeps a uniformly random subset of ``K`` visual tokens per sample, drawn
from the pruner's own seeded ``torch.Generator`` (reproducible: the same
seed gives the same sequence of selections; ``reset()`` re-seeds).
"""

from __future__ import annotations

from typing import Optional

import torch

from ..registry import PRUNERS
from ._utils import all_indices, check_tokens
from .base import KeepSpec, PruningContext, Selection, TokenPruner, resolve_keep, topk_sorted


@PRUNERS.register_module(name="random")
class RandomPruner(TokenPruner):
    """Uniformly random token subset (pre-LLM).

    Args:
        seed: seed of the internal CPU generator. ``context.extra['seed']``
            overrides it for one call (a fresh generator with that seed).
    """

    stage = "pre_llm"
    request_options = ("seed",)

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)

    def reset(self, session_id: Optional[str] = None) -> None:
        """Re-seed the generator (the next calls repeat the first ones)."""
        self.generator = torch.Generator().manual_seed(self.seed)

    def select(self, tokens: torch.Tensor, keep: KeepSpec,
               context: Optional[PruningContext] = None) -> Selection:
        """Keep ``K`` random tokens per row; ``scores`` are the uniform draws ``(B, N)``."""
        check_tokens(tokens)
        b, n, _ = tokens.shape
        k = resolve_keep(keep, n)
        gen = self.generator
        if context is not None and "seed" in context.extra:
            gen = torch.Generator().manual_seed(int(context.extra["seed"]))
        scores = torch.rand(b, n, generator=gen).to(tokens.device)
        if k == n:
            return Selection(indices=all_indices(b, n, tokens.device), scores=scores)
        return Selection(indices=topk_sorted(scores, k), scores=scores)

    def extra_repr(self) -> str:
        return f"seed={self.seed}"
