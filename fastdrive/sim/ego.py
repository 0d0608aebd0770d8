"""The ego vehicle: navigation commands, logged state and notable events.

The ego is a :class:`fastdrive.sim.agents.Vehicle` driven by the same IDM
and intersection rules as everyone else (so it slows behind leaders, stops at
red lights and before occupied zebra crossings). What is special:

* at every intersection it takes the turn of a *navigation command* drawn at
  random among the turns available from its lane (``EgoNavigator``), so its
  future path cannot be read from its past;
* its pose is logged at the rear axle (``REAR_AXLE_TO_CENTER`` behind the box
  centre), with speed, acceleration and yaw rate (:func:`ego_state`);
* ``EventLog`` turns what limited it into events such as
  ``'stop_for_lead@frame=12'``, ``'stop_for_pedestrian@frame=20'``,
  ``'red_light@frame=5'``, ``'turn_left@frame=30'``.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from fastdrive.sim._roadnet import RoadNet
from fastdrive.sim.agents import Vehicle
from fastdrive.sim.types import EgoState

EGO_SIZE = np.array([1.85, 4.5, 1.6])  # width, length, height (m)
REAR_AXLE_TO_CENTER = 1.3  # metres from the rear axle forward to the box centre
TURN_WEIGHTS: Dict[str, float] = {"left": 0.4, "right": 0.4, "straight": 0.2}


class EgoNavigator:
    """Draws a navigation command per intersection and picks the matching connector."""

    def __init__(self, rng: np.random.Generator, net: RoadNet):
        self.rng = rng
        self.net = net

    def choose(self, veh: Vehicle, successors: List[str]) -> str:
        lanes = self.net.town.lanes
        turns = sorted({lanes[c].turn or "straight" for c in successors}, key=list(TURN_WEIGHTS).index)
        w = np.array([TURN_WEIGHTS[t] for t in turns])
        cmd = turns[int(self.rng.choice(len(turns), p=w / w.sum()))]
        return next(c for c in successors if (lanes[c].turn or "straight") == cmd)


def current_command(veh: Vehicle, net: RoadNet) -> str:
    """The command in force: the turn of the connector the ego is on or will take next."""
    for tok in veh.route:
        turn = net.town.lanes[tok].turn
        if turn is not None:
            return turn
    return "straight"


def ego_state(veh: Vehicle, net: RoadNet, prev_yaw: Optional[float], dt: float) -> EgoState:
    """Rear-axle :class:`EgoState` of the ego vehicle (global frame)."""
    x, y, yaw = veh.xy_yaw(net)
    rx, ry = x - REAR_AXLE_TO_CENTER * np.cos(yaw), y - REAR_AXLE_TO_CENTER * np.sin(yaw)
    yaw_rate = 0.0
    if prev_yaw is not None:
        yaw_rate = float(np.arctan2(np.sin(yaw - prev_yaw), np.cos(yaw - prev_yaw)) / dt)
    return EgoState(float(rx), float(ry), float(yaw), float(veh.v), float(veh.accel), yaw_rate)


class EventLog:
    """Collects ego events at keyframes (stop episodes with their cause, turns)."""

    STOP_SPEED = 0.3

    def __init__(self, net: RoadNet):
        self.net = net
        self.events: List[str] = []
        self._episode: Optional[List[str]] = None  # reasons logged in the current stop episode
        self._seen: List[str] = []

    def _name(self, why: str, ego: Vehicle, lights: Dict[str, str]) -> Optional[str]:
        if why == "intersection":
            light = self.net.lanes[ego.route[0]].light
            return "red_light" if light is not None and lights.get(light) != "green" else "yield_at_intersection"
        return {"lead": "stop_for_lead", "pedestrian": "stop_for_pedestrian"}.get(why)

    def update(self, frame: int, ego: Vehicle, lights: Dict[str, str]) -> None:
        """Record turns (entering a connector) and the causes of a stop (once per stop episode)."""
        lane = self.net.town.lanes[ego.route[0]]
        if lane.turn is not None and ego.route[0] not in self._seen:
            self._seen.append(ego.route[0])
            name = "go_straight" if lane.turn == "straight" else f"turn_{lane.turn}"
            self.events.append(f"{name}@frame={frame}")
        if ego.v < self.STOP_SPEED:
            new_episode = self._episode is None
            if new_episode:
                self._episode = []
            held = new_episode or (ego.v < 0.05 and ego.accel <= 0.0)  # still held, not pulling away
            causes = [ego.reason] + [w for w in ego.near if w != ego.reason]
            for why in causes:
                name = self._name(why, ego, lights)
                if name is not None and name not in self._episode and held:  # type: ignore[operator]
                    self.events.append(f"{name}@frame={frame}")
                    self._episode.append(name)  # type: ignore[union-attr]
        elif ego.v > 1.0:
            self._episode = None
