"""Private: static objects of a town (buildings, trees, signs, roadworks).

Buildings and trees are kept off the road and the sidewalks (their footprints
do not touch the drivable area or any walkway); signs stand on the verge just
beside the sidewalk; cones and barriers stand on the road shoulder, outside
every lane.
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np
from shapely.geometry import Polygon

from fastdrive.sim._town_layout import Node, Road, arm_s
from fastdrive.sim.types import WorldObject


def new_token(rng: np.random.Generator) -> str:
    """A 32-hex token drawn from ``rng`` (deterministic, nuScenes-like)."""
    return rng.bytes(16).hex()


def footprint(x: float, y: float, yaw: float, width: float, length: float) -> Polygon:
    """Box footprint (shapely) with ``length`` along ``yaw`` and ``width`` across."""
    c, s = np.cos(yaw), np.sin(yaw)
    pts = [(length / 2, width / 2), (-length / 2, width / 2), (-length / 2, -width / 2), (length / 2, -width / 2)]
    return Polygon([(x + c * a - s * b, y + s * a + c * b) for a, b in pts])


def _color(rng: np.random.Generator, base: Tuple[int, int, int], spread: int) -> Tuple[int, int, int]:
    v = np.clip(np.array(base) + rng.integers(-spread, spread + 1, 3), 0, 255)
    return int(v[0]), int(v[1]), int(v[2])


class _Placer:
    """Accepts footprints that avoid a forbidden area and everything accepted so far."""

    def __init__(self, forbidden, extent: Tuple[float, float, float, float]):
        from shapely import prepare

        self.forbidden = forbidden
        prepare(self.forbidden)
        self.extent = extent
        self.placed: List[Polygon] = []
        self._bounds = np.zeros((0, 4))

    def ok(self, poly: Polygon) -> bool:
        b = np.asarray(poly.bounds)
        e = self.extent
        if b[0] < e[0] or b[1] < e[1] or b[2] > e[2] or b[3] > e[3]:
            return False
        near = np.nonzero((self._bounds[:, 0] <= b[2]) & (b[0] <= self._bounds[:, 2])
                          & (self._bounds[:, 1] <= b[3]) & (b[1] <= self._bounds[:, 3]))[0]
        if any(self.placed[i].intersects(poly) for i in near):
            return False
        return not self.forbidden.intersects(poly)

    def add(self, poly: Polygon) -> None:
        self.placed.append(poly)
        self._bounds = np.vstack([self._bounds, np.asarray(poly.bounds)[None]])


def place_statics(
    rng: np.random.Generator,
    nodes: List[Node],
    roads: List[Road],
    forbidden,
    extent: Tuple[float, float, float, float],
    sidewalk_w: float,
    building_density: float,
    tree_density: float,
    cone_groups: int,
) -> List[WorldObject]:
    """Buildings, trees, signs and roadworks (cones + barriers) of one town."""
    out: List[WorldObject] = []
    placer = _Placer(forbidden.buffer(0.5), extent)
    # traffic signs near road ends, on the verge to the right of approaching traffic
    for road in roads:
        for end in ("a", "b"):
            if rng.random() > 0.6:
                continue
            s0, _ = arm_s(road, end, 10.0, 10.5)
            x, y, yaw = road.centre.pose(s0)
            side = 1.0 if end == "a" else -1.0  # right of traffic heading to this end
            lat = side * (road.half_width + sidewalk_w + 1.0)
            nx_, ny_ = -np.sin(yaw) * lat, np.cos(yaw) * lat
            face = yaw if end == "a" else yaw + np.pi
            poly = footprint(x + nx_, y + ny_, face, 0.8, 0.2)
            if placer.ok(poly):
                placer.add(poly)
                col = [(200, 30, 30), (30, 60, 190), (230, 230, 230), (230, 190, 20)][int(rng.integers(4))]
                out.append(WorldObject(new_token(rng), "traffic_sign", np.array([x + nx_, y + ny_, 1.3]),
                                       np.array([0.8, 0.2, 2.6]), float(face), color=col, static=True))
    # roadworks on the shoulder
    for _ in range(cone_groups):
        road = roads[int(rng.integers(len(roads)))]
        side = float(rng.choice([-1.0, 1.0]))
        lat = side * (road.nl * road.lane_w + road.shoulder / 2)
        s = float(rng.uniform(25.0, max(26.0, road.centre.length - 25.0)))
        n_items = int(rng.integers(3, 7))
        for k in range(n_items):
            sk = s + 3.0 * k
            if sk > road.centre.length - 20.0:
                break
            x, y, yaw = road.centre.pose(sk)
            px, py = x - np.sin(yaw) * lat, y + np.cos(yaw) * lat
            if k == 0 and rng.random() < 0.7:
                kind, size, h = "barrier", np.array([2.0, 0.4, 1.0]), 0.5
                oyaw = yaw + np.pi / 2
                col = _color(rng, (230, 230, 230), 20) if rng.random() < 0.5 else _color(rng, (240, 130, 30), 20)
            else:
                kind, size, h = "traffic_cone", np.array([0.4, 0.4, 0.7]), 0.35
                oyaw = yaw
                col = _color(rng, (245, 110, 20), 15)
            out.append(WorldObject(new_token(rng), kind, np.array([px, py, h]), size, float(oyaw),
                                   color=col, attribute=None, static=True))
    # street trees on the verge between sidewalk and buildings
    for road in roads:
        for side in (-1.0, 1.0):
            s = float(rng.uniform(3.0, 12.0))
            while s < road.centre.length:
                r = float(rng.uniform(1.2, 2.2))
                if rng.random() < tree_density * 0.6:
                    x, y, yaw = road.centre.pose(s)
                    lat = side * (road.half_width + sidewalk_w + 0.6 + 1.45 * r)  # clear also when rotated
                    px, py = x - np.sin(yaw) * lat, y + np.cos(yaw) * lat
                    tyaw = float(rng.uniform(0, np.pi / 2))
                    poly = footprint(px, py, tyaw, 2 * r, 2 * r)
                    if placer.ok(poly):
                        placer.add(poly)
                        h = float(rng.uniform(4.5, 9.5))
                        out.append(WorldObject(new_token(rng), "tree", np.array([px, py, h / 2]),
                                               np.array([2 * r, 2 * r, h]), tyaw,
                                               color=_color(rng, (60, 120, 50), 25), static=True))
                s += float(rng.uniform(9.0, 18.0))
    # buildings along both sides of every road: a front row near the sidewalk, a sparser back row
    for lo, hi, share in ((3.0, 8.0, 0.85), (20.0, 32.0, 0.6)):
        for road in roads:
            for side in (-1.0, 1.0):
                s = float(rng.uniform(0.0, 6.0))
                while s < road.centre.length:
                    along = float(rng.uniform(8.0, 22.0))
                    depth = float(rng.uniform(8.0, 18.0))
                    if rng.random() < building_density * share:
                        setback = float(rng.uniform(lo, hi))
                        x, y, yaw = road.centre.pose(min(s + along / 2, road.centre.length))
                        lat = side * (road.half_width + sidewalk_w + setback + depth / 2)
                        px, py = x - np.sin(yaw) * lat, y + np.cos(yaw) * lat
                        poly = footprint(px, py, yaw, depth, along)
                        if placer.ok(poly):
                            placer.add(poly)
                            h = float(rng.choice([rng.uniform(5.0, 12.0), rng.uniform(12.0, 30.0)]))
                            out.append(WorldObject(new_token(rng), "building", np.array([px, py, h / 2]),
                                                   np.array([depth, along, h]), float(yaw),
                                                   color=_color(rng, (150, 140, 130), 60), static=True))
                    s += along + float(rng.uniform(2.0, 9.0))
    # scattered trees in open ground
    n_free = int(40 * tree_density)
    for _ in range(n_free):
        px = float(rng.uniform(extent[0], extent[2]))
        py = float(rng.uniform(extent[1], extent[3]))
        r = float(rng.uniform(1.5, 3.0))
        tyaw = float(rng.uniform(0, np.pi / 2))
        poly = footprint(px, py, tyaw, 2 * r, 2 * r)
        if placer.ok(poly):
            placer.add(poly)
            h = float(rng.uniform(5.0, 11.0))
            out.append(WorldObject(new_token(rng), "tree", np.array([px, py, h / 2]), np.array([2 * r, 2 * r, h]),
                                   tyaw, color=_color(rng, (55, 110, 45), 25), static=True))
    return out
