"""A :class:`Town` as a nuScenes map expansion (``maps/expansion/<location>.json``) and basemap.

The JSON follows what ``nuscenes.map_expansion.map_api.NuScenesMap`` reads
(map version ``'1.3'``): the geometric layers ``node`` / ``line`` /
``polygon``, every non-geometric layer list (possibly empty), the
``lane_connector`` list, the ``arcline_path_3`` and ``connectivity`` dicts and
``canvas_edge``.

Coordinates: the devkit's ``MapMask`` puts the map origin at the bottom-left
pixel of the basemap, so map (and therefore nuScenes global) coordinates must
be non-negative. Every town is exported shifted by :func:`export_offset`
(a pure translation); the exporter applies the same shift to ego poses and
annotations, so everything in one dataset is consistent.
"""

from __future__ import annotations

import hashlib
import math
from typing import Dict, List, Sequence, Tuple

import numpy as np
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.ops import unary_union

from fastdrive.sim.types import Town

MAP_VERSION = "1.3"
BASEMAP_RESOLUTION = 0.1  # m per basemap pixel (the devkit's MapMask default)
CANVAS_PAD = 10.0  # m of empty map around the town extent
_GEOM_DECIMALS = 3  # mm precision of exported node coordinates

POLYGON_LAYERS: Tuple[str, ...] = (
    "drivable_area",
    "road_segment",
    "road_block",
    "lane",
    "ped_crossing",
    "walkway",
    "stop_line",
    "carpark_area",
)
LINE_LAYERS: Tuple[str, ...] = ("road_divider", "lane_divider", "traffic_light")


def export_offset(town: Town) -> Tuple[float, float]:
    """Translation ``(dx, dy)`` (m) added to town coordinates on export.

    Chosen so that the town's extent starts at ``CANVAS_PAD`` metres from the
    map origin (integer metres, so it is exact in float arithmetic).
    """
    xmin, ymin = float(town.extent[0]), float(town.extent[1])
    return float(CANVAS_PAD - math.floor(xmin)), float(CANVAS_PAD - math.floor(ymin))


def canvas_edge(town: Town) -> Tuple[float, float]:
    """Map size ``(width, height)`` in metres (the ``canvas_edge`` of the JSON)."""
    dx, dy = export_offset(town)
    return float(math.ceil(town.extent[2] + dx + CANVAS_PAD)), float(
        math.ceil(town.extent[3] + dy + CANVAS_PAD)
    )


def drivable_geometry(town: Town) -> List[Polygon]:
    """Union of all road segments, as a list of (possibly holed) polygons, town frame."""
    union = unary_union([Polygon(seg.polygon).buffer(0) for seg in town.road_segments])
    if isinstance(union, Polygon):
        return [union] if not union.is_empty else []
    if isinstance(union, MultiPolygon):
        return list(union.geoms)
    return [g for g in getattr(union, "geoms", []) if isinstance(g, Polygon)]


class _Builder:
    """Accumulates geometric records (nodes, lines, polygons) with stable tokens."""

    def __init__(self, namespace: str, offset: Tuple[float, float]):
        self.namespace = namespace
        self.offset = np.asarray(offset, dtype=float)
        self.nodes: List[dict] = []
        self.lines: List[dict] = []
        self.polygons: List[dict] = []
        self._counter: Dict[str, int] = {}

    def token(self, kind: str, key: str = "") -> str:
        """A 32-hex token from the namespace, the record kind and a key (or a counter)."""
        if not key:
            n = self._counter.get(kind, 0)
            self._counter[kind] = n + 1
            key = f"#{n}"
        return hashlib.md5(f"{self.namespace}|{kind}|{key}".encode()).hexdigest()

    def _node_tokens(self, pts: np.ndarray) -> List[str]:
        pts = np.round(np.asarray(pts, dtype=float).reshape(-1, 2) + self.offset, _GEOM_DECIMALS)
        out = []
        for x, y in pts:
            tok = self.token("node")
            self.nodes.append({"token": tok, "x": float(x), "y": float(y)})
            out.append(tok)
        return out

    def line(self, pts: np.ndarray) -> str:
        """Add a polyline ``(P, 2)`` (town frame); returns its line token."""
        tok = self.token("line")
        self.lines.append({"token": tok, "node_tokens": self._node_tokens(pts)})
        return tok

    def polygon(self, exterior: np.ndarray, holes: Sequence[np.ndarray] = ()) -> str:
        """Add a polygon (exterior ``(K, 2)``, not closed, town frame); returns its token."""
        tok = self.token("polygon")
        self.polygons.append(
            {
                "token": tok,
                "exterior_node_tokens": self._node_tokens(exterior),
                "holes": [{"node_tokens": self._node_tokens(h)} for h in holes],
            }
        )
        return tok

    def shapely_polygon(self, poly: Polygon) -> str:
        """Add a shapely polygon (closing vertex dropped, holes kept)."""
        ext = np.asarray(poly.exterior.coords)[:-1]
        holes = [np.asarray(r.coords)[:-1] for r in poly.interiors]
        return self.polygon(ext, holes)


def _lane_polygon(centerline: np.ndarray, width: float) -> Polygon:
    """Flat-capped strip of ``width`` around a centre line (town frame)."""
    strip = LineString(centerline).buffer(width / 2.0, cap_style=2, join_style=2, mitre_limit=3.0)
    if isinstance(strip, MultiPolygon):
        strip = max(strip.geoms, key=lambda g: g.area)
    return Polygon(strip.exterior).simplify(0.02)


def lane_arclines(centerline: np.ndarray, offset: Tuple[float, float]) -> List[dict]:
    """A centre line ``(P, 2)`` as nuScenes arcline paths (exported frame).

    Each run of collinear polyline pieces becomes one straight path (shape
    ``'LSL'`` with ``segment_length = [0, L, 0]``), so the devkit's
    ``discretize_lane`` reproduces the polyline exactly.
    """
    pts = np.asarray(centerline, dtype=float).reshape(-1, 2) + np.asarray(offset, dtype=float)
    d = np.diff(pts, axis=0)
    length = np.linalg.norm(d, axis=1)
    keep = length > 1e-6
    pts = np.vstack([pts[:1], pts[1:][keep]])
    d, length = d[keep], length[keep]
    if len(d) == 0:
        return []
    yaw = np.arctan2(d[:, 1], d[:, 0])
    paths: List[dict] = []
    start = 0
    for i in range(1, len(d) + 1):
        if i < len(d) and abs(math.remainder(yaw[i] - yaw[start], 2 * math.pi)) < 1e-4:
            continue
        p0, p1 = pts[start], pts[i]
        seg_len = float(np.linalg.norm(p1 - p0))
        heading = float(math.atan2(p1[1] - p0[1], p1[0] - p0[0]))
        paths.append(
            {
                "start_pose": [
                    round(float(p0[0]), _GEOM_DECIMALS),
                    round(float(p0[1]), _GEOM_DECIMALS),
                    heading,
                ],
                "end_pose": [
                    round(float(p1[0]), _GEOM_DECIMALS),
                    round(float(p1[1]), _GEOM_DECIMALS),
                    heading,
                ],
                "shape": "LSL",
                "radius": 999.0,
                "segment_length": [0.0, seg_len, 0.0],
            }
        )
        start = i
    return paths


def _stop_line_links(
    town: Town, crossing_polys: List[Polygon], crossing_tokens: List[str], light_tokens: List[str]
) -> List[Tuple[str, List[str], List[str]]]:
    """Per stop line: (type, ped_crossing_tokens, traffic_light_tokens)."""
    out = []
    for sl in town.stop_lines:
        sl = np.asarray(sl, dtype=float)
        lights = [
            light_tokens[i]
            for i, tl in enumerate(town.traffic_lights)
            if np.asarray(tl.stop_line).shape == sl.shape and np.allclose(tl.stop_line, sl)
        ]
        near = Polygon(sl).buffer(3.0)
        peds = [crossing_tokens[i] for i, cp in enumerate(crossing_polys) if cp.intersects(near)]
        out.append(("TRAFFIC_LIGHT" if lights else "PED_CROSSING", peds, lights))
    return out


def build_map_expansion(town: Town, seed: int) -> dict:
    """The map-expansion JSON object of ``town`` (exported frame, see :func:`export_offset`).

    Args:
        town: the town (one per nuScenes location name).
        seed: world seed, mixed into every token so different worlds differ.

    Returns:
        A JSON-serialisable dict for ``maps/expansion/<town.name>.json``.
    """
    off = export_offset(town)
    b = _Builder(f"{seed}|{town.name}", off)
    layers: Dict[str, list] = {name: [] for name in POLYGON_LAYERS + LINE_LAYERS}
    layers["lane_connector"] = []

    drivable_token = b.token("drivable_area", "0")
    seg_tokens = []
    for seg in town.road_segments:
        tok = b.token("road_segment", seg.token)
        seg_tokens.append(tok)
        layers["road_segment"].append(
            {
                "token": tok,
                "polygon_token": b.polygon(seg.polygon),
                "is_intersection": bool(seg.is_intersection),
                "drivable_area_token": drivable_token,
            }
        )
    layers["drivable_area"].append(
        {
            "token": drivable_token,
            "polygon_tokens": [b.shapely_polygon(p) for p in drivable_geometry(town)],
        }
    )

    arclines: Dict[str, List[dict]] = {}
    connectivity: Dict[str, dict] = {}
    for lane_id in sorted(town.lanes):
        lane = town.lanes[lane_id]
        poly = _lane_polygon(lane.centerline, lane.width)
        rec = {"token": lane.token, "polygon_token": b.shapely_polygon(poly)}
        if lane.turn is None:
            cl = np.asarray(lane.centerline, dtype=float)
            rec.update(
                {
                    "lane_type": "CAR",
                    "from_edge_line_token": b.line(_edge(cl[0], cl[1], lane.width)),
                    "to_edge_line_token": b.line(_edge(cl[-1], cl[-2], lane.width)),
                    "left_lane_divider_segments": [],
                    "right_lane_divider_segments": [],
                }
            )
            layers["lane"].append(rec)
        else:
            layers["lane_connector"].append(rec)
        arclines[lane.token] = lane_arclines(lane.centerline, off)
        connectivity[lane.token] = {"incoming": list(lane.predecessors), "outgoing": list(lane.successors)}

    crossing_polys = [Polygon(c) for c in town.ped_crossings]
    crossing_tokens = []
    for i, c in enumerate(town.ped_crossings):
        tok = b.token("ped_crossing", str(i))
        crossing_tokens.append(tok)
        layers["ped_crossing"].append({"token": tok, "polygon_token": b.polygon(c), "road_segment_token": ""})
    for i, w in enumerate(town.walkways):
        layers["walkway"].append({"token": b.token("walkway", str(i)), "polygon_token": b.polygon(w)})

    light_tokens = [b.token("traffic_light", tl.token) for tl in town.traffic_lights]
    for tok, tl in zip(light_tokens, town.traffic_lights):
        p = np.asarray(tl.position, dtype=float)
        head = np.array([math.cos(tl.heading), math.sin(tl.heading)])
        pose = {
            "tx": float(p[0] + off[0]),
            "ty": float(p[1] + off[1]),
            "tz": float(p[2]),
            "rx": 0.0,
            "ry": 0.0,
            "rz": float(tl.heading),
        }
        layers["traffic_light"].append(
            {
                "token": tok,
                "line_token": b.line(np.stack([p[:2], p[:2] + 0.5 * head])),
                "traffic_light_type": "VERTICAL",
                "from_road_block_token": "",
                "pose": pose,
                "items": [
                    {
                        "color": c,
                        "shape": "CIRCLE",
                        "to_road_block_tokens": [],
                        "rel_pos": {"tx": 0.0, "ty": 0.0, "tz": 0.3 * k, "rx": 0.0, "ry": 0.0, "rz": 0.0},
                    }
                    for k, c in enumerate(("GREEN", "YELLOW", "RED"))
                ],
            }
        )
    for i, (sl, (kind, peds, lights)) in enumerate(
        zip(town.stop_lines, _stop_line_links(town, crossing_polys, crossing_tokens, light_tokens))
    ):
        layers["stop_line"].append(
            {
                "token": b.token("stop_line", str(i)),
                "polygon_token": b.polygon(sl),
                "stop_line_type": kind,
                "ped_crossing_tokens": peds,
                "traffic_light_tokens": lights,
                "road_block_token": "",
            }
        )
    for i, rd in enumerate(town.road_dividers):
        layers["road_divider"].append(
            {"token": b.token("road_divider", str(i)), "line_token": b.line(rd), "road_segment_token": ""}
        )
    for i, ld in enumerate(town.lane_dividers):
        line_tok = b.line(ld)
        nodes = b.lines[-1]["node_tokens"]
        layers["lane_divider"].append(
            {
                "token": b.token("lane_divider", str(i)),
                "line_token": line_tok,
                "lane_divider_segments": [
                    {"node_token": n, "segment_type": "DOUBLE_DASHED_WHITE"} for n in nodes
                ],
            }
        )

    out = {
        "version": MAP_VERSION,
        "canvas_edge": list(canvas_edge(town)),
        "node": b.nodes,
        "line": b.lines,
        "polygon": b.polygons,
        "arcline_path_3": arclines,
        "connectivity": connectivity,
    }
    out.update(layers)
    return out


def _edge(p: np.ndarray, q: np.ndarray, width: float) -> np.ndarray:
    """``(2, 2)`` segment across a lane at ``p`` (perpendicular to ``q - p``)."""
    d = np.asarray(q, dtype=float) - np.asarray(p, dtype=float)
    n = np.array([-d[1], d[0]]) / max(float(np.linalg.norm(d)), 1e-9)
    return np.stack([p + n * width / 2.0, p - n * width / 2.0])


def rasterize_basemap(town: Town, resolution: float = BASEMAP_RESOLUTION) -> np.ndarray:
    """The ``semantic_prior`` basemap of the ``map`` table.

    Returns ``(H, W)`` uint8: 255 on the drivable area and walkways, else 0.

    Pixel ``(row, col)`` covers global ``x = col * res``, ``y = (H - row) * res``
    in the exported frame, matching ``nuscenes.utils.map_mask.MapMask``.
    """
    import cv2

    width_m, height_m = canvas_edge(town)
    w, h = int(round(width_m / resolution)), int(round(height_m / resolution))
    img = np.zeros((h, w), np.uint8)
    off = np.asarray(export_offset(town))
    scale = 4  # cv2 sub-pixel shift bits = 2

    def px(pts: np.ndarray) -> np.ndarray:
        p = np.asarray(pts, dtype=float).reshape(-1, 2) + off
        uv = np.stack([p[:, 0] / resolution, h - p[:, 1] / resolution], axis=1)
        return np.round(uv * scale).astype(np.int32)

    polys = drivable_geometry(town)
    cv2.fillPoly(img, [px(np.asarray(p.exterior.coords)) for p in polys], 255, lineType=cv2.LINE_8, shift=2)
    holes = [px(np.asarray(r.coords)) for p in polys for r in p.interiors]
    if holes:
        cv2.fillPoly(img, holes, 0, lineType=cv2.LINE_8, shift=2)
    if town.walkways:
        cv2.fillPoly(img, [px(wk) for wk in town.walkways], 255, lineType=cv2.LINE_8, shift=2)
    return img
