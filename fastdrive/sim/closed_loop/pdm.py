"""Closed-loop driving score in the spirit of NAVSIM's PDM score (v1, plus v2's traffic-light term).

One simulated ego episode (``EgoTrace``) is judged against its scene
(``SceneContext``: the other objects per step, the drivable area, red-light
zones, the route and the expert's progress) by ``score_episode``:

    PDMS = NC * DAC * TLC * (5 * TTC + 5 * EP + 2 * C) / 12

``summarize`` averages many episodes and gives a scene-level bootstrap
interval of the mean PDMS. Every definition is spelled out in
``docs/pdm_score.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import shapely
from scipy.signal import savgol_filter
from shapely.geometry.base import BaseGeometry

from .geometry import box_corners, box_polygons, route_position, to_local

AGENT_KINDS = ("vehicle", "pedestrian", "cyclist")  # an at-fault collision with these: NC = 0
STATIC_KIND = "static"  # barrier, cone, other non-agent: an at-fault collision gives NC = 0.5
DRIVABLE_TOLERANCE = 0.1  # m: the drivable area is grown by this much before the corner test
REAR_MARGIN = 0.5  # m: default depth of the ego's rear bumper region (see _not_at_fault)
SUBSCORES = ("nc", "dac", "tlc", "ep", "ttc", "c", "pdms")


@dataclass
class AgentBox:
    """One other road user or object at one time step, global frame (metres, radians)."""

    token: str  # instance id, stable over time
    kind: str  # 'vehicle' | 'pedestrian' | 'cyclist' | 'static'
    x: float
    y: float
    yaw: float
    length: float
    width: float
    vx: float = 0.0  # m/s, used for the TTC projection
    vy: float = 0.0


@dataclass
class EgoTrace:
    """The simulated ego sampled at a fixed dt: t, x, y, yaw, speed all of shape (T,), T >= 2.

    (x, y) is the box CENTRE in the global frame; speed is the signed forward speed (m/s)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    speed: np.ndarray
    length: float = 4.084
    width: float = 1.85


@dataclass
class SceneContext:
    """What the ego is judged against.

    agents: per step (len T) the other objects at that time ([] = none at any step);
    drivable: drivable area (Polygon / MultiPolygon); red_zones: per step (len T) the
    polygons the ego may not enter at that step ([] = none at any step); route: (R, 2)
    polyline, R >= 2, progress is measured along; expert_progress: metres the logged ego
    advanced along ``route`` over the same time span."""

    agents: List[List[AgentBox]]
    drivable: BaseGeometry
    red_zones: List[List[BaseGeometry]]
    route: np.ndarray
    expert_progress: float


@dataclass
class PDMResult:
    """Sub-scores in [0, 1], the combined PDMS, reasons for every drop, and metres advanced."""

    nc: float
    dac: float
    tlc: float
    ep: float
    ttc: float
    c: float
    pdms: float
    events: List[str]
    ego_progress: float
    #: seconds from the start to the first at-fault collision, drivable-area exit or red-light entry
    #: (the multiplicative penalties); None when there is none
    first_infraction_s: Optional[float] = None


@dataclass(frozen=True)
class ComfortBounds:
    """Comfort limits (SI units); C = 1 only if all hold at every step (strict inequalities).

    window_s is the Savitzky-Golay smoothing window applied before each finite difference."""

    min_lon_acc: float = -4.05
    max_lon_acc: float = 2.40
    max_abs_lat_acc: float = 4.89
    max_abs_jerk: float = 8.37
    max_abs_lon_jerk: float = 4.13
    max_abs_yaw_rate: float = 0.95
    max_abs_yaw_acc: float = 1.93
    window_s: float = 1.5


# ----------------------------------------------------------------------------- comfort


def _savgol_window(n: int, dt: float, window_s: float) -> int:
    """Odd window length (samples) nearest window_s, at least 3, at most n; < 3 = no smoothing."""
    w = max(int(round(window_s / dt)), 3)
    w += 1 - w % 2
    if w > n:
        w = n if n % 2 else n - 1
    return w


def comfort_signals(ego: EgoTrace, window_s: float = 1.5) -> Dict[str, np.ndarray]:
    """Kinematic signals of the trace, each of shape (T,).

    Every derivative is ``np.gradient`` (central differences) of the signal after a
    Savitzky-Golay filter (polynomial order 2, ``window_s`` wide, mode 'interp').
    Keys: lon_acc = d speed/dt; lon_jerk = d lon_acc/dt; yaw_rate = d unwrap(yaw)/dt;
    yaw_acc = d yaw_rate/dt; lat_acc = smoothed speed * yaw_rate; jerk = |d a/dt| of the
    world-frame acceleration vector a = R(yaw) (lon_acc, lat_acc), i.e.
    hypot(lon_jerk - yaw_rate * lat_acc, d lat_acc/dt + yaw_rate * lon_acc)."""
    t, v, yaw = (np.asarray(a, float) for a in (ego.t, ego.speed, ego.yaw))
    dt = float(t[1] - t[0])
    w = _savgol_window(len(t), dt, window_s)

    def smooth(q: np.ndarray) -> np.ndarray:
        return savgol_filter(q, w, polyorder=2, mode="interp") if w >= 3 else q

    def ddt(q: np.ndarray) -> np.ndarray:
        return np.gradient(smooth(q), dt)

    lon_acc = ddt(v)
    lon_jerk = ddt(lon_acc)
    yaw_rate = ddt(np.unwrap(yaw))
    yaw_acc = ddt(yaw_rate)
    lat_acc = smooth(v) * yaw_rate
    jerk = np.hypot(lon_jerk - yaw_rate * lat_acc, ddt(lat_acc) + yaw_rate * lon_acc)
    return dict(lon_acc=lon_acc, lat_acc=lat_acc, jerk=jerk, lon_jerk=lon_jerk,
                yaw_rate=yaw_rate, yaw_acc=yaw_acc)


def comfort_violations(ego: EgoTrace, bounds: Optional[ComfortBounds] = None) -> List[str]:
    """Names of the violated bounds, in the order lon_acc, lat_acc, jerk, lon_jerk,
    yaw_rate, yaw_acc (empty = comfortable)."""
    b = bounds or ComfortBounds()
    s = comfort_signals(ego, b.window_s)
    ok = {
        "lon_acc": bool(np.all((s["lon_acc"] > b.min_lon_acc) & (s["lon_acc"] < b.max_lon_acc))),
        "lat_acc": bool(np.all(np.abs(s["lat_acc"]) < b.max_abs_lat_acc)),
        "jerk": bool(np.all(np.abs(s["jerk"]) < b.max_abs_jerk)),
        "lon_jerk": bool(np.all(np.abs(s["lon_jerk"]) < b.max_abs_lon_jerk)),
        "yaw_rate": bool(np.all(np.abs(s["yaw_rate"]) < b.max_abs_yaw_rate)),
        "yaw_acc": bool(np.all(np.abs(s["yaw_acc"]) < b.max_abs_yaw_acc)),
    }
    return [name for name, good in ok.items() if not good]


# ----------------------------------------------------------------------------- collisions


def _agent_table(boxes: Sequence[AgentBox]) -> np.ndarray:
    """(N, 7) array of x, y, yaw, length, width, vx, vy."""
    return np.array([[a.x, a.y, a.yaw, a.length, a.width, a.vx, a.vy] for a in boxes], float).reshape(-1, 7)


def _not_at_fault(ex: float, ey: float, eyaw: float, espeed: float, elength: float, agent: AgentBox,
                  ax: float, ay: float, stationary_speed: float, rear_margin: float) -> Optional[str]:
    """Why a contact of the ego with ``agent`` is not the ego's fault, or None if it is.

    (ex, ey, eyaw) and (ax, ay) are the ego pose and the object centre *before* the contact
    (see the callers); espeed is the ego's signed speed and agent.vx, vy the object's velocity
    at the contact. Not at fault: (a) the ego is stationary, |espeed| < stationary_speed; or
    (b) it is hit from behind: the agent is a moving non-static object (|(vx, vy)| >=
    stationary_speed) whose centre, in the ego frame with x along the direction of travel
    (sign of espeed), lies behind -elength/2 + rear_margin (rear bumper + rear_margin m)."""
    if abs(espeed) < stationary_speed:
        return "ego stationary"
    if agent.kind != STATIC_KIND and np.hypot(agent.vx, agent.vy) >= stationary_speed:
        lx, _ = to_local(ex, ey, eyaw, ax, ay)
        if np.sign(espeed) * float(lx) < -elength / 2 + rear_margin:
            return "hit from behind"
    return None


def _no_collision(ego, scene, polys, stationary_speed, rear_margin, events,
                  infractions: List[float]) -> Tuple[float, Dict[str, int]]:
    """NC and the first-contact step of every object the ego touched (each object judged once)."""
    ego_polys = box_polygons(ego.x, ego.y, ego.yaw, ego.length, ego.width)
    nc, first = 1.0, {}  # first: token -> step of first contact
    for k, boxes in enumerate(scene.agents):
        if not boxes:
            continue
        for i in np.flatnonzero(shapely.intersects(ego_polys[k], polys[k])):
            a = boxes[i]
            if a.token in first:
                continue
            first[a.token] = k
            # fault is judged from the poses one step before the contact (where the object came from)
            j, ref = k, a
            before = [b for b in scene.agents[k - 1] if b.token == a.token] if k > 0 else []
            if before:
                j, ref = k - 1, before[0]
            reason = _not_at_fault(ego.x[j], ego.y[j], ego.yaw[j], ego.speed[k], ego.length, a,
                                   ref.x, ref.y, stationary_speed, rear_margin)
            where = f"collision with {a.kind} {a.token} at t={ego.t[k]:.1f} s"
            if reason is None:
                nc = min(nc, 0.5 if a.kind == STATIC_KIND else 0.0)
                events.append(f"{where} (at fault)")
                infractions.append(float(ego.t[k]))
            else:
                events.append(f"{where} (not at fault: {reason})")
    return nc, first


def _time_to_collision(ego, scene, tables, first, horizons, stationary_speed, rear_margin, events) -> float:
    """TTC: 0 at the first step where the constant-velocity projections of the ego and an
    object to some horizon intersect (same exclusions as NC, judged from the unprojected
    poses of that step; objects touched at or before that step are skipped)."""
    for k, boxes in enumerate(scene.agents):
        speed = float(ego.speed[k])
        if not boxes or abs(speed) < stationary_speed:
            continue
        keep = np.array([not (a.token in first and first[a.token] <= k) for a in boxes])
        if not keep.any():
            continue
        tab = tables[k]
        for h in horizons:
            ex = ego.x[k] + speed * np.cos(ego.yaw[k]) * h
            ey = ego.y[k] + speed * np.sin(ego.yaw[k]) * h
            ego_poly = box_polygons(ex, ey, ego.yaw[k], ego.length, ego.width)
            ax, ay = tab[:, 0] + tab[:, 5] * h, tab[:, 1] + tab[:, 6] * h
            hit = shapely.intersects(ego_poly, box_polygons(ax, ay, tab[:, 2], tab[:, 3], tab[:, 4]))
            for i in np.flatnonzero(hit & keep):
                a = boxes[i]
                if _not_at_fault(ego.x[k], ego.y[k], ego.yaw[k], speed, ego.length, a, a.x, a.y,
                                 stationary_speed, rear_margin) is None:
                    events.append(f"time to collision with {a.kind} {a.token} within {h:.1f} s "
                                  f"at t={ego.t[k]:.1f} s")
                    return 0.0
    return 1.0


# ----------------------------------------------------------------------------- area, lights, progress


def _drivable(ego: EgoTrace, drivable: BaseGeometry, events: List[str], infractions: List[float]) -> float:
    """DAC: 0 if any ego corner at any step lies outside drivable grown by DRIVABLE_TOLERANCE."""
    corners = box_corners(ego.x, ego.y, ego.yaw, ego.length, ego.width)  # (T, 4, 2)
    area = shapely.buffer(drivable, DRIVABLE_TOLERANCE)
    inside = shapely.intersects_xy(area, corners[..., 0].ravel(), corners[..., 1].ravel())
    bad = np.flatnonzero(~inside.reshape(-1, 4).all(axis=1))
    if bad.size:
        events.append(f"left the drivable area at t={ego.t[bad[0]]:.1f} s")
        infractions.append(float(ego.t[bad[0]]))
        return 0.0
    return 1.0


def _traffic_lights(ego: EgoTrace, red_zones, events: List[str], infractions: List[float]) -> float:
    """TLC: 0 if, at some step k >= 1, the ego box intersects a polygon of red_zones[k]
    that its box at step k-1 did not intersect."""
    if not red_zones:
        return 1.0
    polys = box_polygons(ego.x, ego.y, ego.yaw, ego.length, ego.width)
    for k in range(1, len(polys)):
        for zone in red_zones[k]:
            if shapely.intersects(polys[k], zone) and not shapely.intersects(polys[k - 1], zone):
                events.append(f"entered a red-light zone at t={ego.t[k]:.1f} s")
                infractions.append(float(ego.t[k]))
                return 0.0
    return 1.0


def _progress(ego: EgoTrace, scene: SceneContext, min_expert_progress: float,
              events: List[str]) -> Tuple[float, float]:
    """(EP, metres the ego advanced along the route between its first and last centre)."""
    s0 = route_position(scene.route, ego.x[0], ego.y[0])
    s1 = route_position(scene.route, ego.x[-1], ego.y[-1])
    progress = s1 - s0
    if scene.expert_progress < min_expert_progress:
        return 1.0, progress
    ep = float(np.clip(progress / scene.expert_progress, 0.0, 1.0))
    if ep < 1.0:
        events.append(f"progress {progress:.1f} m of the expert's {scene.expert_progress:.1f} m")
    return ep, progress


# ----------------------------------------------------------------------------- entry points


def _validate(ego: EgoTrace, scene: SceneContext) -> None:
    n = len(ego.t)
    if n < 2 or any(len(a) != n for a in (ego.x, ego.y, ego.yaw, ego.speed)):
        raise ValueError("EgoTrace needs t, x, y, yaw, speed of one length T >= 2")
    dts = np.diff(np.asarray(ego.t, float))
    if dts[0] <= 0 or not np.allclose(dts, dts[0], rtol=1e-3, atol=1e-6):
        raise ValueError("EgoTrace.t must be increasing with a uniform spacing")
    for name in ("agents", "red_zones"):
        if len(getattr(scene, name)) not in (0, n):
            raise ValueError(f"SceneContext.{name} must have one entry per ego step (or be empty)")
    kinds = {a.kind for boxes in scene.agents for a in boxes}
    if not kinds <= set(AGENT_KINDS) | {STATIC_KIND}:
        raise ValueError(f"unknown agent kinds {sorted(kinds - set(AGENT_KINDS) - {STATIC_KIND})}")
    route = np.asarray(scene.route, float)
    if route.ndim != 2 or route.shape[1] != 2 or len(route) < 2:
        raise ValueError("SceneContext.route must have shape (R, 2) with R >= 2")


def score_episode(ego: EgoTrace, scene: SceneContext, *, ttc_horizons: Sequence[float] = (0.0, 0.3, 0.6, 0.9),
                  stationary_speed: float = 0.5, min_expert_progress: float = 5.0,
                  comfort: Optional[ComfortBounds] = None, rear_margin: float = REAR_MARGIN) -> PDMResult:
    """Score one closed-loop episode; see the module docstring and docs/pdm_score.md."""
    _validate(ego, scene)
    ego = EgoTrace(*(np.asarray(a, float) for a in (ego.t, ego.x, ego.y, ego.yaw, ego.speed)),
                   length=float(ego.length), width=float(ego.width))
    events: List[str] = []
    infractions: List[float] = []
    tables = [_agent_table(boxes) for boxes in scene.agents]
    polys = [box_polygons(tb[:, 0], tb[:, 1], tb[:, 2], tb[:, 3], tb[:, 4]) for tb in tables]
    nc, first = _no_collision(ego, scene, polys, stationary_speed, rear_margin, events, infractions)
    dac = _drivable(ego, scene.drivable, events, infractions)
    tlc = _traffic_lights(ego, scene.red_zones, events, infractions)
    ep, progress = _progress(ego, scene, min_expert_progress, events)
    ttc = _time_to_collision(ego, scene, tables, first, tuple(ttc_horizons), stationary_speed,
                             rear_margin, events)
    violated = comfort_violations(ego, comfort)
    if violated:
        events.append("uncomfortable: " + ", ".join(violated) + " out of bounds")
    c = 0.0 if violated else 1.0
    pdms = nc * dac * tlc * (5.0 * ttc + 5.0 * ep + 2.0 * c) / 12.0
    first_infraction = min(infractions) - float(ego.t[0]) if infractions else None
    return PDMResult(nc=nc, dac=dac, tlc=tlc, ep=ep, ttc=ttc, c=c, pdms=float(pdms), events=events,
                     ego_progress=float(progress), first_infraction_s=first_infraction)


def _mean_interval(values: Sequence[float], reference: Sequence[float], scene_ids: Sequence[str],
                   resamples: int, seed: int):
    """:func:`fastdrive.evaluation.bootstrap.scene_bootstrap` of ``mean(values) - mean(reference)``
    (scenes resampled with replacement, all episodes of a drawn scene together)."""
    from ...evaluation.bootstrap import scene_bootstrap

    return scene_bootstrap(values, reference, [str(s) for s in scene_ids], stat="diff",
                           num_resamples=resamples, seed=seed)


def summarize(results: Sequence[PDMResult], scene_ids: Sequence[str], resamples: int = 2000,
              seed: int = 0) -> dict:
    """Episode means of every sub-score, PDMS and ego_progress, plus ``pdms_ci`` (lo, hi): the
    percentile bootstrap 95 % interval of the mean PDMS, resampling scenes with replacement
    (all episodes of a drawn scene enter together), and n_episodes / n_scenes."""
    if not results or len(results) != len(scene_ids):
        raise ValueError("need one scene id per result, and at least one result")
    table = np.array([[getattr(r, k) for k in SUBSCORES + ("ego_progress",)] for r in results], float)
    out: dict = {k: float(v) for k, v in zip(SUBSCORES + ("ego_progress",), table.mean(axis=0))}
    pdms = table[:, SUBSCORES.index("pdms")]
    iv = _mean_interval(pdms, np.zeros_like(pdms), scene_ids, resamples, seed)  # mean(pdms) - 0
    out.update(pdms_ci=(iv.low, iv.high), n_episodes=len(results), n_scenes=iv.num_scenes)
    return out


def paired_difference(values: Sequence[float], reference: Sequence[float], scene_ids: Sequence[str],
                      resamples: int = 2000, seed: int = 0) -> dict:
    """Mean of ``values - reference`` over paired episodes (same scene and start) and its percentile
    bootstrap 95 % interval, resampling scenes with replacement: ``{'delta', 'delta_ci'}``."""
    if not len(values) or len(values) != len(reference) or len(values) != len(scene_ids):
        raise ValueError("need paired values, references and scene ids, at least one of each")
    iv = _mean_interval(values, reference, scene_ids, resamples, seed)
    return {"delta": iv.point, "delta_ci": (iv.low, iv.high)}


__all__ = ["AGENT_KINDS", "AgentBox", "ComfortBounds", "EgoTrace", "PDMResult", "SceneContext", "STATIC_KIND",
           "comfort_signals", "comfort_violations", "paired_difference", "score_episode", "summarize"]
