"""Open-loop sweep of every pruner x pruning ratio through the ``Planner`` interface (issue 5).

:func:`run_pruning_sweep` plans every validation sample with the unpruned
model and with each ``(method, ratio)`` configuration, scores each with the
open-loop metrics of :mod:`.planning_metrics` (through
:func:`~.open_loop.add_sample`) and measures what each configuration costs:

* **tokens kept**: mean ``Trajectory.num_kept`` (visual tokens the LLM saw);
* **latency**: mean ``Trajectory.timings['model']`` (vision tower + LLM
  prefill + waypoint head, pruner included; the embedded VLA decodes no
  text), in milliseconds, and the pruner's own share
  (``timings['pruner']``);
* **paired latency**: with ``pairing='config'`` every pruned call is
  preceded by an unpruned call on the same sample, so each configuration
  has its own unpruned reference measured side by side (load drifts on a
  shared machine cancel out); ``pairing='sample'`` shares one unpruned call
  per sample between all configurations (half the model calls).

Samples are visited scene by scene in time order, and ``planner.reset()``
is called between scenes. Every configuration plans under its own
``session_id`` (``'<scene token>/<method>/<ratio>'``), so a stateful pruner
(VLA-Pruner) sees the temporal sequence of its own calls only: the ratios of
one method share a pruner object, and would otherwise fill each other's
windows with steps pruned at other budgets. Samples
without all 6 future poses (the end of each scene) are not planned: they are
never scored and come after every scored sample of their scene.

Ratio 0 is the shared unpruned run (computed once); the rows of every method
at ratio 0 are copies of it. The constant-velocity baseline is scored on
the same samples for reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..datasets.planning import constant_velocity_planner
from ..planner import EgoState, Planner, PruningSpec, Trajectory
from .open_loop import _record_of, add_sample, evaluate_open_loop
from .planning_metrics import PlanningAccumulator
from .token_overlay import foreground_recall

L2_KEYS = ("L2_1s", "L2_2s", "L2_3s", "L2_avg")
RATE_KEYS = ("collision_avg", "intersection_avg")


# ----------------------------------------------------------------------------- item -> planner inputs
def item_frames(item: Mapping[str, Any], cameras: Sequence[str]) -> Dict[str, np.ndarray]:
    """``item['imgs']`` float ``(num_cams, 3, H, W)`` in [0, 1] -> ``{camera: (H, W, 3) uint8}``.

    Args:
        item: a ``PlanningDataset`` item.
        cameras: the dataset's camera names, in the order of ``imgs``.
    """
    imgs = item["imgs"]
    imgs = imgs.detach().cpu().numpy() if hasattr(imgs, "detach") else np.asarray(imgs)
    if imgs.ndim != 4 or imgs.shape[1] != 3 or imgs.shape[0] != len(cameras):
        raise ValueError(f"imgs must be ({len(cameras)}, 3, H, W), got {imgs.shape}")
    u8 = (np.clip(imgs, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)
    return {cam: np.ascontiguousarray(u8[i]) for i, cam in enumerate(cameras)}


def item_ego_state(item: Mapping[str, Any]) -> EgoState:
    """``EgoState`` from ``item['ego_state']`` ``[speed, accel, yaw_rate]`` and ``item['past_traj']`` ``(4, 2)``.

    Speed in m/s, acceleration in m/s^2, yaw rate in rad/s, past positions in m (ego frame).
    """
    state = np.asarray(item["ego_state"], np.float64).reshape(-1)
    return EgoState(speed=float(state[0]), accel=float(state[1]), yaw_rate=float(state[2]),
                    past_traj=np.asarray(item["past_traj"], np.float32))


def plan_item(planner: Planner, item: Mapping[str, Any], cameras: Sequence[str],
              pruning: Optional[PruningSpec] = None, session_id: Optional[str] = None) -> Trajectory:
    """Plan one ``PlanningDataset`` item (frames, ego state and command index of the item)."""
    return planner.plan(item_frames(item, cameras), item_ego_state(item), int(item["command"]),
                        pruning=pruning, session_id=session_id)


# ----------------------------------------------------------------------------- results
@dataclass
class ConfigResult:
    """Open-loop metrics and cost of one ``(method, ratio)`` (method 'none': unpruned).

    Attributes:
        metrics: :meth:`PlanningAccumulator.compute` (L2 in m, rates in %).
        num_visual: visual tokens before pruning.
        tokens_kept: mean visual tokens the LLM saw.
        latency_ms: mean model time (vision + prefill + head, pruner included).
        unpruned_latency_ms: mean model time of the paired unpruned calls.
        pruner_ms: mean time of the pruner itself.
        num_planned: samples planned (scored ones).
        fg_recall: mean share of foreground tokens (token cell mostly
            foreground) kept, over samples with a foreground mask; 1.0 unpruned.
        error: why the configuration could not run (then metrics are empty).
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
        constant_velocity: open-loop metrics of the constant-velocity planner on the same samples.
        num_samples: samples planned and scored; ``num_scenes`` scenes they come from.
        pairing: 'config' or 'sample' (see the module docstring).
        blind: open-loop metrics of the unpruned model fed a uniform grey
            camera frame (when asked for), else None.
    """

    rows: List[ConfigResult]
    unpruned: ConfigResult
    constant_velocity: Dict[str, float]
    num_samples: int
    num_scenes: int
    pairing: str
    blind: Optional[Dict[str, float]] = None

    def row(self, method: str, ratio: float) -> ConfigResult:
        for r in self.rows:
            if r.method == method and math.isclose(r.ratio, ratio, abs_tol=1e-9):
                return r
        raise KeyError(f"no row for ({method!r}, {ratio})")

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


class _Meter:
    """Running sums of one configuration."""

    def __init__(self) -> None:
        self.acc = PlanningAccumulator()
        self.kept: List[int] = []
        self.model: List[float] = []
        self.ref: List[float] = []
        self.pruner: List[float] = []
        self.recall: List[float] = []
        self.num_visual = 0

    def add(self, traj: Trajectory, record: Mapping[str, Any], use_map: bool, ref_s: float,
            fg: Optional[np.ndarray] = None) -> None:
        add_sample(self.acc, traj.waypoints, record, use_map)
        if fg is not None:
            if traj.kept_tokens is None:
                self.recall.append(1.0)
            else:
                rec = foreground_recall(traj.kept_mask(0), fg)
                if np.isfinite(rec):
                    self.recall.append(rec)
        self.kept.append(int(traj.num_kept))
        self.num_visual = int(traj.num_visual)
        self.model.append(float(traj.timings.get("model", float("nan"))))
        self.pruner.append(float(traj.timings.get("pruner", 0.0)))
        self.ref.append(float(ref_s))

    def result(self, method: str, ratio: float) -> ConfigResult:
        return ConfigResult(method=method, ratio=ratio, metrics=self.acc.compute(),
                            num_visual=self.num_visual, tokens_kept=float(np.mean(self.kept)),
                            latency_ms=1e3 * float(np.mean(self.model)),
                            unpruned_latency_ms=1e3 * float(np.mean(self.ref)),
                            pruner_ms=1e3 * float(np.mean(self.pruner)), num_planned=len(self.kept),
                            fg_recall=float(np.mean(self.recall)) if self.recall else float("nan"))


# ----------------------------------------------------------------------------- the sweep
def ordered_indices(dataset: Any, limit: Optional[int] = None) -> List[Tuple[int, str]]:
    """``(index, scene_token)`` of the samples with a full future, scene by scene in time order.

    Scenes keep the order of their first sample in the dataset; ``limit``
    keeps the first ``limit`` of that order.
    """
    info = dataset.get_data_info if hasattr(dataset, "get_data_info") else (lambda i: _record_of(dataset[i]))
    recs = [(i, info(i)) for i in range(len(dataset))]
    scene_rank: Dict[str, int] = {}
    for _, r in recs:
        scene_rank.setdefault(str(r["scene_token"]), len(scene_rank))
    keep = [(scene_rank[str(r["scene_token"])], int(r["timestamp"]), i, str(r["scene_token"]))
            for i, r in recs if np.asarray(r["gt_valid"], bool).all()]
    keep.sort()
    out = [(i, scene) for _, _, i, scene in keep]
    return out[:limit] if limit is not None else out


def run_pruning_sweep(
    planner: Planner,
    dataset: Any,
    methods: Sequence[str],
    ratios: Sequence[float] = (0.0, 0.25, 0.5, 0.75),
    options: Optional[Mapping[str, Mapping[str, Any]]] = None,
    limit: Optional[int] = None,
    pairing: str = "config",
    warmup: bool = True,
    use_map: bool = True,
    progress: Optional[Callable[[int], None]] = None,
    fg_mask: Optional[Callable[[Mapping[str, Any]], Optional[np.ndarray]]] = None,
    blind: bool = False,
    on_sample: Optional[Callable[[int, Mapping[str, Any], Dict[Tuple[str, float], Trajectory]], None]] = None,
) -> SweepResult:
    """Open-loop metrics, tokens kept and latency of every ``(method, ratio)``.

    Args:
        planner: any :class:`~fastdrive.planner.Planner` (``EmbeddedPlanner``).
        dataset: a ``PlanningDataset`` with images (any size; the planner
            resizes); its ``cameras`` name the frames (else ``planner.cameras``).
        methods: pruner names (:func:`fastdrive.pruning.list_pruners`).
        ratios: shares of visual tokens removed, in [0, 1); 0 is the shared
            unpruned run and is always measured.
        options: per method, constructor arguments of its pruner.
        limit: plan only the first ``limit`` scored samples (scene order).
        pairing: 'config' (an unpruned call before every pruned call) or
            'sample' (one unpruned call per sample, shared).
        warmup: run every configuration once on the first sample before
            timing (then reset the pruners' temporal state).
        use_map: score intersection with the drivable area.
        progress: called with 1 after each sample (e.g. ``tqdm.update``).
        fg_mask: planning record -> ``(H, W)`` bool foreground mask of the
            first camera's image (or None); rows then report the
            foreground recall of the kept tokens.
        blind: also plan every sample with a uniform grey camera frame
            (``SweepResult.blind``): how much the plan owes to what it sees.
        on_sample: called after each sample with its position in the scored
            order, its planning record and ``{(method, ratio): Trajectory}``
            (the unpruned plan under ``('none', 0.0)``), e.g. to keep some
            samples' plans for a picture.

    Returns:
        :class:`SweepResult`. A configuration whose pruner cannot be built
        or run on this model (found during the warm-up) gets a row with
        ``error`` set and no metrics.

    Raises:
        ValueError: bad ratios / pairing, or no sample with a full future.
    """
    if pairing not in ("config", "sample"):
        raise ValueError(f"pairing must be 'config' or 'sample', got {pairing!r}")
    ratios = sorted({float(r) for r in ratios} | {0.0})
    if any(not 0.0 <= r < 1.0 for r in ratios):
        raise ValueError(f"ratios must be in [0, 1), got {ratios}")
    options = dict(options or {})
    cameras = tuple(getattr(dataset, "cameras", None) or planner.cameras)
    order = ordered_indices(dataset, limit)
    if not order:
        raise ValueError("no sample with all 6 future poses to evaluate")
    configs = [(m, r, PruningSpec(m, r, dict(options.get(m, {}))))
               for m in methods for r in ratios if r > 0.0]
    errors: Dict[Tuple[str, float], str] = {}

    if warmup:
        item = dataset[order[0][0]]
        plan_item(planner, item, cameras)
        for m, r, spec in configs:
            try:
                plan_item(planner, item, cameras, spec, session_id="__warmup__")
            except Exception as exc:  # noqa: BLE001 -- reported in the row, the sweep goes on
                errors[(m, r)] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        planner.reset()

    base = _Meter()
    blind_meter = _Meter() if blind else None
    meters = {(m, r): _Meter() for m, r, _ in configs if (m, r) not in errors}
    records = []
    scene: Optional[str] = None
    for pos, (idx, scene_token) in enumerate(order):
        if scene_token != scene:
            planner.reset()
            scene = scene_token
        item = dataset[idx]
        record = _record_of(item)
        records.append(record)
        fg = fg_mask(record) if fg_mask is not None else None
        ref = plan_item(planner, item, cameras, session_id=scene_token)
        base.add(ref, record, use_map, ref.timings.get("model", float("nan")), fg)
        plans: Dict[Tuple[str, float], Trajectory] = {("none", 0.0): ref}
        if blind_meter is not None:
            grey = dict(item, imgs=item["imgs"] * 0.0 + 0.5)
            traj = plan_item(planner, grey, cameras, session_id="__blind__")
            blind_meter.add(traj, record, use_map, ref.timings.get("model", float("nan")))
        for m, r, spec in configs:
            if (m, r) in errors:
                continue
            if pairing == "config":
                ref = plan_item(planner, item, cameras, session_id=scene_token)
            traj = plan_item(planner, item, cameras, spec, session_id=f"{scene_token}/{m}/{r:g}")
            meters[(m, r)].add(traj, record, use_map, ref.timings.get("model", float("nan")), fg)
            plans[(m, r)] = traj
        if on_sample is not None:
            on_sample(pos, record, plans)
        if progress is not None:
            progress(1)
    planner.reset()

    unpruned = base.result("none", 0.0)
    rows: List[ConfigResult] = []
    for m in methods:
        for r in ratios:
            if r == 0.0:
                rows.append(replace(unpruned, method=m, metrics=dict(unpruned.metrics)))
            elif (m, r) in errors:
                rows.append(ConfigResult(method=m, ratio=r, error=errors[(m, r)]))
            else:
                rows.append(meters[(m, r)].result(m, r))
    cv = evaluate_open_loop(constant_velocity_planner, records, use_map)
    return SweepResult(rows=rows, unpruned=unpruned, constant_velocity=cv, num_samples=len(order),
                       num_scenes=len({s for _, s in order}), pairing=pairing,
                       blind=blind_meter.acc.compute() if blind_meter is not None else None)
