"""Per-call state shared by the adapter's hooks, and the provenance record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

import torch

from ..pruning.base import Selection
from ._gather import ImageLayout, KeepPlan


@dataclass
class PruningRecord:
    """What the last pruned prefill kept (for overlays, logging and tests).

    Attributes:
        selection: the pruner's :class:`~fastdrive.pruning.base.Selection`.
        plan: kept full-sequence columns per slot (``plan.cols (B, L')``,
            ``plan.valid`` False on padding slots).
        visual_positions: ``(B, N)`` columns of the visual tokens in the
            full sequence.
        grids: per sample, per image merged grid ``(H, W)``.
        kept_grid: per sample, per image ``(K_i, 2)`` long ``(row, col)`` of
            the kept tokens in that image's merged grid (ascending raster
            order).
        stage: 'pre_llm' or 'in_llm'; ``layer`` the LLM layer it acted before.
        pruner_seconds: wall time of ``pruner.select`` plus the attention /
            key recomputation it asked for.
    """

    selection: Selection
    plan: KeepPlan
    visual_positions: torch.Tensor
    grids: List[List[Tuple[int, int]]]
    kept_grid: List[List[torch.Tensor]]
    stage: str
    layer: int
    pruner_seconds: float

    @property
    def num_visual(self) -> int:
        return int(self.visual_positions.shape[1])

    @property
    def num_kept(self) -> torch.Tensor:
        """``(B,)`` visual tokens kept per sample (recycled tokens excluded)."""
        return self.selection.counts.clone()

    def kept_mask(self, sample: int = 0, image: int = 0) -> torch.Tensor:
        """``(H, W)`` bool map of the kept tokens of one image."""
        h, w = self.grids[sample][image]
        out = torch.zeros(h, w, dtype=torch.bool)
        rc = self.kept_grid[sample][image]
        if rc.numel():
            out[rc[:, 0], rc[:, 1]] = True
        return out


def kept_grid_coords(kept: torch.Tensor, grids: List[Tuple[int, int]]) -> List[torch.Tensor]:
    """Split kept indices into ``[0, N)`` by image and convert to ``(row, col)``.

    Args:
        kept: ``(K,)`` ascending indices over the concatenated images.
        grids: per image ``(H, W)``.
    """
    out, start = [], 0
    kept = kept.cpu()
    for h, w in grids:
        sel = kept[(kept >= start) & (kept < start + h * w)] - start
        out.append(torch.stack([sel // w, sel % w], dim=-1))
        start += h * w
    return out


@dataclass
class RunState:
    """One prefill and the decode steps that follow it.

    Attributes:
        phase: 'prefill' while the prefill forward runs, then 'decode'.
        cache: the KV cache object of this run (identity decides whether a
            later call continues it).
        layout: where the visual tokens are.
        attention_mask_2d: ``(B, L)`` caller's padding mask, or None.
        full_len: ``L``, the unpruned prefill length.
        text_embeds: ``(B, T, D)`` input embeddings of the prompt text.
        visual_embeds: ``(B, N, D)`` merger output (layer-0 visual embeddings).
        plan: the keep plan, once selected.
        layer0_len: pruned length of the prefill at layer 0 (``L'`` for
            pre-LLM pruning, ``L`` for in-LLM pruning).
        prefix_mask: ``(B, L')`` pruned 2D mask of the prefill (pre-LLM), or None.
        prev_input: recorded input of layer ``K-1`` (hidden, cos, sin, mask).
        layer_kwargs: sliced per-forward kwargs reused by layers > K.
        action_attention: ``(B, N)`` accumulated decode attention on visual columns.
        rope_deltas: ``(B, 1)`` M-RoPE offsets of this prefill (decode positions continue from them).
    """

    phase: str
    cache: Any
    layout: ImageLayout
    attention_mask_2d: Optional[torch.Tensor]
    full_len: int
    text_embeds: Optional[torch.Tensor] = None
    visual_embeds: Optional[torch.Tensor] = None
    plan: Optional[KeepPlan] = None
    layer0_len: int = 0
    prefix_mask: Optional[torch.Tensor] = None
    prev_input: Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor, Optional[torch.Tensor]]] = None
    layer_kwargs: dict = field(default_factory=dict)
    action_attention: Optional[torch.Tensor] = None
    action_steps: int = 0
    selection: Optional[Selection] = None
    kept_slots: Optional[List[torch.Tensor]] = None
    extra_tokens: Optional[torch.Tensor] = None
    grid_thw: Optional[torch.Tensor] = None
    rope_deltas: Optional[torch.Tensor] = None
