"""Private: what the traffic simulation derives from a :class:`Town`.

Per lane: a :class:`Polyline`, where a vehicle waits before entering the
intersection (``stop_s``), which light controls it, and which zebra
crossings it passes (arc interval plus where along the crossing the lane is).
Per connector: its intersection and the footprint a vehicle of a given size
class sweeps along it (used to grant non-conflicting intersection
reservations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
from shapely.geometry import LineString, Point, Polygon
from shapely.ops import unary_union

from fastdrive.sim._road_geometry import Polyline
from fastdrive.sim._town_statics import footprint
from fastdrive.sim.types import Town

# size classes for swept footprints: (width, length) with a safety margin
SIZE_CLASSES: Dict[str, Tuple[float, float]] = {"small": (1.0, 2.2), "car": (2.2, 5.3), "large": (3.1, 12.4)}


@dataclass
class CrossingGeom:
    """A zebra crossing: polygon and the walking line between its two curbs."""

    polygon: Polygon
    a: np.ndarray  # (2,) curb point on one sidewalk
    b: np.ndarray  # (2,) curb point on the other sidewalk
    width: float  # extent along the road (m)

    def __post_init__(self) -> None:
        self.length = float(np.linalg.norm(self.b - self.a))
        self._axis = (self.b - self.a) / self.length

    def axis(self) -> np.ndarray:
        """Unit vector from curb ``a`` to curb ``b``."""
        return self._axis


@dataclass
class LaneInfo:
    line: Polyline
    is_connector: bool
    node: int = -1  # intersection of a connector; end node of a road lane (-1 if none)
    stop_s: Optional[float] = None  # where the front bumper waits before the next connector
    light: Optional[str] = None
    crossings: List[Tuple[int, float, float, float]] = field(default_factory=list)  # (idx, s0, s1, t along crossing)


def _crossing_geom(poly: np.ndarray) -> CrossingGeom:
    pg = Polygon(poly)
    rect = np.asarray(pg.minimum_rotated_rectangle.exterior.coords)[:4]
    e0, e1 = rect[1] - rect[0], rect[2] - rect[1]
    # the long side runs across the road; curb points are the mid-points of the short sides
    if np.linalg.norm(e0) >= np.linalg.norm(e1):
        a, b, width = 0.5 * (rect[0] + rect[3]), 0.5 * (rect[1] + rect[2]), float(np.linalg.norm(e1))
    else:
        a, b, width = 0.5 * (rect[0] + rect[1]), 0.5 * (rect[2] + rect[3]), float(np.linalg.norm(e0))
    ax = (b - a) / np.linalg.norm(b - a)
    return CrossingGeom(pg, a - 0.5 * ax, b + 0.5 * ax, width)


class RoadNet:
    """Lane-level view of a town for the simulation (built once per town)."""

    def __init__(self, town: Town):
        self.town = town
        inter = [(i, Polygon(s.polygon)) for i, s in enumerate(town.road_segments) if s.is_intersection]
        self.node_polys = inter
        self.crossings = [_crossing_geom(c) for c in town.ped_crossings]
        light_of = {t: li.token for li in town.traffic_lights for t in li.lane_tokens}
        self.light_node: Dict[str, int] = {}
        self.lanes: Dict[str, LaneInfo] = {}
        stop_polys = [Polygon(s) for s in town.stop_lines]
        for tok, lane in town.lanes.items():
            line = Polyline(lane.centerline)
            info = LaneInfo(line, lane.turn is not None)
            if info.is_connector:
                mid = Point(line.point(line.length / 2))
                info.node = next(i for i, p in inter if p.covers(mid))
            self.lanes[tok] = info
        for tok, lane in town.lanes.items():
            info = self.lanes[tok]
            if info.is_connector:
                continue
            ls = LineString(lane.centerline)
            if lane.successors:
                info.node = self.lanes[lane.successors[0]].node
                info.stop_s = info.line.length - 2.5  # keep clear of vehicles turning in the square
                for sp in stop_polys:
                    if sp.intersects(ls):
                        info.stop_s = float(min(ls.project(Point(c)) for c in sp.intersection(ls).coords)) - 0.3
                info.light = light_of.get(tok)
                if info.light is not None:
                    self.light_node[info.light] = info.node
            for ci, cg in enumerate(self.crossings):
                if not cg.polygon.intersects(ls):
                    continue
                seg = cg.polygon.intersection(ls)
                ss = [ls.project(Point(c)) for c in np.asarray(seg.coords)] if seg.geom_type == "LineString" else []
                if not ss:
                    continue
                mid = info.line.point(0.5 * (min(ss) + max(ss)))
                t = float((mid - cg.a) @ cg.axis())
                info.crossings.append((ci, float(min(ss)), float(max(ss)), t))
        self._swept: Dict[Tuple[str, str], Polygon] = {}
        self._conflict: Dict[Tuple[str, str, str, str], bool] = {}
        self._drivable = unary_union([Polygon(seg.polygon) for seg in town.road_segments]).buffer(0.3)
        self._fits: Dict[Tuple[str, str], bool] = {}
        self._clear_turning_paths()

    def fits_on_road(self, conn: str, size_class: str) -> bool:
        """True if a vehicle of ``size_class`` stays on the road (+0.3 m) all along connector ``conn``."""
        key = (conn, size_class)
        if key not in self._fits:
            self._fits[key] = bool(self._drivable.contains(self.swept(conn, size_class).buffer(-0.2)))
        return self._fits[key]

    def _clear_turning_paths(self) -> None:
        """Move stop points back until a waiting vehicle's front is clear of every other turning path.

        A large vehicle turning through the intersection swings wide; whoever
        waits on another approach must not stand where it sweeps.
        """
        w, _ = SIZE_CLASSES["large"]
        lanes = self.town.lanes
        for tok, info in self.lanes.items():
            if info.is_connector or info.stop_s is None:
                continue
            others = [c for c, ci in self.lanes.items()
                      if ci.is_connector and ci.node == info.node and lanes[c].predecessors[0] != tok]
            if not others:
                continue
            zone = unary_union([self.swept(c, "large") for c in others])
            s, lowest = info.stop_s, info.stop_s - 15.0
            while s > lowest and footprint(*info.line.pose(s - 1.0), w, 2.0).intersects(zone):
                s -= 0.5
            info.stop_s = s

    def swept(self, conn: str, size_class: str) -> Polygon:
        """Footprint swept by a vehicle of ``size_class`` driving along connector ``conn``."""
        key = (conn, size_class)
        if key not in self._swept:
            w, l = SIZE_CLASSES[size_class]
            line = self.lanes[conn].line
            ss = np.append(np.arange(0.0, line.length, 0.75), line.length)
            self._swept[key] = unary_union([footprint(*line.pose(float(s)), w, l) for s in ss]).buffer(0.2)
        return self._swept[key]

    def conflict(self, c1: str, k1: str, c2: str, k2: str) -> bool:
        """True if two vehicles on these connectors (size classes) could touch."""
        if c1 == c2:
            return False  # same connector: ordinary car following
        key = (c1, k1, c2, k2)
        if key not in self._conflict:
            self._conflict[key] = self._conflict[(c2, k2, c1, k1)] = bool(
                self.swept(c1, k1).intersects(self.swept(c2, k2))
            )
        return self._conflict[key]


@dataclass
class LightSchedule:
    """Two-phase fixed-time plan of one signalised intersection (seconds)."""

    green: float
    yellow: float
    all_red: float
    offset: float

    def state(self, group: int, t: float) -> str:
        half = self.green + self.yellow + self.all_red
        u = (t + self.offset) % (2 * half) - group * half
        if 0.0 <= u < self.green:
            return "green"
        if self.green <= u < self.green + self.yellow:
            return "yellow"
        return "red"


def light_group(heading: float) -> int:
    """Phase group of a light: 0 for approaches along x, 1 along y."""
    return 0 if abs(np.cos(heading)) > 0.7 else 1
