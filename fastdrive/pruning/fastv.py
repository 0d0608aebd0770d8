"""FastV: prune by the last token's attention inside the LLM (in-LLM).

At LLM layer ``K`` (2 by default) take layer ``K-1``'s attention,
head-mean, of the *last* token's row over the image span, and keep the top
``(1 - R) N`` image tokens for all later layers (with their position ids).
The adapter provides ``context.attention (B, 1, L)`` (``attention_rows =
'last'``) and ``context.visual_positions (B, N)``.

Kept count: given a pruning share ``R``, FastDrive keeps
``floor(N * (1 - R))`` tokens, the project-wide rule of
:func:`~fastdrive.pruning.base.resolve_keep`, kept on purpose so that every
method keeps the same count. The authors' llava-hf path keeps
``round(N * (1 - R))`` instead, i.e. one token more whenever the product
rounds up (120 of the 600 ``(N, R)`` cases compared side by side in
issue 14); otherwise the kept tokens are the same. Pass an int ``keep`` to
reproduce the authors' count exactly.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..registry import PRUNERS
from ._utils import all_indices, check_tokens, require_attention, visual_columns
from .base import KeepSpec, PruningContext, Selection, TokenPruner, resolve_keep, topk_sorted


@PRUNERS.register_module(name="fastv")
class FastV(TokenPruner):
    """Top-``K`` image tokens by last-row attention (``K = floor(N (1 - R))``,
    see the module docstring for the authors' ``round``).

    Args:
        layer: LLM layer before which tokens are dropped (attention comes
            from layer ``layer - 1``).
    """

    stage = "in_llm"
    request_options = ("layer",)
    attention_rows = "last"

    def __init__(self, layer: int = 2) -> None:
        super().__init__()
        if layer < 1:
            raise ValueError(f"FastV needs layer >= 1 (attention of layer K-1), got {layer}")
        self.layer = int(layer)

    def select(self, tokens: torch.Tensor, keep: KeepSpec,
               context: Optional[PruningContext] = None) -> Selection:
        """``scores`` ``(B, N)``: the last row's attention on each image token."""
        check_tokens(tokens)
        b, n, _ = tokens.shape
        k = resolve_keep(keep, n)
        attention = require_attention(context, "fastv")
        scores = visual_columns(attention, context.visual_positions, n)[:, -1, :]
        if k == n:
            return Selection(indices=all_indices(b, n, tokens.device), scores=scores)
        return Selection(indices=topk_sorted(scores, k).to(tokens.device), scores=scores)
