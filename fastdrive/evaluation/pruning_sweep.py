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
at ratio 0 are copies of it.

Reference rows that show whether the table can tell pruners apart at all
(DESIGN.md section 6; issue 10), all on the same samples:

* **constant velocity** (the floor any planner must beat);
* **camera swap**: every sample planned with the frame of a sample from
  *another scene* (drawn with a fixed seed): what the plan owes to what the
  camera shows. A grey frame (``blind``) is kept as an option, but it is out
  of distribution and no valid "no camera" reference;
* **ground-truth oracles** (``oracle_fg`` / ``oracle_obj`` / ``oracle_bg``,
  :mod:`fastdrive.pruning.oracle`) when listed in ``methods``: they read the
  world's semantic masks (``semantic``) through ``PruningSpec.context``.

Every row keeps its per-sample metrics (:mod:`.sample_metrics`) and kept-token
masks, so that :mod:`.sweep_report` can score event-tagged subsets, object-level
token metrics and paired bootstrap intervals over scenes afterwards.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..datasets.planning import constant_velocity_planner
from ..planner import EgoState, Planner, PruningSpec, Trajectory
from ..pruning import is_evaluation_only
from .open_loop import _record_of
from .sample_metrics import SampleScorer, mean_metrics
from .sweep_types import L2_KEYS, RATE_KEYS, ConfigResult, SweepResult  # noqa: F401  (re-exported)
from .token_metrics import token_class_shares
from .token_overlay import foreground_recall


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
    """Plan one ``PlanningDataset`` item (frames, ego state and command index of the item; the
    previous keyframe's frames too when the item has ``imgs_prev`` and the planner reads them)."""
    prev = None
    if getattr(planner, "reads_prev_frames", False) and item.get("imgs_prev") is not None:
        prev = item_frames(dict(imgs=item["imgs_prev"]), cameras)
    return planner.plan(item_frames(item, cameras), item_ego_state(item), int(item["command"]),
                        pruning=pruning, session_id=session_id, prev_frames=prev)


class _Meter:
    """Running per-sample records of one configuration."""

    def __init__(self, scorer: SampleScorer) -> None:
        self.scorer = scorer
        self.samples: List[Dict[str, float]] = []
        self.kept: List[Optional[np.ndarray]] = []
        self.num_kept: List[int] = []
        self.model: List[float] = []
        self.ref: List[float] = []
        self.pruner: List[float] = []
        self.recall: List[float] = []
        self.num_visual = 0

    def add_plan(self, waypoints: Any, record: Mapping[str, Any]) -> None:
        self.samples.append(self.scorer(waypoints, record))

    def add(self, traj: Trajectory, record: Mapping[str, Any], ref_s: float,
            fg: Optional[np.ndarray] = None) -> None:
        self.add_plan(traj.waypoints, record)
        kept = None if traj.kept_tokens is None else traj.kept_mask(0).reshape(-1)
        self.kept.append(kept)
        if fg is not None:
            rec = 1.0 if kept is None else foreground_recall(traj.kept_mask(0), fg)
            if np.isfinite(rec):
                self.recall.append(rec)
        self.num_kept.append(int(traj.num_kept))
        self.num_visual = int(traj.num_visual)
        self.model.append(float(traj.timings.get("model", float("nan"))))
        self.pruner.append(float(traj.timings.get("pruner", 0.0)))
        self.ref.append(float(ref_s))

    def result(self, method: str, ratio: float) -> ConfigResult:
        samples = {k: np.array([s[k] for s in self.samples], np.float64) for k in self.samples[0]}
        metrics = mean_metrics(samples)
        metrics["num_samples"] = float(len(self.samples))
        metrics["num_collision_excluded"] = float(np.isnan(samples["collision_avg"]).sum())
        kept = None
        if self.kept and all(k is not None for k in self.kept):
            kept = np.stack(self.kept)  # type: ignore[arg-type]
        mean = (lambda xs: float(np.mean(xs)) if xs else float("nan"))  # noqa: E731
        return ConfigResult(method=method, ratio=ratio, metrics=metrics, num_visual=self.num_visual,
                            tokens_kept=mean(self.num_kept), latency_ms=1e3 * mean(self.model),
                            unpruned_latency_ms=1e3 * mean(self.ref), pruner_ms=1e3 * mean(self.pruner),
                            num_planned=len(self.samples), fg_recall=mean(self.recall), samples=samples,
                            kept=kept)


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


def swap_partners(order: Sequence[Tuple[int, str]], seed: int = 0,
                  pool: Optional[Sequence[Tuple[int, str]]] = None) -> Optional[List[int]]:
    """For each ``(index, scene)`` of ``order``, the index of a sample from another scene.

    Drawn uniformly among the samples of ``pool`` (default: ``order`` itself)
    whose scene differs, with ``numpy.random.default_rng(seed)``:
    reproducible. None when no sample of another scene exists.
    """
    pool = list(order if pool is None else pool)
    scenes = np.array([s for _, s in pool], dtype=object)
    idx = np.array([i for i, _ in pool])
    rng = np.random.default_rng(seed)
    out = []
    for _, scene in order:
        cand = idx[scenes != scene]
        if cand.size == 0:
            return None
        out.append(int(cand[rng.integers(cand.size)]))
    return out


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
    swap: bool = True,
    swap_seed: int = 0,
    semantic: Optional[Callable[[Mapping[str, Any]], Optional[np.ndarray]]] = None,
    num_semantic: int = 17,
    swap_source: Any = None,
) -> SweepResult:
    """Open-loop metrics, tokens kept and latency of every ``(method, ratio)``, with reference rows.

    Args:
        planner: any :class:`~fastdrive.planner.Planner` (``EmbeddedPlanner``).
        dataset: a ``PlanningDataset`` with images (any size; the planner
            resizes); its ``cameras`` name the frames (else ``planner.cameras``).
        methods: pruner names (:func:`fastdrive.pruning.list_pruners`, or the
            ``oracle_*`` ones with ``semantic``).
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
        blind: also plan every sample with a uniform grey camera frame.
        on_sample: called after each sample with its position in the scored
            order, its planning record and ``{(method, ratio): Trajectory}``
            (the unpruned plan under ``('none', 0.0)``).
        swap: also plan every sample with another scene's frame (:func:`swap_partners`).
        swap_seed: seed of the swap partners.
        swap_source: a dataset to draw the other scenes' frames from (e.g.
            the train split when the evaluated split holds a single scene);
            default: ``dataset`` itself.
        semantic: planning record -> ``(H, W)`` semantic class ids of the
            first camera's image (or None); the oracle pruners need it.
        num_semantic: number of semantic classes.

    Returns:
        :class:`SweepResult`. A configuration whose pruner cannot be built
        or run on this model (found during the warm-up) gets a row with
        ``error`` set and no metrics.

    Raises:
        ValueError: bad ratios / pairing, no sample with a full future, or an
            oracle without ``semantic``.
    """
    if pairing not in ("config", "sample"):
        raise ValueError(f"pairing must be 'config' or 'sample', got {pairing!r}")
    ratios = sorted({float(r) for r in ratios} | {0.0})
    if any(not 0.0 <= r < 1.0 for r in ratios):
        raise ValueError(f"ratios must be in [0, 1), got {ratios}")
    if semantic is None and any(is_evaluation_only(m) for m in methods):
        raise ValueError("the oracle pruners need the world's semantic masks (semantic=...)")
    options = dict(options or {})
    cameras = tuple(getattr(dataset, "cameras", None) or planner.cameras)
    order = ordered_indices(dataset, limit)
    if not order:
        raise ValueError("no sample with all 6 future poses to evaluate")
    source = dataset if swap_source is None else swap_source
    partners = None
    if swap:
        pool = order if swap_source is None else ordered_indices(swap_source)
        partners = swap_partners(order, swap_seed, pool)
    configs = [(m, r, PruningSpec(m, r, dict(options.get(m, {}))))
               for m in methods for r in ratios if r > 0.0]
    errors: Dict[Tuple[str, float], str] = {}
    first = dataset[order[0][0]]
    grid = tuple(plan_item(planner, first, cameras).grids[0])

    def oracle_context(record: Mapping[str, Any]) -> Dict[str, Any]:
        sem = semantic(record) if semantic is not None else None
        if sem is None:
            raise ValueError(f"no semantic mask for sample {record.get('sample_token')}")
        return {"token_classes": token_class_shares(sem, grid, num_semantic)}

    def spec_for(spec: PruningSpec, record: Mapping[str, Any], ctx: Dict[str, Any]) -> PruningSpec:
        if not is_evaluation_only(spec.method):
            return spec
        if not ctx:
            ctx.update(oracle_context(record))
        return replace(spec, context=ctx)

    if warmup:
        ctx0: Dict[str, Any] = {}
        for m, r, spec in configs:
            try:
                plan_item(planner, first, cameras, spec_for(spec, _record_of(first), ctx0), session_id="__warmup__")
            except Exception as exc:  # noqa: BLE001 -- reported in the row, the sweep goes on
                errors[(m, r)] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        planner.reset()

    scorer = SampleScorer(use_map)
    base = _Meter(scorer)
    cv_meter = _Meter(scorer)
    swap_meter = _Meter(scorer) if partners is not None else None
    blind_meter = _Meter(scorer) if blind else None
    meters = {(m, r): _Meter(scorer) for m, r, _ in configs if (m, r) not in errors}
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
        ref_s = ref.timings.get("model", float("nan"))
        base.add(ref, record, ref_s, fg)
        cv_meter.add_plan(constant_velocity_planner(record), record)
        plans: Dict[Tuple[str, float], Trajectory] = {("none", 0.0): ref}
        if swap_meter is not None:
            other = source[partners[pos]]  # type: ignore[index]
            swapped = dict(item, imgs=other["imgs"], imgs_prev=other.get("imgs_prev"))  # the other clip, whole
            swap_meter.add(plan_item(planner, swapped, cameras, session_id="__swap__"), record, ref_s)
        if blind_meter is not None:
            grey = dict(item, imgs=item["imgs"] * 0.0 + 0.5, imgs_prev=None)  # a grey still
            blind_meter.add(plan_item(planner, grey, cameras, session_id="__blind__"), record, ref_s)
        ctx: Dict[str, Any] = {}
        for m, r, spec in configs:
            if (m, r) in errors:
                continue
            if pairing == "config":
                ref = plan_item(planner, item, cameras, session_id=scene_token)
            traj = plan_item(planner, item, cameras, spec_for(spec, record, ctx),
                             session_id=f"{scene_token}/{m}/{r:g}")
            meters[(m, r)].add(traj, record, ref.timings.get("model", float("nan")), fg)
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
    return SweepResult(
        rows=rows, unpruned=unpruned, constant_velocity=cv_meter.result("constant_velocity", 0.0),
        num_samples=len(order), num_scenes=len({s for _, s in order}), pairing=pairing,
        swap=swap_meter.result("camera_swap", 0.0) if swap_meter is not None else None,
        blind=blind_meter.result("blind", 0.0) if blind_meter is not None else None,
        sample_tokens=np.array([str(r.get("sample_token", i)) for i, r in enumerate(records)], dtype=object),
        scenes=np.array([s for _, s in order], dtype=object), records=records, grid_hw=grid)
