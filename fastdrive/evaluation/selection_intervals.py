"""Which pruner keeps what driving needs: per-image token metrics ranked, with scene-bootstrap intervals.

For each pruning ratio and each selection metric (instance coverage,
foreground precision, object precision), the non-oracle methods are ranked
by their mean over images, and the best is compared with the next best by a
paired scene bootstrap of the difference of means (:func:`.bootstrap.scene_bootstrap`).
"Best" may be claimed only where that interval excludes 0. Every method is
also compared with a named reference method (ReconPruner by default).
Images where a metric is undefined (no instance in view) drop out of that
metric's pairs. Methods that do not keep the ratio's budget (adaptive
counts: LightVLA keeps what its queries pick, VLA-Pruner's union can exceed
the budget) are left out of the ranking and listed as ``off_budget`` with
their mean keep share: a method keeping 8 tokens is not comparable on
precision with one keeping 36.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .bootstrap import scene_bootstrap

SELECTION_METRICS = ("instance_coverage", "fg_precision", "object_precision")


def selection_intervals(per_sample: Mapping[str, Sequence[Any]], scenes: Sequence[Any],
                        excluded: Sequence[str] = (), reference: str = "recon",
                        metrics: Sequence[str] = SELECTION_METRICS, num_resamples: int = 2000,
                        seed: int = 0, budget_tolerance: float = 0.05) -> Dict[str, Dict[str, Any]]:
    """Rank the methods at each ratio on each metric, with paired intervals.

    Args:
        per_sample: ``{'method@ratio': [TokenMetrics per image]}`` (aligned with ``scenes``).
        scenes: ``(S,)`` scene of each image.
        excluded: methods left out of the ranking (the ground-truth oracles).
        reference: method compared with every other one (skipped when absent).
        metrics: :class:`~.token_metrics.TokenMetrics` ratio properties.
        num_resamples / seed: of the bootstrap.
        budget_tolerance: a method whose mean keep share departs from
            ``1 - ratio`` by more than this relative amount is off budget.

    Returns:
        ``{'<ratio>': {metric: {'ranking': [[method, mean], ...] (best first),
        'best', 'next', 'best_minus_next': interval, 'reference_minus': {method: interval},
        'off_budget': {method: mean keep share}}}}``.
    """
    scenes = np.asarray(list(scenes), object)
    by_ratio: Dict[str, Dict[str, Sequence[Any]]] = {}
    for key, values in per_sample.items():
        if key.startswith("_"):  # e.g. '_scenes' of sweep_token_metrics
            continue
        method, ratio = key.rsplit("@", 1)
        if method in excluded or float(ratio) == 0.0:
            continue
        if len(values) != len(scenes):
            raise ValueError(f"{key}: {len(values)} images for {len(scenes)} scene labels")
        by_ratio.setdefault(ratio, {})[method] = values
    out: Dict[str, Dict[str, Any]] = {}
    for ratio, methods in sorted(by_ratio.items(), key=lambda kv: float(kv[0])):
        out[ratio] = {}
        budget = 1.0 - float(ratio)
        shares = {m: float(np.nanmean([t.keep_ratio for t in v])) for m, v in methods.items()}
        off = {m: x for m, x in shares.items() if abs(x / budget - 1.0) > budget_tolerance}
        methods = {m: v for m, v in methods.items() if m not in off}
        for metric in metrics:
            vals = {m: np.array([getattr(t, metric) for t in v], float) for m, v in methods.items()}
            means = {m: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for m, v in vals.items()}
            ranking: List[List[Any]] = sorted(([m, x] for m, x in means.items() if np.isfinite(x)),
                                              key=lambda mx: -mx[1])
            entry: Dict[str, Any] = dict(ranking=ranking, off_budget=off)
            if len(ranking) >= 2:
                best, nxt = ranking[0][0], ranking[1][0]
                entry.update(best=best, next=nxt, best_minus_next=scene_bootstrap(
                    vals[best], vals[nxt], scenes, stat="diff", num_resamples=num_resamples, seed=seed).to_dict())
            if reference in vals:
                entry["reference"] = reference
                entry["reference_minus"] = {m: scene_bootstrap(
                    vals[reference], v, scenes, stat="diff", num_resamples=num_resamples, seed=seed).to_dict()
                    for m, v in vals.items() if m != reference}
            out[ratio][metric] = entry
    return out


def diff_text(iv: Mapping[str, Any]) -> Tuple[str, bool]:
    """``('+0.031 [+0.017, +0.047]', excludes 0)`` for an interval dict (None / NaN bounds: 'nan', False)."""
    point, low, high = (float("nan") if iv.get(k) is None else float(iv[k]) for k in ("point", "low", "high"))
    excludes = bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))
    return f"{point:+.3f} [{low:+.3f}, {high:+.3f}]", excludes


def selection_lines(data: Mapping[str, Mapping[str, Any]], reference: Optional[str] = "recon") -> List[str]:
    """Readable summary: per ratio and metric, the ranking head and the best-vs-next interval."""
    lines = []
    for ratio, per_metric in data.items():
        for metric, e in per_metric.items():
            head = ", ".join(f"{m} {x:.3f}" for m, x in e["ranking"][:4])
            line = f"{float(ratio):.0%} {metric}: {head}"
            if e.get("off_budget"):
                line += " (off budget, not ranked: " + ", ".join(
                    f"{m} keeps {x:.0%}" for m, x in sorted(e["off_budget"].items())) + ")"
            iv = e.get("best_minus_next")
            if iv:
                text, excludes = diff_text(iv)
                verdict = "best" if excludes and (iv.get("low") or 0.0) > 0 else "tied with the next"
                line += f" | {e['best']} - {e['next']} = {text} ({verdict})"
            lines.append(line)
    return lines
