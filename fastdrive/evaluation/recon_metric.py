"""Token-selection metric of ReconPruner training (the validation loop's score)."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import torch
from mmengine.evaluator import BaseMetric

from ..registry import METRICS


@METRICS.register_module()
class ReconTokenMetric(BaseMetric):
    """How well the scores pick foreground tokens, from ``mode='predict'`` outputs.

    Per image, with ``fg_share (N,)`` the foreground share of each token's cell:

    * ``pos_share``: share of tokens the training mask keeps (``mask_scores > 0``:
      ``S``, or its z-scores when the model standardises them);
    * ``precision@r``: share of the tokens kept at pruning ratio ``r`` (top
      ``floor(N (1 - r))`` by score) whose cell is mostly foreground;
    * ``fg_recall@r``: share of the mostly-foreground tokens that are kept;
    * ``mask_iou``: IoU of ``S > 0`` with the mostly-foreground tokens.

    Averaged over images. Args: ``ratios``: the pruning ratios reported.
    """

    default_prefix = "recon"

    def __init__(self, ratios: Sequence[float] = (0.5, 0.75), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ratios: Tuple[float, ...] = tuple(float(r) for r in ratios)

    def process(self, data_batch: Any, data_samples: Sequence[Dict[str, Any]]) -> None:
        for sample in data_samples:
            s, share = sample["scores"].float(), sample["fg_share"].float()
            fg = share > 0.5
            pos = sample.get("mask_scores", s).float() > 0
            row = {"pos_share": float(pos.float().mean()),
                   "mask_iou": float((pos & fg).sum() / (pos | fg).sum().clamp(min=1))}
            n = s.numel()
            for r in self.ratios:
                k = max(1, int(n * (1.0 - r)))
                kept = torch.zeros(n, dtype=torch.bool)
                kept[s.topk(k).indices] = True
                row[f"precision@{r:g}"] = float(fg[kept].float().mean())
                row[f"fg_recall@{r:g}"] = float((kept & fg).sum() / fg.sum().clamp(min=1))
            self.results.append(row)

    def compute_metrics(self, results: List[Dict[str, float]]) -> Dict[str, float]:
        keys = results[0].keys() if results else []
        return {k: sum(r[k] for r in results) / len(results) for k in keys}
