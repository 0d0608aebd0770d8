"""What a pruning sweep means: subsets, paired scene-bootstrap intervals, token metrics, JSON.

:func:`run_pruning_sweep` keeps every row's per-sample metrics; this module
turns them into the numbers a table may state (issue 10):

* :func:`subsets`: ``all``, one subset per event tag
  (:mod:`.event_tags`: pedestrian, lead, red_light, start, turn, cruise) and
  ``critical`` (the future departs from constant velocity because of
  something in view);
* :func:`compare`: a row against a reference row (the unpruned run by
  default) on one metric and subset, as a paired 95% interval from a
  bootstrap over scenes (:func:`.bootstrap.scene_bootstrap`): a ratio for
  L2, a difference in percentage points for the collision / intersection
  rates. Say "better" or "worse" only where ``Interval.excludes()``;
* :func:`sweep_to_json`: every row, reference row and subset with its
  intervals, so tables and plots are redrawn without re-planning.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .bootstrap import Interval, scene_bootstrap
from .event_tags import TAGS, SampleTags
from .pruning_sweep import L2_KEYS, RATE_KEYS, ConfigResult, SweepResult
from .sample_metrics import mean_metrics

KEYS = L2_KEYS + RATE_KEYS


def subsets(tags: Sequence[SampleTags]) -> Dict[str, np.ndarray]:
    """``{name: (S,) bool}``: ``all``, each of :data:`TAGS`, ``critical``, and ``critical_moving``.

    ``critical_moving``: the critical samples that are not ``start`` samples (the ego is already
    moving and the change of speed it must make is caused by something in view).
    """
    n = len(tags)
    out = {"all": np.ones(n, bool)}
    for tag in TAGS:
        out[tag] = np.array([t.has(tag) for t in tags], bool)
    out["critical"] = np.array([t.critical for t in tags], bool)
    out["critical_moving"] = out["critical"] & ~out["start"]
    return out


def stat_of(key: str) -> str:
    """'ratio' for L2 keys, 'diff' (percentage points) for rate keys."""
    return "ratio" if key.startswith("L2") else "diff"


def compare(result: SweepResult, row: ConfigResult, key: str = "L2_avg", subset: Optional[np.ndarray] = None,
            reference: Optional[ConfigResult] = None, num_resamples: int = 2000, seed: int = 0) -> Interval:
    """Paired scene-bootstrap interval of ``row`` against ``reference`` (default: unpruned).

    Args:
        result: the sweep (its ``scenes`` align every row's samples).
        row: a row of ``result`` (pruned configuration, oracle, or reference row).
        key: a metric of :data:`KEYS`.
        subset: ``(S,)`` bool samples to use (None: all).
        reference: the row compared against.
        num_resamples / seed: of the bootstrap.
    """
    ref = reference if reference is not None else result.unpruned
    a, b = np.asarray(row.samples[key], np.float64), np.asarray(ref.samples[key], np.float64)
    scenes = np.asarray(result.scenes, object)
    if subset is not None:
        m = np.asarray(subset, bool)
        a, b, scenes = a[m], b[m], scenes[m]
    return scene_bootstrap(a, b, scenes, stat=stat_of(key), num_resamples=num_resamples, seed=seed)


def row_summary(result: SweepResult, row: ConfigResult, masks: Mapping[str, np.ndarray],
                keys: Sequence[str] = KEYS, num_resamples: int = 2000) -> Dict[str, Any]:
    """One row as JSON-ready data: cost, token metrics, and per subset its metrics and intervals."""
    out: Dict[str, Any] = dict(method=row.method, ratio=row.ratio, error=row.error, num_visual=row.num_visual,
                               tokens_kept=_num(row.tokens_kept), latency_ms=_num(row.latency_ms),
                               unpruned_latency_ms=_num(row.unpruned_latency_ms), pruner_ms=_num(row.pruner_ms),
                               fg_recall=_num(row.fg_recall), subsets={})
    if row.error or not row.samples:
        return out
    for name, mask in masks.items():
        if not mask.any():
            continue
        entry: Dict[str, Any] = dict(num_samples=int(mask.sum()),
                                     metrics={k: _num(v) for k, v in mean_metrics(row.samples, mask).items()})
        if row is not result.unpruned:
            entry["vs_unpruned"] = {k: compare(result, row, k, mask, num_resamples=num_resamples).to_dict()
                                    for k in keys}
        out["subsets"][name] = entry
    return out


def row_key(row: ConfigResult) -> str:
    """``'method@ratio'``, the key of a row in JSON and token-metric tables."""
    return f"{row.method}@{row.ratio:g}"


def sweep_token_metrics(result: SweepResult, data_root: str, camera: str = "CAM_FRONT",
                        progress: Optional[Any] = None,
                        per_sample: Optional[Dict[str, Any]] = None) -> Dict[str, Dict[str, float]]:
    """Pooled object-level token metrics of every row with kept tokens (and the unpruned run).

    For each scored sample, the ground truth of ``camera`` (``fastdrive_gt``
    semantic and, when written, instance masks) is read once
    (:func:`.token_metrics.image_truth`) and every row's kept set is scored
    on it; counts are pooled over samples (:func:`.token_metrics.pool_token_metrics`).
    Empty when the dataroot has no ground truth (real nuScenes).

    ``per_sample`` (a dict, filled in place) receives the per-image
    :class:`~.token_metrics.TokenMetrics` of every row, ``{'method@ratio':
    [...]}``, and their scenes under ``'_scenes'`` (for
    :func:`.selection_intervals.selection_intervals`).
    """
    from .token_metrics import image_truth, load_token_masks, pool_token_metrics

    if result.grid_hw is None:
        return {}
    rows = [result.unpruned] + [r for r in result.rows if r.ratio > 0 and r.kept is not None]
    per: Dict[str, List[Any]] = {row_key(r): [] for r in rows}
    scenes: List[Any] = []
    for i, record in enumerate(result.records):
        masks = load_token_masks(data_root, record["cams"][camera]["img_path"])
        if masks is not None:
            scenes.append(result.scenes[i] if len(result.scenes) > i else record.get("scene_token"))
            truth = image_truth(masks[0], result.grid_hw, masks[1])
            for r in rows:
                kept = np.ones(truth.fg.size, bool) if r.kept is None else r.kept[i]
                per[row_key(r)].append(truth.metrics(kept))
        if progress is not None:
            progress(1)
    if per_sample is not None:
        per_sample.update(per)
        per_sample["_scenes"] = scenes
    return {k: pool_token_metrics(v) for k, v in per.items() if v}


def oracle_ranges(result: SweepResult, masks: Mapping[str, np.ndarray], key: str = "L2_avg",
                  num_resamples: int = 2000) -> Dict[str, Any]:
    """Per ratio and subset: the benchmark's dynamic range between the oracles.

    ``bg_vs_best``: ``oracle_bg`` against the better (lower ``key``) of
    ``oracle_fg`` / ``oracle_obj``, a paired scene-bootstrap ratio: above 1
    when which tokens are kept matters. ``random_position``: where ``random``
    falls in that range (0 = as good as the best oracle, 1 = as bad as
    ``oracle_bg``).
    """
    out: Dict[str, Any] = {}
    ratios = sorted({r.ratio for r in result.rows if r.ratio > 0})
    for ratio in ratios:
        def get(name: str) -> Optional[ConfigResult]:
            try:
                row = result.row(name, ratio)
            except KeyError:
                return None
            return None if row.error or not row.samples else row
        bg, cands = get("oracle_bg"), [r for r in (get("oracle_fg"), get("oracle_obj")) if r is not None]
        if bg is None or not cands:
            continue
        entry: Dict[str, Any] = {}
        for name, mask in masks.items():
            if not mask.any():
                continue
            best = min(cands, key=lambda r: mean_metrics(r.samples, mask)[key])
            iv = compare(result, bg, key, mask, reference=best, num_resamples=num_resamples)
            pos = None
            rnd = get("random")
            if rnd is not None:
                lo, hi = mean_metrics(best.samples, mask)[key], mean_metrics(bg.samples, mask)[key]
                pos = _num((mean_metrics(rnd.samples, mask)[key] - lo) / (hi - lo)) if hi != lo else None
            entry[name] = dict(best=best.method, bg_vs_best=iv.to_dict(), random_position=pos)
        out[f"{ratio:g}"] = entry
    return out


def _num(x: Any) -> Optional[float]:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def sweep_to_json(result: SweepResult, tags: Sequence[SampleTags], path: str,
                  token_metrics: Optional[Mapping[str, Mapping[str, Any]]] = None,
                  meta: Optional[Mapping[str, Any]] = None, num_resamples: int = 2000,
                  selection: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Write every row (and reference row) with its subsets and intervals to ``path``; returns the data.

    ``token_metrics``: ``{'method@ratio': pooled token metrics}`` to store beside the rows;
    ``selection``: :func:`.selection_intervals.selection_intervals` output.
    """
    masks = subsets(tags)
    rows = [row_summary(result, result.unpruned, masks, num_resamples=num_resamples)]
    rows += [row_summary(result, r, masks, num_resamples=num_resamples) for r in result.references()]
    rows += [row_summary(result, r, masks, num_resamples=num_resamples) for r in result.rows if r.ratio > 0]
    data = dict(meta=dict(meta or {}), num_samples=result.num_samples, num_scenes=result.num_scenes,
                pairing=result.pairing, subsets={k: int(v.sum()) for k, v in masks.items()}, rows=rows,
                token_metrics=dict(token_metrics or {}),
                oracle_range=oracle_ranges(result, masks, num_resamples=num_resamples),
                selection=dict(selection or {}))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=False)
    os.replace(tmp, path)
    return data


def find_row(data: Mapping[str, Any], method: str, ratio: float = 0.0) -> Dict[str, Any]:
    """The row of ``method`` at ``ratio`` in :func:`sweep_to_json` data."""
    for r in data["rows"]:
        if r["method"] == method and abs(float(r["ratio"]) - ratio) < 1e-9:
            return r
    raise KeyError(f"no row ({method!r}, {ratio}) in the sweep data")


def rows_of(data: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The rows of :func:`sweep_to_json` data, unpruned and references first."""
    return list(data["rows"])
