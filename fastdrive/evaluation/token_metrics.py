"""Object-level metrics of a kept-token set on a token grid (recall, precision, instance coverage).

A pruner keeps ``kept (N,)`` of the ``N = gh * gw`` visual tokens that tile an
``(H, W)`` image row-major; token cell ``(r, c)`` covers pixel rows
``cell_edges(H, gh)[r] .. [r + 1]`` and columns ``cell_edges(W, gw)[c] .. [c + 1]``
(the rule of :mod:`fastdrive.evaluation.token_overlay`, so H, W need not be
multiples of the grid). Per-pixel ground truth is a semantic id mask (ids of
``fastdrive.sim.types.SEMANTIC_CLASSES`` / ``fastdrive_gt/semantic_classes.json``)
and optionally an instance mask (``fastdrive_gt/instance``: uint16, ``k + 1``
on the visible pixels of the sample's ``k``-th annotation, 0 elsewhere).

Token kinds (``share`` = share of the cell's pixels):

* foreground: share of :data:`FOREGROUND_CLASSES` > :data:`FG_CELL_THRESHOLD`;
* road: share of :data:`ROAD_CLASSES` (road, lane marking, crossing) > the same threshold;
* object: share of :data:`OBJECT_CLASSES` (every foreground class but the road
  ones) >= :data:`OBJECT_CELL_THRESHOLD`.

Instances: with an instance mask each annotation id is an instance; object
pixels outside every annotation (signs and lights have no nuScenes
annotation) and, without an instance mask, all object pixels form instances
as 8-connected components of each object class (``scipy.ndimage.label``).
An instance's class is the majority object class of its pixels; instances
smaller than :data:`MIN_INSTANCE_AREA` pixels are ignored. An instance is
covered when at least one of its pixels lies in a kept token cell.

:class:`TokenMetrics` stores numerators and denominators, so metrics pool over
samples by summing counts (:func:`pool_token_metrics`), not by averaging ratios.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from fastdrive.evaluation.token_overlay import cell_edges
from fastdrive.sim.types import FOREGROUND_CLASSES, OBJECT_CLASSES, ROAD_CLASSES, SEMANTIC_CLASSES
from fastdrive.sim.types import SEMANTIC_ID as _ID

__all__ = [
    "FG_CELL_THRESHOLD", "FOREGROUND_CLASSES", "MIN_INSTANCE_AREA", "OBJECT_CELL_THRESHOLD",
    "ImageTruth", "OBJECT_CLASSES", "ROAD_CLASSES", "SEMANTIC_CLASSES", "TokenMetrics", "image_truth", "load_token_masks",
    "pool_token_metrics", "token_class_shares", "token_metrics"
]

FG_CELL_THRESHOLD = 0.5
"""A token is foreground (road) when more than this share of its cell's pixels is foreground (road)."""

OBJECT_CELL_THRESHOLD = 0.25
"""A token is an object token when at least this share of its cell's pixels are object pixels."""

MIN_INSTANCE_AREA = 20
"""Pixels; smaller visible instances are not counted in the instance coverage."""

def _cell_index(shape: Tuple[int, int], grid_hw: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """``(H, W)`` int64 token index of each pixel and ``(N,)`` cell areas in pixels."""
    H, W = shape
    gh, gw = grid_hw
    if H < gh or W < gw or gh < 1 or gw < 1:
        raise ValueError(f"image {H}x{W} is smaller than the token grid {gh}x{gw}")
    ys, xs = cell_edges(H, gh), cell_edges(W, gw)
    row_of = np.repeat(np.arange(gh), np.diff(ys))  # (H,)
    col_of = np.repeat(np.arange(gw), np.diff(xs))  # (W,)
    area = (np.diff(ys)[:, None] * np.diff(xs)[None, :]).ravel()
    return row_of[:, None] * gw + col_of[None, :], area


def token_class_shares(
    semantic: np.ndarray, grid_hw: Tuple[int, int], num_classes: int = len(SEMANTIC_CLASSES)
) -> np.ndarray:
    """``(N, C)`` float32 share of each semantic class among the pixels of each token cell.

    Args:
        semantic: ``(H, W)`` integer class ids in ``[0, num_classes)``.
        grid_hw: ``(gh, gw)`` token grid; ``N = gh * gw``, row-major.
        num_classes: ``C``.

    Rows sum to 1. One ``bincount`` over ``token * C + class``: O(H * W).
    """
    sem = np.asarray(semantic)
    if sem.ndim != 2:
        raise ValueError(f"semantic must be (H, W), got shape {sem.shape}")
    if sem.size and (int(sem.min()) < 0 or int(sem.max()) >= num_classes):
        raise ValueError(f"semantic ids must lie in [0, {num_classes}), got [{sem.min()}, {sem.max()}]")
    cell, area = _cell_index(sem.shape, grid_hw)
    n = area.size
    counts = np.bincount((cell * num_classes + sem.astype(np.int64)).ravel(), minlength=n * num_classes)
    return (counts.reshape(n, num_classes) / area[:, None]).astype(np.float32)


@dataclass
class TokenMetrics:
    """Counts behind the token metrics of one image (or of a pool of images).

    Ratios are properties: NaN where the denominator is 0. ``instances_per_class``
    maps every class of :data:`OBJECT_CLASSES` to ``(covered, total)``.
    """

    num_tokens: int = 0
    num_kept: int = 0
    fg_tokens: int = 0
    fg_kept: int = 0
    road_tokens: int = 0
    road_kept: int = 0
    object_tokens: int = 0
    object_kept: int = 0
    instances: int = 0
    instances_covered: int = 0
    instances_per_class: Dict[str, Tuple[int, int]] = field(
        default_factory=lambda: {c: (0, 0) for c in OBJECT_CLASSES}
    )

    @staticmethod
    def _ratio(num: int, den: int) -> float:
        return float(num) / den if den else float("nan")

    @property
    def fg_recall(self) -> float:
        """Share of foreground tokens that are kept."""
        return self._ratio(self.fg_kept, self.fg_tokens)

    @property
    def road_recall(self) -> float:
        """Share of road tokens that are kept."""
        return self._ratio(self.road_kept, self.road_tokens)

    @property
    def object_recall(self) -> float:
        """Share of object tokens that are kept."""
        return self._ratio(self.object_kept, self.object_tokens)

    @property
    def fg_precision(self) -> float:
        """Share of kept tokens that are foreground tokens."""
        return self._ratio(self.fg_kept, self.num_kept)

    @property
    def object_precision(self) -> float:
        """Share of kept tokens that are object tokens."""
        return self._ratio(self.object_kept, self.num_kept)

    @property
    def keep_ratio(self) -> float:
        """Share of tokens kept."""
        return self._ratio(self.num_kept, self.num_tokens)

    @property
    def instance_coverage(self) -> float:
        """Share of object instances (>= MIN_INSTANCE_AREA px) with a kept token on any of their pixels."""
        return self._ratio(self.instances_covered, self.instances)

    @property
    def instance_coverage_per_class(self) -> Dict[str, float]:
        """Class -> instance coverage (NaN for a class without instances)."""
        return {c: self._ratio(*nd) for c, nd in self.instances_per_class.items()}

    def __add__(self, other: "TokenMetrics") -> "TokenMetrics":
        """Sum of the counts (pooling)."""
        out = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)
               if f.name != "instances_per_class"}
        keys = list(dict.fromkeys(list(self.instances_per_class) + list(other.instances_per_class)))
        per = {}
        for k in keys:
            a, b = self.instances_per_class.get(k, (0, 0)), other.instances_per_class.get(k, (0, 0))
            per[k] = (a[0] + b[0], a[1] + b[1])
        return TokenMetrics(**out, instances_per_class=per)

    def as_dict(self) -> Dict[str, float]:
        """Flat dict: the ratios, ``instance_coverage/<class>`` and the counts (for tables and JSON)."""
        out: Dict[str, float] = {
            "fg_recall": self.fg_recall, "road_recall": self.road_recall, "object_recall": self.object_recall,
            "fg_precision": self.fg_precision, "object_precision": self.object_precision,
            "instance_coverage": self.instance_coverage, "keep_ratio": self.keep_ratio,
        }  # fmt: skip
        out.update({f"instance_coverage/{c}": v for c, v in self.instance_coverage_per_class.items()})
        out.update({f.name: getattr(self, f.name) for f in fields(self) if f.name != "instances_per_class"})
        out.update({f"instances/{c}": nd[1] for c, nd in self.instances_per_class.items()})
        return out


def _instances(semantic: np.ndarray, instance: Optional[np.ndarray]) -> np.ndarray:
    """``(H, W)`` int64 instance labels (0 = none) over object pixels; see the module docstring."""
    from scipy import ndimage

    obj_ids = np.array([_ID[c] for c in OBJECT_CLASSES])
    is_obj = np.isin(semantic, obj_ids)
    labels = np.zeros(semantic.shape, np.int64)
    if instance is not None:
        inst = np.asarray(instance).astype(np.int64)
        if inst.shape != semantic.shape:
            raise ValueError(f"instance mask {inst.shape} and semantic mask {semantic.shape} differ in shape")
        labels[is_obj & (inst > 0)] = inst[is_obj & (inst > 0)]
        is_obj &= inst == 0
    nxt = int(labels.max()) + 1
    for cid in np.unique(semantic[is_obj]):  # components of each class among the remaining object pixels
        comp, n = ndimage.label(is_obj & (semantic == cid), structure=np.ones((3, 3), bool))
        if n:
            labels[comp > 0] = comp[comp > 0] + (nxt - 1)
            nxt += n
    return labels


@dataclass
class ImageTruth:
    """What one image's ground truth says about its token cells; :meth:`metrics` scores any kept set.

    Build it once per image with :func:`image_truth` and score many kept sets
    (every method x ratio of a sweep) cheaply.

    Attributes:
        grid_hw: ``(gh, gw)``; ``fg`` / ``road`` / ``obj``: ``(N,)`` bool token flags;
        incidence: ``(I, N)`` bool, counted instance i has pixels in token cell n;
        instance_class: ``(I,)`` index into :data:`OBJECT_CLASSES`.
    """

    grid_hw: Tuple[int, int]
    fg: np.ndarray
    road: np.ndarray
    obj: np.ndarray
    incidence: np.ndarray
    instance_class: np.ndarray

    def metrics(self, kept: np.ndarray) -> TokenMetrics:
        """:class:`TokenMetrics` of ``kept`` (``(N,)`` or ``(gh, gw)`` bool)."""
        k = np.asarray(kept).astype(bool).ravel()
        if k.size != self.fg.size:
            raise ValueError(f"kept has {k.size} tokens, grid {self.grid_hw} has {self.fg.size}")
        hit = (self.incidence & k[None]).any(axis=1)
        per = {}
        for j, c in enumerate(OBJECT_CLASSES):
            m = self.instance_class == j
            per[c] = (int((m & hit).sum()), int(m.sum()))
        return TokenMetrics(
            num_tokens=int(k.size), num_kept=int(k.sum()),
            fg_tokens=int(self.fg.sum()), fg_kept=int((self.fg & k).sum()),
            road_tokens=int(self.road.sum()), road_kept=int((self.road & k).sum()),
            object_tokens=int(self.obj.sum()), object_kept=int((self.obj & k).sum()),
            instances=int(self.incidence.shape[0]), instances_covered=int(hit.sum()),
            instances_per_class=per,
        )  # fmt: skip


def image_truth(
    semantic: np.ndarray,
    grid_hw: Tuple[int, int],
    instance: Optional[np.ndarray] = None,
    fg_threshold: float = FG_CELL_THRESHOLD,
    object_threshold: float = OBJECT_CELL_THRESHOLD,
    min_instance_area: int = MIN_INSTANCE_AREA,
) -> ImageTruth:
    """Token flags and instance-to-cell incidence of one image (arguments as :func:`token_metrics`)."""
    sem = np.asarray(semantic)
    grid_hw = (int(grid_hw[0]), int(grid_hw[1]))
    shares = token_class_shares(sem, grid_hw, len(SEMANTIC_CLASSES))  # (N, C)
    fg = shares[:, [_ID[c] for c in FOREGROUND_CLASSES]].sum(1) > fg_threshold
    road = shares[:, [_ID[c] for c in ROAD_CLASSES]].sum(1) > fg_threshold
    obj = shares[:, [_ID[c] for c in OBJECT_CLASSES]].sum(1) >= object_threshold - 1e-6

    labels = _instances(sem, instance)
    cell, _ = _cell_index(sem.shape, grid_hw)
    n_tok = grid_hw[0] * grid_hw[1]
    n_lab = int(labels.max()) + 1
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n_lab)
    cells = np.bincount(flat * n_tok + cell.ravel(), minlength=n_lab * n_tok).reshape(n_lab, n_tok) > 0
    cls_hist = np.bincount(flat * len(SEMANTIC_CLASSES) + sem.ravel().astype(np.int64),
                           minlength=n_lab * len(SEMANTIC_CLASSES)).reshape(n_lab, -1)
    obj_ids = np.array([_ID[c] for c in OBJECT_CLASSES])
    inst_cls = np.argmax(cls_hist[:, obj_ids], axis=1)  # index into OBJECT_CLASSES
    counted = area >= max(int(min_instance_area), 1)
    counted[0] = False  # background label
    return ImageTruth(grid_hw, fg, road, obj, cells[counted], inst_cls[counted])


def token_metrics(
    kept: np.ndarray,
    semantic: np.ndarray,
    grid_hw: Optional[Tuple[int, int]] = None,
    instance: Optional[np.ndarray] = None,
    fg_threshold: float = FG_CELL_THRESHOLD,
    object_threshold: float = OBJECT_CELL_THRESHOLD,
    min_instance_area: int = MIN_INSTANCE_AREA,
) -> TokenMetrics:
    """Token metrics of one image's kept set.

    Args:
        kept: ``(N,)`` bool over the row-major token grid (then ``grid_hw`` is
            required) or ``(gh, gw)`` bool.
        semantic: ``(H, W)`` uint8 semantic ids (:data:`SEMANTIC_CLASSES`).
        grid_hw: ``(gh, gw)`` token grid, ``gh * gw == N``.
        instance: optional ``(H, W)`` integer instance mask (0 = no instance),
            e.g. ``fastdrive_gt/instance`` PNGs; None: connected components.
        fg_threshold: exclusive share of foreground (road) pixels of a foreground (road) token.
        object_threshold: inclusive share of object pixels of an object token.
        min_instance_area: minimum visible pixels of a counted instance.
    """
    k = np.asarray(kept).astype(bool)
    if grid_hw is None:
        if k.ndim != 2:
            raise ValueError("grid_hw is required for a flat kept vector")
        grid_hw = (int(k.shape[0]), int(k.shape[1]))
    truth = image_truth(semantic, grid_hw, instance, fg_threshold, object_threshold, min_instance_area)
    return truth.metrics(k)


def pool_token_metrics(metrics: Sequence[TokenMetrics]) -> Dict[str, float]:
    """Pool per-image metrics by summing numerators and denominators.

    Returns:
        :meth:`TokenMetrics.as_dict` of the summed counts plus ``num_images``.
    """
    total = TokenMetrics()
    for m in metrics:
        total = total + m
    out = total.as_dict()
    out["num_images"] = len(metrics)
    return out


def load_token_masks(data_root: str, image_rel: str) -> Optional[Tuple[np.ndarray, Optional[np.ndarray]]]:
    """Ground-truth masks of one camera image of a FastDrive world.

    Args:
        data_root: the dataroot; ``image_rel``: image path relative to it (``samples/CAM_X/NAME.jpg``).

    Returns:
        ``(semantic (H, W) uint8, instance (H, W) int64 or None)``; the instance
        mask only when the world was written with ``--instance-masks``. None
        when the image has no semantic mask (real nuScenes).
    """
    import os

    from PIL import Image

    from fastdrive.sim.ground_truth import gt_mask_path, load_semantic_mask

    semantic = load_semantic_mask(data_root, image_rel)
    if semantic is None:
        return None
    inst_path = gt_mask_path(data_root, image_rel, "instance")
    instance = None
    if os.path.isfile(inst_path):
        with Image.open(inst_path) as im:
            instance = np.asarray(im).astype(np.int64)
    return semantic, instance
