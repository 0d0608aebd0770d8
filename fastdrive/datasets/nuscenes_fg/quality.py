"""Mask quality against ground truth (the synthetic world's ``fastdrive_gt``).

IoU conventions: an image where both masks are empty for a class has no IoU
for it (it is skipped, not counted as 1); the "overall" figure for a class
is the IoU of the summed intersections and unions over all images (the
dataset-level IoU), the "mean" the average of per-image IoUs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np


def binary_iou(pred: np.ndarray, gt: np.ndarray) -> Optional[float]:
    """IoU of two ``(H, W)`` boolean masks; None when both are empty."""
    union = int(np.count_nonzero(pred | gt))
    if union == 0:
        return None
    return int(np.count_nonzero(pred & gt)) / union


@dataclass
class QualityAccumulator:
    """Accumulates foreground and per-class IoU over images.

    Args:
        class_names: names by class id of the built masks (0 = background).
        gt_ids: class name -> ground-truth semantic ids it corresponds to.
        gt_fg_ids: ground-truth semantic ids that are foreground (for the
            binary foreground IoU; default: the union of ``gt_ids``).
    """

    class_names: Sequence[str]
    gt_ids: Mapping[str, Sequence[int]]
    gt_fg_ids: Optional[Sequence[int]] = None
    inter: Dict[str, int] = field(default_factory=dict)
    union: Dict[str, int] = field(default_factory=dict)
    per_image: Dict[str, List[float]] = field(default_factory=dict)

    def add(
        self, pred: np.ndarray, gt_semantic: np.ndarray, gt_fg: Optional[np.ndarray] = None
    ) -> Dict[str, float]:
        """Add one image.

        Args:
            pred: ``(H, W)`` uint8 built class-id mask.
            gt_semantic: ``(H, W)`` uint8 ground-truth semantic ids.
            gt_fg: ``(H, W)`` ground-truth binary foreground (nonzero = fg);
                default: ``gt_semantic`` in ``gt_fg_ids``.

        Returns:
            This image's IoUs (``'foreground'`` and each class present in either mask).
        """
        if pred.shape != gt_semantic.shape:
            raise ValueError(f"mask is {pred.shape}, ground truth {gt_semantic.shape}")
        fg_ids = (
            self.gt_fg_ids
            if self.gt_fg_ids is not None
            else sorted({i for v in self.gt_ids.values() for i in v})
        )
        gt_bin = gt_fg > 0 if gt_fg is not None else np.isin(gt_semantic, fg_ids)
        pairs = {"foreground": (pred > 0, gt_bin)}
        for cid, name in enumerate(self.class_names):
            if cid == 0 or name not in self.gt_ids:
                continue
            pairs[name] = (pred == cid, np.isin(gt_semantic, list(self.gt_ids[name])))
        out: Dict[str, float] = {}
        for name, (p, g) in pairs.items():
            inter, union = int(np.count_nonzero(p & g)), int(np.count_nonzero(p | g))
            self.inter[name] = self.inter.get(name, 0) + inter
            self.union[name] = self.union.get(name, 0) + union
            if union:
                out[name] = inter / union
                self.per_image.setdefault(name, []).append(out[name])
        return out

    def result(self) -> Dict[str, Dict[str, float]]:
        """``{name: {'iou': dataset IoU, 'mean_iou': mean per-image IoU, 'images': n}}``."""
        res = {}
        for name in self.inter:
            res[name] = {
                "iou": self.inter[name] / self.union[name] if self.union[name] else float("nan"),
                "mean_iou": float(np.mean(self.per_image[name]))
                if self.per_image.get(name)
                else float("nan"),
                "images": len(self.per_image.get(name, [])),
            }
        return res


def gt_ids_from_names(
    synthetic_gt: Mapping[str, Sequence[str]], semantic_classes: Sequence[str]
) -> Dict[str, List[int]]:
    """Class name -> ground-truth ids, from names (``FGClasses.synthetic_gt``) and the GT class list."""
    index = {n: i for i, n in enumerate(semantic_classes)}
    return {k: [index[n] for n in v if n in index] for k, v in synthetic_gt.items()}
