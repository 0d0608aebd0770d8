"""Procedural town generation: map layers, ground raster and static objects.

``generate_town(name, seed, **layout_params)`` builds a :class:`Town` on a
jittered grid of intersections (see ``_town_layout``) joined by straight and
curved, 2-lane and 4-lane two-way roads. All map layers are built from the
same polylines as the ground raster, so they agree with what is rendered:

* ``road_segments``: one polygon per road (lanes + shoulders) and one square
  per intersection; their union is the drivable area;
* ``lanes``: road lanes and intersection connectors (``turn`` set);
* ``ped_crossings`` / ``stop_lines`` on every arm of 3- and 4-way nodes;
* ``walkways``: sidewalk strips along roads plus corner pieces at nodes;
* ``lane_dividers`` (dashed, between same-direction lanes) and
  ``road_dividers`` (solid centre lines) as polylines;
* ``traffic_lights`` per approach at signalised nodes (+ a static pole).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Dict, List, Tuple

import numpy as np
from shapely.geometry import Polygon, box
from shapely.geometry.polygon import orient
from shapely.ops import unary_union

from fastdrive.sim._road_geometry import offset, strip_polygon
from fastdrive.sim._town_layout import (
    CROSS_D0, CROSS_D1, DIRS, STOP_D0, STOP_D1, LayoutParams, Node, Road, arm_s, build_lanes, build_network,
)
from fastdrive.sim._town_raster import paint_ground, shade_texture
from fastdrive.sim._town_statics import new_token, place_statics
from fastdrive.sim.types import LOCATIONS, GroundRaster, Lane, RoadSegment, Town, TrafficLightSpec, WorldObject

RESOLUTION = 0.125  # ground raster cell size (m)
MARGIN = 45.0  # terrain margin around the outermost roads (m)
LINE_W = 0.2  # painted line width (m)
DASH, GAP = 3.0, 6.0  # dashed lane divider pattern (m)


def _ccw(poly: np.ndarray) -> np.ndarray:
    return np.asarray(orient(Polygon(poly), 1.0).exterior.coords)[:-1]


def _marking_range(road: Road, nodes: List[Node]) -> Tuple[float, float]:
    """Arc range of painted lines: from stop line to stop line (square edge at plain corners)."""
    s0 = STOP_D1 if nodes[road.a].has_crossings else 0.0
    s1 = road.centre.length - (STOP_D1 if nodes[road.b].has_crossings else 0.0)
    return s0, s1


def _arm_features(road: Road, end: str, node: Node):
    """Crossing polygon, zebra stripes, stop line polygon and light spec of one arm."""
    c, w = road.centre, road.half_width
    s0, s1 = arm_s(road, end, CROSS_D0, CROSS_D1)
    sub = c.sub(s0, s1)
    crossing = strip_polygon(sub, -w, w)
    stripes = [strip_polygon(sub, t, t + 0.5) for t in np.arange(-w + 0.25, w - 0.5, 1.0)]
    t0, t1 = arm_s(road, end, STOP_D0, STOP_D1)
    inner = road.nl * road.lane_w
    lat = (-inner, 0.0) if end == "b" else (0.0, inner)
    stop = strip_polygon(c.sub(t0, t1), *lat)
    light = None
    if node.has_lights:
        s_l = t1 + 0.6 if end == "a" else t0 - 0.6
        x, y, yaw = c.pose(s_l)
        side = -1.0 if end == "b" else 1.0
        lat_l = side * (w + 0.35)
        px, py = x - np.sin(yaw) * lat_l, y + np.cos(yaw) * lat_l
        face = yaw if end == "a" else yaw + np.pi  # faces the approaching traffic
        controlled = list(road.fwd if end == "b" else road.bwd)
        tok = f"light_n{node.idx}_r{road.idx}{end}"
        light = TrafficLightSpec(tok, np.array([px, py, 4.6]), float(np.arctan2(np.sin(face), np.cos(face))),
                                 controlled, _ccw(stop))
    return _ccw(crossing), stripes, _ccw(stop), light


def _node_walkways(node: Node, roads: List[Road], sw: float) -> List[np.ndarray]:
    """Sidewalk pieces around an intersection square that join the arms' sidewalks."""
    x, y = node.pos
    h = node.half
    ring = box(x - h - sw, y - h - sw, x + h + sw, y + h + sw).difference(box(x - h, y - h, x + h, y + h))
    cuts = []
    for key, (r, _) in node.arms.items():
        half = roads[r].half_width + sw
        d = DIRS[key]
        c = node.pos + d * (h + sw / 2)
        ext_along, ext_across = sw / 2 + 1e-9, half
        if d[0] != 0:
            cuts.append(box(c[0] - ext_along, c[1] - ext_across, c[0] + ext_along, c[1] + ext_across))
        else:
            cuts.append(box(c[0] - ext_across, c[1] - ext_along, c[0] + ext_across, c[1] + ext_along))
    pieces = ring.difference(unary_union(cuts)) if cuts else ring
    geoms = getattr(pieces, "geoms", [pieces])
    return [_ccw(np.asarray(g.exterior.coords)[:-1]) for g in geoms if g.area > 1e-3]


def generate_town(name: str, seed: int, **layout_params) -> Town:
    """Build a deterministic procedural town.

    Args:
        name: one of ``types.LOCATIONS`` (the nuScenes map name it is exported under).
        seed: RNG seed; the same seed and params give an identical town.
        **layout_params: overrides of :class:`LayoutParams` fields (grid size,
            spacing, curvature, lane mix, densities...).

    Returns:
        A :class:`Town` whose extent is roughly ``(nx-1) * spacing + 2 * MARGIN`` square.
    """
    if name not in LOCATIONS:
        raise ValueError(f"town name must be one of {LOCATIONS}, got {name!r}")
    known = {f.name for f in fields(LayoutParams)}
    bad = set(layout_params) - known
    if bad:
        raise ValueError(f"unknown layout params: {sorted(bad)}")
    params = LayoutParams(**layout_params)
    rng = np.random.default_rng(seed)
    nodes, roads = build_network(params, rng)
    lane_geoms = build_lanes(nodes, roads)
    sw = params.sidewalk_width

    segments: List[RoadSegment] = []
    for road in roads:
        poly = _ccw(strip_polygon(road.centre.pts, -road.half_width, road.half_width))
        segments.append(RoadSegment(f"road_{road.idx}", poly, False, 2 * road.nl))
    for n in nodes:
        x, y, h = n.pos[0], n.pos[1], n.half
        sq = np.array([[x - h, y - h], [x + h, y - h], [x + h, y + h], [x - h, y + h]])
        n_l = max(2 * roads[r].nl for r, _ in n.arms.values())
        segments.append(RoadSegment(f"intersection_{n.idx}", sq, True, n_l))

    crossings, stripes, stops, lights = [], [], [], []
    for n in nodes:
        if not n.has_crossings:
            continue
        for key in DIRS:
            if key not in n.arms:
                continue
            r, end = n.arms[key]
            cr, st, sl, li = _arm_features(roads[r], end, n)
            crossings.append(cr)
            stripes.extend(st)
            stops.append(sl)
            if li is not None:
                lights.append(li)

    walkways: List[np.ndarray] = []
    lane_div, road_div, paint = [], [], []
    for road in roads:
        c, w = road.centre, road.half_width
        walkways.append(_ccw(strip_polygon(c.pts, w, w + sw)))
        walkways.append(_ccw(strip_polygon(c.pts, -w - sw, -w)))
        s0, s1 = _marking_range(road, nodes)
        sub = c.sub(s0, s1)
        road_div.append(sub)
        paint.append(strip_polygon(sub, -LINE_W * 0.75, LINE_W * 0.75))
        inner = road.nl * road.lane_w
        paint.append(strip_polygon(sub, -inner - LINE_W / 2, -inner + LINE_W / 2))
        paint.append(strip_polygon(sub, inner - LINE_W / 2, inner + LINE_W / 2))
        if road.nl == 2:
            for sign in (-1.0, 1.0):
                lane_div.append(offset(sub, sign * road.lane_w))
            for a in np.arange(s0 + 1.0, s1 - DASH, DASH + GAP):
                dsub = c.sub(a, a + DASH)
                for sign in (-1.0, 1.0):
                    paint.append(strip_polygon(dsub, sign * road.lane_w - LINE_W / 2, sign * road.lane_w + LINE_W / 2))
    for n in nodes:
        walkways.extend(_node_walkways(n, roads, sw))
    paint.extend(stops)

    all_xy = np.concatenate([s.polygon for s in segments] + walkways)
    xmin, ymin = all_xy.min(axis=0) - MARGIN
    xmax, ymax = all_xy.max(axis=0) + MARGIN
    width = int(np.ceil((xmax - xmin) / RESOLUTION))
    height = int(np.ceil((ymax - ymin) / RESOLUTION))
    xmax, ymax = xmin + width * RESOLUTION, ymin + height * RESOLUTION
    origin = (float(xmin), float(ymin))
    classes = paint_ground((height, width), origin, RESOLUTION, walkways, [s.polygon for s in segments], paint, stripes)
    ground = GroundRaster(classes, origin, RESOLUTION, shade_texture((height, width), rng))

    forbidden = unary_union([Polygon(s.polygon) for s in segments] + [Polygon(wk) for wk in walkways])
    extent = (float(xmin), float(ymin), float(xmax), float(ymax))
    statics: List[WorldObject] = []
    for li in lights:
        statics.append(WorldObject(new_token(rng), "traffic_light", np.array([li.position[0], li.position[1], 2.6]),
                                   np.array([0.45, 0.45, 5.2]), li.heading, color=(40, 40, 40), static=True))
    statics.extend(place_statics(rng, nodes, roads, forbidden, extent, sw, params.building_density,
                                 params.tree_density, params.cone_groups))

    lanes: Dict[str, Lane] = {}
    for tok, lg in lane_geoms.items():
        lanes[tok] = Lane(tok, lg.line.pts.copy(), lg.width, list(lg.successors), list(lg.predecessors),
                          lg.turn, lg.speed_limit, lg.road)  # type: ignore[arg-type]
    return Town(
        name=name, extent=extent, road_segments=segments, lanes=lanes, ped_crossings=crossings,
        walkways=walkways, stop_lines=stops, traffic_lights=lights, lane_dividers=lane_div,
        road_dividers=road_div, ground=ground, statics=statics, seed=seed,
    )
