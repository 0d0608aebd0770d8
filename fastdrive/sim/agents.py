"""Agents of the synthetic world: vehicles (incl. the ego) and pedestrians.

Vehicles drive along lane centrelines with the Intelligent Driver Model
(IDM). Everything they must not hit is an obstacle at some arc distance along
their route: the vehicle in front, the stop point before an intersection
they hold no reservation for (red light, or a conflicting vehicle inside the
intersection), and a zebra crossing with a pedestrian on it. A hard clamp
keeps every vehicle behind its nearest obstacle, so boxes never overlap.
Intersections are entered only with a reservation: granted on green (or at
unsignalised nodes) when no vehicle holds a connector whose swept footprint
touches ours.

Pedestrians walk along sidewalks, or wait at a zebra crossing and cross it
when every approaching vehicle can still stop comfortably.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from fastdrive.sim._road_geometry import Polyline
from fastdrive.sim._roadnet import RoadNet
from fastdrive.sim.types import WorldObject

DT = 0.1  # simulation step (s)
IDM_T, IDM_A, IDM_B = 1.3, 1.6, 2.2  # headway (s), max accel, comfortable decel (m/s^2)
MAX_BRAKE = 8.0
LOOKAHEAD = 70.0
NEAR_GAP = 8.0  # obstacles closer than this (m, bumper gap) count as reasons for standing still

# nuScenes-like box sizes (width, length, height) ranges per kind
SIZES: Dict[str, Tuple[Tuple[float, float], Tuple[float, float], Tuple[float, float]]] = {
    "car": ((1.8, 2.0), (4.2, 4.9), (1.5, 1.8)),
    "truck": ((2.3, 2.6), (6.0, 8.0), (2.8, 3.4)),
    "bus": ((2.8, 3.0), (10.5, 12.0), (3.3, 3.6)),
    "cyclist": ((0.6, 0.8), (1.7, 1.9), (1.6, 1.8)),
    "pedestrian": ((0.6, 0.8), (0.6, 0.8), (1.6, 1.9)),
}
SIZE_CLASS = {"car": "car", "truck": "large", "bus": "large", "cyclist": "small", "ego": "car"}


@dataclass(eq=False)
class Vehicle:
    """A lane-following vehicle; ``s`` is the arc position of its box centre on ``route[0]``."""

    token: str
    kind: str
    size: np.ndarray  # (3,) w, l, h
    color: Tuple[int, int, int]
    route: List[str]
    s: float
    v: float
    v0: float  # desired speed (m/s)
    s0: float = 2.5  # jam gap (m)
    accel: float = 0.0
    is_ego: bool = False
    parked: bool = False
    pose: Tuple[float, float, float] = (0.0, 0.0, 0.0)  # used when parked
    hold: Optional[Tuple[float, float]] = None  # scripted stop [t0, t1) (s)
    reservation: Optional[str] = None
    reason: str = "free"  # what limited the last acceleration
    near: List[str] = field(default_factory=list)  # kinds of obstacles closer than NEAR_GAP

    @property
    def length(self) -> float:
        return float(self.size[1])

    def xy_yaw(self, net: RoadNet) -> Tuple[float, float, float]:
        if self.parked:
            return self.pose
        return net.lanes[self.route[0]].line.pose(self.s)


@dataclass(eq=False)
class Pedestrian:
    """A pedestrian walking a sidewalk line or waiting at / crossing a zebra crossing."""

    token: str
    size: np.ndarray
    color: Tuple[int, int, int]
    speed: float
    mode: str  # 'walk' | 'stand' | 'wait' | 'cross'
    path: Optional[Polyline] = None  # sidewalk line for walkers
    s: float = 0.0
    direction: float = 1.0
    crossing: int = -1
    side: int = 0  # crossers: 0 waits at curb a, 1 at curb b
    along: float = 0.0  # crossers: offset along the road inside the crossing
    lat: float = 0.0  # walkers: lateral offset from the sidewalk line (left positive, m)
    t: float = 0.0  # crossers: metres walked on the crossing
    wait_until: float = 0.0
    pause: float = 6.0  # crossers: wait at the curb after crossing (s)
    ego_trigger: bool = False  # crossers: step out when the ego approaches (closer than trigger_dist)
    trigger_dist: float = 35.0
    yaw: float = 0.0
    xy: np.ndarray = field(default_factory=lambda: np.zeros(2))


def idm_accel(v: float, v_des: float, gap: float, v_lead: float, s0: float) -> float:
    """IDM acceleration (m/s^2) for speed ``v``, desired ``v_des``, bumper gap ``gap`` to a leader at ``v_lead``."""
    free = 1.0 - (v / max(v_des, 0.1)) ** 4 if v_des > 0.05 else -1.0
    if gap == np.inf:
        return IDM_A * free
    s_star = s0 + max(0.0, v * IDM_T + v * (v - v_lead) / (2.0 * np.sqrt(IDM_A * IDM_B)))
    return IDM_A * (free - (s_star / max(gap, 0.05)) ** 2)


def route_offsets(veh: Vehicle, net: RoadNet) -> List[float]:
    """Arc distance from the vehicle centre to the start of each route lane."""
    offs, acc = [], -veh.s
    for tok in veh.route:
        offs.append(acc)
        acc += net.lanes[tok].line.length
    return offs


def crossing_blocked(net: RoadNet, peds: List[Pedestrian], ci: int, t_lane: float, half_w: float) -> bool:
    """A pedestrian on crossing ``ci`` has not yet passed the lane at ``t_lane`` (+ margin)."""
    for p in peds:
        if p.mode != "cross" or p.crossing != ci:
            continue
        length = net.crossings[ci].length
        pos = p.t if p.side == 0 else length - p.t
        d = 1.0 if p.side == 0 else -1.0
        if (t_lane - pos) * d > -(half_w + 1.0):
            return True
    return False


def vehicle_obstacles(
    veh: Vehicle,
    net: RoadNet,
    occupancy: Dict[str, List[Vehicle]],
    peds: List[Pedestrian],
) -> List[Tuple[float, float, str]]:
    """Obstacles ahead as ``(bumper gap m, obstacle speed m/s, reason)``."""
    out: List[Tuple[float, float, str]] = []
    offs = route_offsets(veh, net)
    half = veh.length / 2
    for k, tok in enumerate(veh.route):
        if offs[k] > LOOKAHEAD:
            break
        info = net.lanes[tok]
        for other in occupancy.get(tok, ()):
            if other is veh:
                continue
            centre = offs[k] + other.s
            if centre <= 0.0 and k == 0:
                continue
            if centre > 0.0:
                out.append((centre - other.length / 2 - half, other.v, "lead"))
        for ci, c0, c1, t_lane in info.crossings:
            front_to_c0 = offs[k] + c0 - half
            if front_to_c0 > -0.5 and crossing_blocked(net, peds, ci, t_lane, 1.75):
                out.append((front_to_c0 - 1.0, 0.0, "pedestrian"))
        if info.is_connector and tok != veh.reservation and k > 0:
            prev = net.lanes[veh.route[k - 1]]
            stop = offs[k - 1] + (prev.stop_s if prev.stop_s is not None else prev.line.length - 0.5) - half
            out.append((stop, 0.0, "intersection"))
            break  # nothing beyond an intersection we may not enter
    return out


def desired_speed(veh: Vehicle, net: RoadNet, limits: Dict[str, float]) -> float:
    """Target speed: own desire capped by the (anticipated) speed limits of the route."""
    offs = route_offsets(veh, net)
    v = min(veh.v0, limits[veh.route[0]])
    for k in range(1, len(veh.route)):
        d = offs[k] - veh.length / 2
        if d > LOOKAHEAD:
            break
        v = min(v, float(np.sqrt(limits[veh.route[k]] ** 2 + 2.0 * 1.5 * max(d, 0.0))))
    return v


def step_vehicle(veh: Vehicle, net: RoadNet, obstacles: List[Tuple[float, float, str]], v_des: float, t: float) -> None:
    """Advance one vehicle by ``DT`` with IDM; never past its nearest obstacle."""
    acc, reason = idm_accel(veh.v, v_des, np.inf, 0.0, veh.s0), "free"
    min_gap = np.inf
    for gap, v_l, why in obstacles:
        min_gap = min(min_gap, gap)
        a = idm_accel(veh.v, v_des, gap, v_l, veh.s0 if why == "lead" else 0.8)
        if why != "lead":  # a fixed stop point: brake no harder than needed to stop 0.3 m before it
            a = max(a, -1.15 * veh.v**2 / (2.0 * max(gap - 0.3, 0.05)))
        if a < acc:
            acc, reason = a, why
    if veh.hold is not None and veh.hold[0] <= t < veh.hold[1]:
        acc, reason = min(acc, -min(3.0, veh.v / DT)), "hold"
    acc = min(max(float(acc), -MAX_BRAKE), IDM_A)
    v_new = max(0.0, veh.v + acc * DT)
    ds = 0.5 * (veh.v + v_new) * DT
    limit = max(0.0, min_gap - 0.3)
    if ds > limit:
        ds, v_new = limit, min(v_new, limit / DT)
    veh.accel = (v_new - veh.v) / DT
    veh.v = v_new
    veh.s += ds
    veh.reason = reason
    veh.near = sorted({why for gap, _, why in obstacles if gap < NEAR_GAP})
    while veh.s > net.lanes[veh.route[0]].line.length and len(veh.route) > 1:
        veh.s -= net.lanes[veh.route[0]].line.length
        veh.route.pop(0)


def extend_route(veh: Vehicle, net: RoadNet, choose: Callable[[Vehicle, List[str]], str], n: int = 5) -> None:
    """Append lanes until the route holds ``n`` lanes (``choose`` picks among successors)."""
    lanes = net.town.lanes
    while len(veh.route) < n:
        succ = lanes[veh.route[-1]].successors
        if not succ:
            break
        veh.route.append(succ[0] if len(succ) == 1 else choose(veh, list(succ)))


def walker_lane(direction: float) -> float:
    """Lateral offset of a walker's 'lane' on the sidewalk (the two directions keep apart)."""
    return -0.05 if direction > 0 else -0.95


def ped_step(p: Pedestrian, net: RoadNet, dt: float, t: float, blocked: bool = False) -> None:
    """Move a walking/crossing pedestrian (a ``blocked`` walker waits); waiting and standing ones stay put."""
    if p.mode == "walk" and p.path is not None:
        target = walker_lane(p.direction)
        p.lat += min(max(target - p.lat, -0.6 * dt), 0.6 * dt)
        if blocked:
            return
        p.s += p.direction * p.speed * dt
        if p.s < 0.5 or p.s > p.path.length - 0.5:
            p.direction = -p.direction
            p.s = min(max(p.s, 0.5), p.path.length - 0.5)
    elif p.mode == "cross":
        p.t += p.speed * dt
        if p.t >= net.crossings[p.crossing].length:
            p.t = 0.0
            p.side = 1 - p.side
            p.mode = "wait"
            p.wait_until = t + p.pause


def ped_pose(p: Pedestrian, net: RoadNet) -> Tuple[np.ndarray, float]:
    """Global xy and yaw of a pedestrian."""
    if p.crossing >= 0:
        cg = net.crossings[p.crossing]
        ax = cg.axis()
        along_dir = np.array([-ax[1], ax[0]])
        start, d = (cg.a, ax) if p.side == 0 else (cg.b, -ax)
        xy = start + d * p.t + along_dir * p.along
        yaw = float(np.arctan2(d[1], d[0]))
        return xy, yaw
    assert p.path is not None
    x, y, yaw = p.path.pose(p.s)
    x, y = x - np.sin(yaw) * p.lat, y + np.cos(yaw) * p.lat
    if p.direction < 0:
        yaw += np.pi
    return np.array([x, y]), float(np.arctan2(np.sin(yaw), np.cos(yaw)))


def vehicle_object(veh: Vehicle, net: RoadNet) -> WorldObject:
    """The logged :class:`WorldObject` of a vehicle at the current instant."""
    x, y, yaw = veh.xy_yaw(net)
    if veh.kind == "cyclist":
        attr = "cycle.with_rider"
    elif veh.parked:
        attr = "vehicle.parked"
    else:
        attr = "vehicle.moving" if veh.v > 0.3 else "vehicle.stopped"
    vel = veh.v * np.array([np.cos(yaw), np.sin(yaw)])
    return WorldObject(veh.token, veh.kind, np.array([x, y, veh.size[2] / 2]), veh.size.copy(), float(yaw),
                       vel, veh.color, attr, False)


def pedestrian_object(p: Pedestrian, net: RoadNet) -> WorldObject:
    """The logged :class:`WorldObject` of a pedestrian at the current instant."""
    xy, yaw = ped_pose(p, net)
    moving = p.mode in ("walk", "cross")
    vel = (p.speed if moving else 0.0) * np.array([np.cos(yaw), np.sin(yaw)])
    return WorldObject(p.token, "pedestrian", np.array([xy[0], xy[1], p.size[2] / 2]), p.size.copy(), yaw, vel,
                       p.color, "pedestrian.moving" if moving else "pedestrian.standing", False)
