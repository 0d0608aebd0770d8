"""Rows x episodes: the closed-loop table (reference rows, the unpruned planner, every pruner x ratio)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .drivers import ConstantVelocityDriver, LogPlanDriver, ServiceDriver
from .episode import Camera, EpisodeResult, EpisodeSpec, run_episode
from .pdm import paired_difference, summarize
from .replay import ReplayScene

SUB_SCORES = ("nc", "dac", "tlc", "ep", "ttc", "c", "pdms")


@dataclass
class Row:
    """One row of the table: a label and how it drives."""

    label: str
    kind: str  # 'log' | 'log_plan' | 'cv' | 'service'
    pruning: Optional[Dict[str, Any]] = None
    swap: bool = False


def reference_rows() -> List[Row]:
    """Log replay (the scorer's check), the logged future as the plan through the tracker (the
    tracker's check), constant velocity (the floor), the unpruned planner, and the planner fed
    another scene's camera (does the camera matter in closed loop?)."""
    return [Row("log replay", "log"), Row("log plan, tracked", "log_plan"), Row("constant velocity", "cv"),
            Row("unpruned", "service", {"method": "none", "ratio": 0.0}),
            Row("camera swap", "service", {"method": "none", "ratio": 0.0}, swap=True)]


def pruning_rows(methods: Sequence[str], ratios: Sequence[float]) -> List[Row]:
    return [Row(f"{m} {int(round(100 * r))}%", "service", {"method": m, "ratio": float(r)})
            for m in methods for r in ratios if r > 0]


def episodes(scenes: Sequence[ReplayScene], seconds: float, starts: int,
             swap_pool: Optional[Sequence[ReplayScene]] = None) -> List[EpisodeSpec]:
    """``starts`` start times per scene, evenly spaced over what the scene's length allows (first: 0 s).

    Each episode's camera-swap partner is the next scene of ``swap_pool`` (default: ``scenes``)
    that is not its own.

    Raises:
        ValueError: a scene shorter than ``seconds``.
    """
    pool = list(swap_pool or scenes)
    out = []
    for scene in scenes:
        others = [s for s in pool if s.name != scene.name]
        k = next((j for j, s in enumerate(pool) if s.name == scene.name), -1)
        partner = (pool[(k + 1) % len(pool)] if k >= 0 and len(pool) > 1 else others[0]) if others else None
        room = scene.duration - seconds
        if room < -1e-6:
            raise ValueError(f"{scene.name} lasts {scene.duration:g} s, shorter than an episode of {seconds:g} s")
        for s in np.linspace(0.0, max(room, 0.0), starts) if starts > 1 else [0.0]:
            out.append(EpisodeSpec(scene, float(np.floor(s / 0.5 + 0.5) * 0.5), seconds, swap_scene=partner))
    return out


def run_rows(rows: Sequence[Row], specs: Sequence[EpisodeSpec], client: Any, camera: Camera,
             progress: Optional[Callable[[str], None]] = None, record: Optional[Callable[[Row, EpisodeSpec], bool]] = None,
             send_prev_frames: bool = False) -> Dict[str, List[EpisodeResult]]:
    """Every row on every episode; failures are recorded and the run goes on. ``send_prev_frames``:
    the service's model reads two frames, so each plan request carries the previous step's too."""
    results: Dict[str, List[EpisodeResult]] = {}
    for row in rows:
        res = []
        for spec in specs:
            keep = bool(record and record(row, spec))
            if row.kind == "log":
                r = run_episode(spec, lambda inp: None, row.label, None, log_replay=True)
            elif row.kind == "log_plan":
                r = run_episode(spec, LogPlanDriver(spec.scene).plan, row.label, None)
            elif row.kind == "cv":
                r = run_episode(spec, ConstantVelocityDriver().plan, row.label, None)
            else:
                if row.swap and spec.swap_scene is None:
                    continue
                driver = ServiceDriver(client, row.pruning, return_kept=keep, send_prev_frames=send_prev_frames)
                use = spec if row.swap else EpisodeSpec(spec.scene, spec.start_s, spec.seconds)
                r = run_episode(use, driver.plan, row.label, camera, record=keep)
            res.append(r)
            if progress is not None:
                progress(f"{row.label:<22} {r.scene} @{r.start_s:g}s: " + (
                    f"PDMS {r.pdm.pdms:.3f}" if r.pdm is not None else f"FAILED ({r.failure})"))
        results[row.label] = res
    return results


def table(results: Dict[str, List[EpisodeResult]], resamples: int = 2000, seed: int = 0,
          reference: str = "unpruned") -> List[Dict[str, Any]]:
    """Per row: mean sub-scores and PDMS with a bootstrap 95% interval over scenes, failures, cost per step,
    and the PDMS difference to the ``reference`` row over the episodes both completed (paired, bootstrap
    over scenes)."""
    ref = {(r.scene, r.start_s): r for r in results.get(reference, []) if r.pdm is not None}
    out = []
    for label, res in results.items():
        ok = [r for r in res if r.pdm is not None]
        row: Dict[str, Any] = {"row": label, "episodes": len(res), "failures": len(res) - len(ok)}
        if ok:
            row.update(summarize([r.pdm for r in ok], [r.scene for r in ok], resamples=resamples, seed=seed))
            row["clean_s"] = float(np.mean([clean_seconds(r) for r in ok]))
        pairs = [(r, ref[(r.scene, r.start_s)]) for r in ok if (r.scene, r.start_s) in ref]
        if pairs and label != reference:
            scenes = [r.scene for r, _ in pairs]
            row.update(paired_difference([r.pdm.pdms for r, _ in pairs], [q.pdm.pdms for _, q in pairs], scenes,
                                         resamples=resamples, seed=seed))
            clean = paired_difference([clean_seconds(r) for r, _ in pairs], [clean_seconds(q) for _, q in pairs],
                                      scenes, resamples=resamples, seed=seed)
            row.update(clean_delta=clean["delta"], clean_delta_ci=clean["delta_ci"])
        for part in ("render", "http", "plan"):
            vals = [r.cost_ms.get(part, 0.0) for r in res if r.cost_ms]
            row[f"{part}_ms"] = float(np.mean(vals)) if vals else 0.0
        out.append(row)
    return out


def clean_seconds(result: EpisodeResult) -> float:
    """Seconds the episode drove before its first infraction (the whole episode if none): a graded
    closed-loop measure that still separates planners when every episode ends with an infraction."""
    seconds = result.steps * 0.1
    t = result.pdm.first_infraction_s if result.pdm is not None else None
    return float(seconds if t is None else min(t, seconds))


def _paired(row: Dict[str, Any], key: str, digits: int, many: bool) -> str:
    """``row[key]`` with its interval ``row[key + '_ci']`` and a ``*`` where that excludes 0 (no interval
    from a single scene); '-' when the row has no paired value."""
    if key not in row:
        return "-"
    point, (lo, hi) = row[key], row[f"{key}_ci"]
    if not many:
        return f"{point:+.{digits}f}"
    star = "*" if lo > 0 or hi < 0 else ""
    return f"{point:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]{star}"


def format_table(rows: List[Dict[str, Any]]) -> str:
    """A Markdown table of :func:`table`."""
    head = ("| row | PDMS [95% CI] | vs unpruned [95% CI] | NC | DAC | TLC | EP | TTC | C | clean s | clean s vs "
            "unpruned [95% CI] | episodes (failed) | render / HTTP / plan ms |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        if "pdms" not in r:
            lines.append(f"| {r['row']} | - | - | - | - | - | - | - | - | - | - | {r['episodes']} ({r['failures']}) | - |")
            continue
        lo, hi = r.get("pdms_ci", (float("nan"), float("nan")))
        many = r.get("n_scenes", 0) >= 2  # one scene gives no interval (a bootstrap of one)
        cost = f"{r['render_ms']:.0f} / {r['http_ms']:.0f} / {r['plan_ms']:.0f}" if r["http_ms"] else "-"
        delta = _paired(r, "delta", 3, many)
        clean = _paired(r, "clean_delta", 1, many)
        pdms = f"{r['pdms']:.3f} [{lo:.3f}, {hi:.3f}]" if many else f"{r['pdms']:.3f}"
        lines.append(f"| {r['row']} | {pdms} | {delta} | " + " | ".join(
            f"{r[k]:.3f}" for k in SUB_SCORES[:-1]) + f" | {r['clean_s']:.1f} | {clean} | {r['episodes']} "
            f"({r['failures']}) | {cost} |")
    return "\n".join(lines)
