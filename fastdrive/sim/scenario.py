"""Scene logs: simulate agents and the ego in a town and log 2 Hz keyframes.

``generate_world(num_scenes, seed)`` is the entry point used by the exporter:
at most four towns (one per nuScenes location name), train scenes in up to
three "train" towns and validation scenes in a held-out town whose layout
parameters are drawn from a different distribution. The simulation runs at
10 Hz (``agents.DT``); every 5th step is a keyframe (timestamps in
microseconds, 500 000 apart).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from fastdrive.sim import _spawn
from fastdrive.sim._roadnet import LightSchedule, RoadNet, light_group
from fastdrive.sim._town_statics import footprint
from fastdrive.sim.agents import (
    DT, SIZE_CLASS, Pedestrian, Vehicle, desired_speed, extend_route, ped_step, pedestrian_object, route_offsets,
    step_vehicle, vehicle_object, vehicle_obstacles,
)
from fastdrive.sim.ego import EventLog, EgoNavigator, current_command, ego_state
from fastdrive.sim.town import generate_town
from fastdrive.sim.types import LOCATIONS, EgoState, Frame, SceneLog, Town

STEPS_PER_KEYFRAME = 5
WARMUP_STEPS = 20
T0_US = 1_600_000_000_000_000


def scene_lighting(rng: np.random.Generator) -> Dict[str, object]:
    """Per-scene sun direction (unit, towards the sun), ambient level and sky colours."""
    el, az = np.deg2rad(rng.uniform(15.0, 70.0)), rng.uniform(0.0, 2 * np.pi)
    sun = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    style = int(rng.integers(3))
    tops = [(70, 120, 200), (150, 155, 165), (90, 110, 170)]
    hors = [(190, 215, 240), (200, 200, 205), (240, 190, 150)]
    jit = lambda c: tuple(int(np.clip(v + rng.integers(-15, 16), 0, 255)) for v in c)  # noqa: E731
    return {"sun_dir": sun, "ambient": float(rng.uniform(0.3, 0.55)), "sky_top": jit(tops[style]),
            "sky_horizon": jit(hors[style])}


def _size_class(v: Vehicle) -> str:
    return "car" if v.is_ego else SIZE_CLASS[v.kind]


class _Sim:
    """State of one scene's simulation."""

    def __init__(self, town: Town, net: RoadNet, rng: np.random.Generator, mode: str):
        self.net, self.rng = net, rng
        self.limits = {t: lane.speed_limit for t, lane in town.lanes.items()}
        self.schedules: Dict[int, LightSchedule] = {}
        for li in town.traffic_lights:
            node = net.light_node.get(li.token, -1)
            if node not in self.schedules:
                g = float(rng.uniform(5.0, 8.0))
                self.schedules[node] = LightSchedule(g, 2.0, 1.0, float(rng.uniform(0.0, 2 * (g + 3.0))))
        self.nav = EgoNavigator(rng, net)
        # 'lead': a lead vehicle brakes to a stop ahead of the ego, the intersection comes later;
        # 'junction': the ego starts close to an intersection (turn, light, crossing pedestrians);
        # 'crossing': like 'junction', on green, and a pedestrian steps onto the crossing ahead
        # 'red_light': the ego arrives at a red light, waits, and starts when it turns green
        dist = {"lead": (38.0, 60.0), "junction": (12.0, 30.0), "crossing": (20.0, 38.0),
                "red_light": (18.0, 40.0)}[mode]
        self.ego = _spawn.make_ego(net, rng, float(rng.uniform(8.0, 12.0)), dist)
        first_light = net.lanes[self.ego.route[0]].light
        if first_light is not None and (mode in ("crossing", "red_light") or rng.random() < 0.65):
            sched = self.schedules[net.light_node[first_light]]  # often arrive on green; 'red_light': on red
            heading = next(li.heading for li in town.traffic_lights if li.token == first_light)
            half = sched.green + sched.yellow + sched.all_red
            green_at = float({"lead": rng.uniform(6.0, 10.0), "red_light": rng.uniform(6.0, 13.0)}.get(
                mode, rng.uniform(-2.0, 0.0)))
            sched.offset = light_group(heading) * half - green_at
        extend_route(self.ego, net, self.nav.choose, 6)
        self.vehicles: List[Vehicle] = [self.ego]
        if mode == "lead":
            self.vehicles += _spawn.make_lead(net, rng, self.ego, self.vehicles, brakes=True,
                                              start=(1.0, 6.0))
        self.vehicles += _spawn.make_traffic(net, rng, self.vehicles, int(rng.integers(8, 17)))
        statics_fp = [footprint(o.center[0], o.center[1], o.yaw, o.size[0], o.size[1]) for o in town.statics]
        self.parked = _spawn.make_parked(net, rng, statics_fp)
        for v in self.vehicles[1:]:
            extend_route(v, net, self._random_turn, 5)
        ego_xy = np.array(self.ego.xy_yaw(net)[:2])
        self.peds: List[Pedestrian] = _spawn.make_walkers(net, rng, ego_xy, int(rng.integers(6, 13)))
        self.peds += _spawn.make_crossers(net, rng, self.ego, certain=mode == "crossing")
        self.lights: Dict[str, str] = {}

    def _random_turn(self, veh: Vehicle, successors: List[str]) -> str:
        """A random successor; trucks and buses avoid turns where they would swing off the road."""
        if SIZE_CLASS[veh.kind] == "large":
            fitting = [c for c in successors if self.net.fits_on_road(c, "large")]
            successors = fitting or successors
        return successors[int(self.rng.integers(len(successors)))]

    def light_states(self, t: float) -> Dict[str, str]:
        out = {}
        for li in self.net.town.traffic_lights:
            sched = self.schedules[self.net.light_node.get(li.token, -1)]
            out[li.token] = sched.state(light_group(li.heading), t)
        return out

    def _reservations(self) -> None:
        net = self.net
        for v in self.vehicles:  # release once the rear has left the connector
            if v.reservation is not None and v.reservation not in v.route and v.s - v.length / 2 > 0.3:
                v.reservation = None
        queues: Dict[str, List[Vehicle]] = {}
        for v in self.vehicles:
            info = net.lanes[v.route[0]]
            if not info.is_connector and len(v.route) >= 2 and info.stop_s is not None:
                queues.setdefault(v.route[0], []).append(v)
        requests: List[Tuple[float, str, Vehicle]] = []
        for tok, queue in queues.items():
            info = net.lanes[tok]
            green = info.light is None or self.lights[info.light] == "green"
            blocked = False  # a vehicle ahead in this lane waits: nobody behind it may hold or ask
            for v in sorted(queue, key=lambda q: -q.s):
                d = info.stop_s - (v.s + v.length / 2)  # type: ignore[operator]
                if v.reservation is not None and (blocked or (not green and d > v.v**2 / 6.0 + 1.0)):
                    v.reservation = None  # can still stop comfortably: wait for the next turn
                if v.reservation is None:
                    if not blocked and green and d < v.v**2 / 4.0 + 15.0:
                        requests.append((d, v.token, v))
                    blocked = True
        held = [v for v in self.vehicles if v.reservation is not None]
        for _, _, v in sorted(requests, key=lambda r: (r[0], r[1])):
            conn = v.route[1]
            node = net.lanes[conn].node
            kc = _size_class(v)
            if all(net.lanes[h.reservation].node != node  # type: ignore[index]
                   or not net.conflict(conn, kc, h.reservation, _size_class(h)) for h in held):  # type: ignore[arg-type]
                v.reservation = conn
                held.append(v)

    def _crossing_safe(self, ci: int, brake: float = 2.5) -> bool:
        """No vehicle is on crossing ``ci`` or too close to stop braking at ``brake`` m/s^2."""
        for v in self.vehicles:
            offs = route_offsets(v, self.net)
            for k, tok in enumerate(v.route):
                for cj, c0, c1, _ in self.net.lanes[tok].crossings:
                    if cj != ci:
                        continue
                    front = offs[k] + c0 - v.length / 2
                    if -(c1 - c0) - v.length - 0.5 < front < v.v**2 / (2 * brake) + 3.0:
                        return False
        return True

    def _walker_blocked(self, p: Pedestrian) -> bool:
        """Another pedestrian is right ahead in the same sidewalk lane."""
        for q in self.peds:
            if q is not p and q.path is p.path and abs(q.lat - p.lat) < 0.8 and 0.0 < (q.s - p.s) * p.direction < 1.1:
                return True
        return False

    def _ego_distance(self, ci: int) -> Optional[float]:
        offs = route_offsets(self.ego, self.net)
        for k, tok in enumerate(self.ego.route):
            for cj, c0, _, _ in self.net.lanes[tok].crossings:
                if cj == ci:
                    return offs[k] + c0 - self.ego.length / 2
        return None

    def step(self, t: float) -> None:
        net = self.net
        self.lights = self.light_states(t)
        for p in self.peds:
            if p.mode == "walk":
                ped_step(p, net, DT, t, blocked=self._walker_blocked(p))
                continue
            if p.mode == "wait" and t >= p.wait_until:
                if p.ego_trigger:
                    d = self._ego_distance(p.crossing)
                    if d is None or not (self.ego.v**2 / 8.0 + 3.0 < d < p.trigger_dist):
                        continue
                if self._crossing_safe(p.crossing, 4.0 if p.ego_trigger else 2.5):
                    p.mode, p.t, p.ego_trigger = "cross", 0.0, False
            ped_step(p, net, DT, t)
        self._reservations()
        occupancy: Dict[str, List[Vehicle]] = {}
        for v in self.vehicles:
            occupancy.setdefault(v.route[0], []).append(v)
        for v in self.vehicles:
            obstacles = vehicle_obstacles(v, net, occupancy, self.peds)
            step_vehicle(v, net, obstacles, desired_speed(v, net, self.limits), t)
            extend_route(v, net, self.nav.choose if v.is_ego else self._random_turn, 6 if v.is_ego else 5)
            if v.route[0] not in occupancy or v not in occupancy[v.route[0]]:
                for lst in occupancy.values():
                    if v in lst:
                        lst.remove(v)
                occupancy.setdefault(v.route[0], []).append(v)

    def objects(self):
        net = self.net
        objs = [vehicle_object(v, net) for v in self.vehicles[1:]]
        objs += [vehicle_object(v, net) for v in self.parked]
        objs += [pedestrian_object(p, net) for p in self.peds]
        return objs


def generate_scene(
    town: Town,
    seed: int,
    samples_per_scene: int = 40,
    split: str = "train",
    name: str = "scene-0000",
    t0_us: Optional[int] = None,
    net: Optional[RoadNet] = None,
    mode: Optional[str] = None,
) -> SceneLog:
    """Simulate one scene in ``town`` and log ``samples_per_scene`` keyframes at 2 Hz.

    Args:
        town: the town to drive in.
        seed: scene seed (agents, ego route and commands, lights, lighting).
        samples_per_scene: number of keyframes (>= 1).
        split: 'train' or 'val'.
        name: scene name.
        t0_us: timestamp of the first keyframe (microseconds); derived from the seed if None.
        net: a prebuilt :class:`RoadNet` of ``town`` (saves time when reusing a town).
        mode: 'lead' (a lead vehicle brakes to a stop ahead of the ego, 1-6 s
            into the scene), 'junction' (the ego starts close to an
            intersection), 'crossing' (a junction on green with a pedestrian
            stepping onto the crossing ahead) or 'red_light' (the ego arrives
            at a red light that turns green 6-13 s into the scene, so it stops
            and starts again); drawn from the seed ('lead' or 'junction') if None.
    """
    if samples_per_scene < 1:
        raise ValueError("samples_per_scene must be >= 1")
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if mode not in (None,) + SCENE_MODES:
        raise ValueError(f"mode must be one of {', '.join(SCENE_MODES)}, got {mode!r}")
    rng = np.random.default_rng(seed)
    net = net if net is not None else RoadNet(town)
    mode = mode or ("lead" if rng.random() < 0.5 else "junction")
    sim = _Sim(town, net, rng, mode)
    lighting = scene_lighting(rng)
    t0 = int(t0_us) if t0_us is not None else T0_US + int(seed % 1_000_000) * 3_600_000_000
    events = EventLog(net)
    frames: List[Frame] = []
    track: List[EgoState] = []  # the ego at every 10 Hz step from the first keyframe on
    prev_yaw: Optional[float] = None
    n_steps = WARMUP_STEPS + (samples_per_scene - 1) * STEPS_PER_KEYFRAME + 1
    for i in range(n_steps):
        t = (i - WARMUP_STEPS) * DT
        if i > 0:
            prev_yaw = sim.ego.xy_yaw(net)[2]
            sim.step(t)
        else:
            sim.lights = sim.light_states(t)
        k = i - WARMUP_STEPS
        if k >= 0:
            track.append(ego_state(sim.ego, net, prev_yaw, DT))
        if k < 0 or k % STEPS_PER_KEYFRAME:
            continue
        f = k // STEPS_PER_KEYFRAME
        frames.append(Frame(
            timestamp=t0 + f * 500_000, ego=ego_state(sim.ego, net, prev_yaw, DT), objects=sim.objects(),
            lights=dict(sim.lights), command=current_command(sim.ego, net), lighting=dict(lighting),
        ))
        events.update(f, sim.ego, sim.lights)
    desc = f"{town.name}, ego target {sim.ego.v0:.1f} m/s, " + ", ".join(events.events)
    return SceneLog(name=name, town=town, frames=frames, split=split, description=desc,  # type: ignore[arg-type]
                    events=list(events.events), ego_track=track)


TRAIN_LAYOUT = {"spacing": (95.0, 115.0), "curve_amp": (7.0, 12.0), "p_four_lane": (0.3, 0.5), "p_curved": (0.4, 0.6)}
VAL_LAYOUT = {"spacing": (112.0, 128.0), "curve_amp": (11.0, 16.0), "p_four_lane": (0.5, 0.7), "p_curved": (0.6, 0.8)}


def _layout(rng: np.random.Generator, ranges: Dict[str, Tuple[float, float]]) -> Dict[str, float]:
    out = {k: float(rng.uniform(*r)) for k, r in ranges.items()}
    out["building_density"] = float(rng.uniform(0.8, 1.2))
    out["tree_density"] = float(rng.uniform(0.7, 1.4))
    return out


def split_counts(num_scenes: int, val_fraction: float) -> Tuple[int, int]:
    """``(n_train, n_val)``: about ``val_fraction`` val scenes, at least one of each when ``num_scenes >= 2``."""
    if num_scenes < 2:
        return num_scenes, 0
    n_val = min(num_scenes - 1, max(1, int(np.floor(val_fraction * num_scenes + 0.5))))
    return num_scenes - n_val, n_val


def generate_world(num_scenes: int, seed: int, samples_per_scene: int = 40, val_fraction: float = 0.25) -> List[SceneLog]:
    """Generate ``num_scenes`` scene logs in at most four towns.

    Train scenes use up to three towns (``LOCATIONS[0:3]``); val scenes use the
    held-out town ``LOCATIONS[3]`` with differently drawn layout parameters.
    A world with >= 2 scenes has at least one val and one train scene. Scene
    roles cycle through :data:`SCENE_CYCLE` ('crossing': the ego stops for a
    pedestrian; 'lead': it stops behind a braking lead vehicle; 'junction':
    it turns at an intersection; 'red_light': it stops at a red light and
    starts on green), in the train and the val split alike, so that what is
    in view, not the ego's history, decides the future often: a scene of at least
    ``MIN_SAMPLES_FOR_RETRY`` keyframes is re-drawn with a derived seed (at
    most ``MAX_ATTEMPTS`` times) until it shows its situation.
    """
    if num_scenes < 1:
        raise ValueError("num_scenes must be >= 1")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError("val_fraction must be in [0, 1)")
    rng = np.random.default_rng(seed)
    n_train, n_val = split_counts(num_scenes, val_fraction)
    train_towns = [generate_town(LOCATIONS[i], int(rng.integers(2**31)), **_layout(rng, TRAIN_LAYOUT))
                   for i in range(min(3, n_train))]
    val_town = generate_town(LOCATIONS[3], int(rng.integers(2**31)), **_layout(rng, VAL_LAYOUT)) if n_val else None
    nets = {id(t): RoadNet(t) for t in train_towns + ([val_town] if val_town else [])}
    scenes = []
    for i in range(num_scenes):
        split = "train" if i < n_train else "val"
        town = train_towns[i % len(train_towns)] if split == "train" else val_town
        assert town is not None
        mode = SCENE_CYCLE[(i if split == "train" else i - n_train) % len(SCENE_CYCLE)]
        need = SCENE_NEEDS[mode]
        base_seed = int(rng.integers(2**31))
        attempts = MAX_ATTEMPTS if samples_per_scene >= MIN_SAMPLES_FOR_RETRY else 1
        for attempt in range(attempts):  # deterministic retries until the scene shows its situation
            scene = generate_scene(town, base_seed + attempt * 1_000_003, samples_per_scene, split, f"scene-{i:04d}",
                                   t0_us=T0_US + i * 3_600_000_000, net=nets[id(town)], mode=mode)
            names = {e.split("@")[0] for e in scene.events}
            if all(names & alternatives for alternatives in need):
                break
        scenes.append(scene)
    return scenes


# events each scene of a world must show (one of each set), by scene role
SCENE_NEEDS = {
    "crossing": [{"stop_for_pedestrian"}],
    "junction": [{"turn_left", "turn_right"}],
    "lead": [{"stop_for_lead"}],
    "red_light": [{"red_light"}],
}
SCENE_MODES = ("lead", "junction", "crossing", "red_light")
#: scene roles, in order, of the train and of the val scenes of a world
SCENE_CYCLE = ("crossing", "lead", "junction", "red_light")
MAX_ATTEMPTS = 8
MIN_SAMPLES_FOR_RETRY = 30  # shorter scenes are too short to be sure to reach the situation
