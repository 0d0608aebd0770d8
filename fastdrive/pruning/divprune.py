"""DivPrune: diversity-maximising visual token selection (pre-LLM).

On the LLM-input visual embeddings: cosine distance matrix; first pick =
the token with the largest nearest-neighbour distance; then greedily add the
token with the largest minimum distance to the chosen set until ``K``
(a max-min diversity problem). Batched, ``O(K)`` vectorised steps.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..registry import PRUNERS
from ._similarity import greedy_maxmin, mask_to_indices
from ._utils import all_indices, check_tokens
from .base import KeepSpec, PruningContext, Selection, TokenPruner, resolve_keep


@PRUNERS.register_module(name="divprune")
class DivPrune(TokenPruner):
    """Greedy max-min cosine diversity selection.

    ``Selection.scores`` ``(B, N)`` ranks tokens by pick order: the first
    pick scores ``K``, the last ``1``, unpicked tokens ``0``.
    """

    stage = "pre_llm"

    def select(self, tokens: torch.Tensor, keep: KeepSpec,
               context: Optional[PruningContext] = None) -> Selection:
        check_tokens(tokens)
        b, n, _ = tokens.shape
        k = resolve_keep(keep, n)
        if k == n:
            return Selection(indices=all_indices(b, n, tokens.device))
        mask, order = greedy_maxmin(tokens, k)
        scores = torch.zeros(b, n, device=tokens.device)
        rank = torch.arange(k, 0, -1, device=tokens.device, dtype=scores.dtype).unsqueeze(0).expand(b, -1)
        scores.scatter_(1, order, rank)
        return Selection(indices=mask_to_indices(mask), scores=scores)
