"""Results of :func:`fastdrive.evaluation.pruning_sweep.run_pruning_sweep`: one row per configuration.

Every row keeps its per-sample metrics (:mod:`.sample_metrics`) and kept-token
masks, aligned with :attr:`SweepResult.sample_tokens` / :attr:`SweepResult.scenes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

L2_KEYS = ("L2_1s", "L2_2s", "L2_3s", "L2_avg")
RATE_KEYS = ("collision_avg", "intersection_avg")


@dataclass
class ConfigResult:
    """Open-loop metrics and cost of one ``(method, ratio)`` (method 'none': unpruned).

    Attributes:
        metrics: means of ``samples`` (L2 in m, rates in %), plus ``num_samples``
            and ``num_collision_excluded`` (same keys as :class:`PlanningAccumulator`).
        num_visual: visual tokens before pruning.
        tokens_kept: mean visual tokens the LLM saw.
        latency_ms: mean model time (vision + prefill + head, pruner included).
        unpruned_latency_ms: mean model time of the paired unpruned calls.
        pruner_ms: mean time of the pruner itself.
        num_planned: samples planned (scored ones).
        fg_recall: mean share of foreground tokens (token cell mostly
            foreground) kept, over samples with a foreground mask; 1.0 unpruned.
        error: why the configuration could not run (then metrics are empty).
        samples: per-sample metrics ``{key: (S,)}`` (:data:`.sample_metrics.SAMPLE_KEYS`),
            aligned with :attr:`SweepResult.sample_tokens`.
        kept: ``(S, N)`` bool kept visual tokens per sample (row-major grid), None unpruned.
    """

    method: str
    ratio: float
    metrics: Dict[str, float] = field(default_factory=dict)
    num_visual: int = 0
    tokens_kept: float = float("nan")
    latency_ms: float = float("nan")
    unpruned_latency_ms: float = float("nan")
    pruner_ms: float = float("nan")
    num_planned: int = 0
    fg_recall: float = float("nan")
    error: Optional[str] = None
    samples: Dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    kept: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def keep_share(self) -> float:
        """Mean share of visual tokens kept (1.0 unpruned)."""
        return self.tokens_kept / self.num_visual if self.num_visual else float("nan")

    @property
    def latency_rel(self) -> float:
        """Model latency over that of its paired unpruned calls (< 1: faster)."""
        if not self.unpruned_latency_ms > 0:
            return float("nan")
        return self.latency_ms / self.unpruned_latency_ms


@dataclass
class SweepResult:
    """Everything :func:`run_pruning_sweep` measured.

    Attributes:
        rows: one per ``(method, ratio)``, methods in the order asked, ratios ascending.
        unpruned: the shared unpruned run (method 'none', ratio 0).
        constant_velocity: the constant-velocity planner on the same samples (method 'constant_velocity').
        num_samples: samples planned and scored; ``num_scenes`` scenes they come from.
        pairing: 'config' or 'sample' (see the module docstring).
        swap: the unpruned model fed the frame of a sample from another scene
            (method 'camera_swap'), or None (not asked, or a single scene).
        blind: the unpruned model fed a uniform grey frame (method 'blind'), or None.
        sample_tokens / scenes: ``(S,)`` sample and scene tokens of the scored samples, in order.
        records: the planning records of the scored samples, in order.
        grid_hw: the planner's visual-token grid.
    """

    rows: List[ConfigResult]
    unpruned: ConfigResult
    constant_velocity: ConfigResult
    num_samples: int
    num_scenes: int
    pairing: str
    swap: Optional[ConfigResult] = None
    blind: Optional[ConfigResult] = None
    sample_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, object), repr=False)
    scenes: np.ndarray = field(default_factory=lambda: np.zeros(0, object), repr=False)
    records: List[Mapping[str, Any]] = field(default_factory=list, repr=False)
    grid_hw: Optional[Tuple[int, int]] = None

    def row(self, method: str, ratio: float) -> ConfigResult:
        for r in self.rows:
            if r.method == method and math.isclose(r.ratio, ratio, abs_tol=1e-9):
                return r
        raise KeyError(f"no row for ({method!r}, {ratio})")

    def references(self) -> List[ConfigResult]:
        """The reference rows that exist: constant velocity, camera swap, grey frame."""
        return [r for r in (self.constant_velocity, self.swap, self.blind) if r is not None]

    def relative(self, row: ConfigResult) -> Dict[str, float]:
        """``row`` against the unpruned run: L2 ratios, collision / intersection deltas
        (percentage points), share of tokens kept, latency ratio (paired)."""
        base = self.unpruned.metrics
        out = {f"{k}_rel": _ratio(row.metrics.get(k), base.get(k)) for k in L2_KEYS}
        for k in RATE_KEYS:
            out[f"{k}_delta"] = _delta(row.metrics.get(k), base.get(k))
        out["tokens_share"] = row.keep_share
        out["latency_rel"] = row.latency_rel
        return out


def _ratio(a: Optional[float], b: Optional[float]) -> float:
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b):
        return float("nan")
    if b == 0.0:
        return 1.0 if a == 0.0 else float("inf")
    return a / b


def _delta(a: Optional[float], b: Optional[float]) -> float:
    return float("nan") if a is None or b is None else a - b


