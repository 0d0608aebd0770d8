"""Private: initial placement of the ego, its scripted partners and ambient agents."""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.ops import unary_union

from fastdrive.sim._road_geometry import Polyline, offset
from fastdrive.sim._roadnet import RoadNet
from fastdrive.sim._town_statics import footprint, new_token
from fastdrive.sim.agents import SIZES, Pedestrian, Vehicle, route_offsets, walker_lane
from fastdrive.sim.ego import EGO_SIZE

VEHICLE_MIX = (("car", 0.68), ("truck", 0.1), ("bus", 0.07), ("cyclist", 0.15))
SPEED_RANGE = {"car": (8.0, 12.5), "truck": (7.0, 10.0), "bus": (7.0, 9.5), "cyclist": (3.5, 5.5)}


def color_for(kind: str, rng: np.random.Generator) -> Tuple[int, int, int]:
    """A plausible random base colour for an agent kind."""
    if kind == "pedestrian":
        base = [(40, 40, 60), (150, 30, 30), (30, 90, 160), (200, 180, 140), (60, 110, 60), (230, 230, 230)]
    elif kind == "bus":
        base = [(200, 40, 40), (230, 200, 30), (40, 120, 200), (240, 240, 240)]
    else:
        base = [(220, 220, 225), (20, 20, 25), (150, 150, 155), (160, 20, 25), (25, 50, 140), (90, 95, 100),
                (200, 170, 40), (40, 110, 70)]
    c = np.array(base[int(rng.integers(len(base)))]) + rng.integers(-15, 16, 3)
    c = np.clip(c, 0, 255)
    return int(c[0]), int(c[1]), int(c[2])


def sample_size(kind: str, rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.uniform(*r) for r in SIZES[kind]])


def road_lane_tokens(net: RoadNet) -> List[str]:
    return [t for t, info in net.lanes.items() if not info.is_connector]


def make_ego(net: RoadNet, rng: np.random.Generator, v0: float, dist: Tuple[float, float]) -> Vehicle:
    """The ego on a long road lane, ``dist`` (m, range) before a stop line (an intersection with crossings)."""
    lanes = [t for t in road_lane_tokens(net)
             if net.lanes[t].line.length >= 60.0 and net.lanes[t].stop_s is not None
             and any(c1 > net.lanes[t].line.length - 8.0 for _, _, c1, _ in net.lanes[t].crossings)]
    tok = lanes[int(rng.integers(len(lanes)))]
    info = net.lanes[tok]
    s = max(8.0, float(info.stop_s) - float(rng.uniform(*dist)))
    return Vehicle("ego", "car", EGO_SIZE.copy(), (0, 0, 0), [tok], s, 0.8 * v0, v0, s0=3.0, is_ego=True)


def fits(net: RoadNet, vehicles: List[Vehicle], tok: str, s: float, length: float, margin: float) -> bool:
    """Room for a vehicle centred at ``s`` on lane ``tok`` (bumper gaps >= ``margin``, before the stop point)."""
    info = net.lanes[tok]
    stop = info.stop_s if info.stop_s is not None else info.line.length
    if s - length / 2 < 6.0 or s + length / 2 > stop - 2.0:
        return False
    for v in vehicles:
        if not v.parked and v.route[0] == tok and abs(v.s - s) < (v.length + length) / 2 + margin:
            return False
    return True


def make_lead(net: RoadNet, rng: np.random.Generator, ego: Vehicle, vehicles: List[Vehicle],
              brakes: bool, start: Tuple[float, float] = (1.0, 3.5)) -> List[Vehicle]:
    """A car or truck ahead of the ego on its route.

    If ``brakes``, it stops for 4-6 s, starting at a time drawn uniformly from ``start`` (s).
    """
    kind = "car" if rng.random() < 0.8 else "truck"
    size = sample_size(kind, rng)
    gap = float(rng.uniform(7.0, 14.0))
    for k, tok in enumerate(ego.route[:3]):
        if net.lanes[tok].is_connector:
            continue
        s = ego.s + gap + (ego.length + size[1]) / 2 if k == 0 else gap + size[1] / 2 + 6.0
        if fits(net, vehicles, tok, s, size[1], 4.0):
            t0 = float(rng.uniform(*start))
            lead = Vehicle(new_token(rng), kind, size, color_for(kind, rng), [tok], s, ego.v, 0.85 * ego.v0,
                           hold=(t0, t0 + float(rng.uniform(4.0, 6.0))) if brakes else None)
            return [lead]
    return []


def make_traffic(net: RoadNet, rng: np.random.Generator, vehicles: List[Vehicle], n: int) -> List[Vehicle]:
    """``n`` ambient vehicles on random road lanes (not too close to anyone)."""
    out: List[Vehicle] = []
    lanes = road_lane_tokens(net)
    kinds, probs = zip(*VEHICLE_MIX)
    for _ in range(n * 4):
        if len(out) >= n:
            break
        kind = str(rng.choice(kinds, p=np.array(probs)))
        tok = lanes[int(rng.integers(len(lanes)))]
        size = sample_size(kind, rng)
        s = float(rng.uniform(0.0, net.lanes[tok].line.length))
        if not fits(net, vehicles + out, tok, s, size[1], 10.0):
            continue
        v0 = float(rng.uniform(*SPEED_RANGE[kind]))
        out.append(Vehicle(new_token(rng), kind, size, color_for(kind, rng), [tok], s, float(rng.uniform(0.5, 1.0)) * v0,
                           v0, s0=1.5 if kind == "cyclist" else 2.5))
    return out


def _outer_lanes(net: RoadNet) -> List[Tuple[str, float]]:
    """Road lanes next to the shoulder, with the shoulder width (m)."""
    town = net.town
    polys = {i: Polygon(s.polygon) for i, s in enumerate(town.road_segments) if not s.is_intersection}
    out = []
    for tok in road_lane_tokens(net):
        lane = town.lanes[tok]
        mid = net.lanes[tok].line.point(net.lanes[tok].line.length / 2)
        shoulder = float(polys[lane.road_id].exterior.distance(Point(mid))) - lane.width / 2
        if shoulder < lane.width - 0.1:  # inner lanes of 4-lane roads are a lane further from the edge
            out.append((tok, shoulder))
    return out


def make_parked(net: RoadNet, rng: np.random.Generator, statics_fp: List[Polygon]) -> List[Vehicle]:
    """Parked cars on wide shoulders (outside every lane)."""
    out: List[Vehicle] = []
    blockers = unary_union(statics_fp)
    shapely.prepare(blockers)
    placed: List[Polygon] = []
    for tok, shoulder in _outer_lanes(net):
        if shoulder < 2.3 or rng.random() < 0.3:
            continue
        lane = net.town.lanes[tok]
        line = Polyline(offset(lane.centerline, -(lane.width / 2 + shoulder / 2)))
        for _ in range(int(rng.integers(1, 4))):
            s = float(rng.uniform(18.0, max(19.0, line.length - 18.0)))
            size = sample_size("car", rng)
            size[0] = min(size[0], shoulder - 0.4)
            x, y, yaw = line.pose(s)
            fp = footprint(x, y, yaw, size[0], size[1])
            grown = fp.buffer(0.5)
            if grown.intersects(blockers) or any(grown.intersects(p) for p in placed):
                continue
            lane_line = net.lanes[tok].line  # a bus in the lane beside it must pass, also on curves
            sweep = [footprint(*lane_line.pose(float(q)), 3.1, 12.4) for q in np.arange(s - 9.0, s + 9.5, 1.0)]
            if any(fp.intersects(b) for b in sweep):
                continue
            placed.append(fp)
            out.append(Vehicle(new_token(rng), "car", size, color_for("car", rng), [tok], 0.0, 0.0, 0.0,
                               parked=True, pose=(x, y, yaw)))
    return out


def sidewalk_lines(net: RoadNet) -> List[Polyline]:
    """Walking lines along the middle of every road-side sidewalk."""
    walk = unary_union([Polygon(w) for w in net.town.walkways]).buffer(-0.45)
    out = []
    for tok, shoulder in _outer_lanes(net):
        lane = net.town.lanes[tok]
        for extra in (1.5, 1.2, 1.0):
            full = Polyline(offset(lane.centerline, -(lane.width / 2 + shoulder + extra)))
            pts = full.sub(1.0, full.length - 1.0)
            if walk.contains(LineString(pts)):
                out.append(Polyline(pts))
                break
    return out


def make_walkers(net: RoadNet, rng: np.random.Generator, near: np.ndarray, n: int) -> List[Pedestrian]:
    """Pedestrians walking (or standing) on sidewalks, preferably near ``near`` (2,)."""
    lines = sidewalk_lines(net)
    close = [ln for ln in lines if np.min(np.linalg.norm(ln.pts - near, axis=1)) < 110.0] or lines
    out = []
    for _ in range(n):
        path = close[int(rng.integers(len(close)))]
        mode = "stand" if rng.random() < 0.2 else "walk"
        direction = float(rng.choice([-1.0, 1.0]))
        s = float(rng.uniform(1.0, path.length - 1.0))
        if any(q.path is path and abs(q.s - s) < 1.5 for q in out):
            continue
        out.append(Pedestrian(new_token(rng), sample_size("pedestrian", rng), color_for("pedestrian", rng),
                              float(rng.uniform(0.9, 1.6)), mode, path=path, s=s, direction=direction,
                              lat=walker_lane(direction)))
    return out


def make_crossers(net: RoadNet, rng: np.random.Generator, ego: Vehicle, certain: bool = False) -> List[Pedestrian]:
    """Pedestrians waiting at crossings: on the ego's route (triggered by the ego) and nearby.

    With ``certain``, the first crossing on the ego's route always gets one who
    steps out when the ego is 18 m away (the ego then has to stop).
    """
    out: List[Pedestrian] = []
    offs = route_offsets(ego, net)
    on_route: Dict[int, float] = {}
    for k, tok in enumerate(ego.route):
        for ci, c0, _, t_lane in net.lanes[tok].crossings:
            if offs[k] + c0 - ego.length / 2 > 10.0 and ci not in on_route and len(on_route) < 3:
                on_route[ci] = t_lane
    ego_xy = np.array(ego.xy_yaw(net)[:2])
    for ci, cg in enumerate(net.crossings):
        first = certain and ci == next(iter(on_route), None)
        if ci in on_route:
            if rng.random() > 0.8 and not first:
                continue
            near_side = 0 if on_route[ci] < cg.length / 2 else 1
            side = near_side if rng.random() < 0.7 else 1 - near_side
            trig = True
        else:
            if rng.random() > 0.25 or np.linalg.norm(cg.a - ego_xy) > 150.0:
                continue
            side, trig = int(rng.integers(2)), False
        n = 2 if rng.random() < 0.3 else 1
        for j in range(n):
            along = (-0.9 if j == 0 else 0.9) + float(rng.uniform(-0.2, 0.2))
            out.append(Pedestrian(new_token(rng), sample_size("pedestrian", rng), color_for("pedestrian", rng),
                                  float(rng.uniform(1.1, 1.6)), "wait", crossing=ci, side=side, along=along,
                                  wait_until=0.0 if trig else float(rng.uniform(0.0, 10.0)),
                                  pause=float(rng.uniform(6.0, 18.0)), ego_trigger=trig,
                                  trigger_dist=18.0 if first else 35.0))
    return out
