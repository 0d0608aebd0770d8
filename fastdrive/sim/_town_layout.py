"""Private: the road network of a procedural town (graph, road geometry, lanes).

The town is a jittered grid of nodes joined by two-way roads. At each node an
axis-aligned square of half-size ``H`` is the intersection; roads leave it
along the axes, run straight for ``STRAIGHT`` metres (room for the zebra
crossing and the stop line) and then bend (S-curves between jittered nodes,
optional bulges) towards the next node. Traffic is right-hand. Every lane is
an offset of its road's centreline, so it lies inside the road polygon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from fastdrive.sim._road_geometry import Polyline, bezier, min_radius, offset, resample

STRAIGHT = 14.0  # straight run (m) at each road end
CROSS_D0, CROSS_D1 = 1.0, 5.0  # zebra crossing, distance past the square edge (m)
STOP_D0, STOP_D1 = 6.0, 6.5  # stop line, distance past the square edge (m)

DIRS: Dict[str, np.ndarray] = {
    "E": np.array([1.0, 0.0]),
    "N": np.array([0.0, 1.0]),
    "W": np.array([-1.0, 0.0]),
    "S": np.array([0.0, -1.0]),
}


@dataclass
class LayoutParams:
    """Knobs of the procedural layout (train and val towns draw them differently)."""

    nx: int = 3  # grid nodes along x
    ny: int = 3  # grid nodes along y
    spacing: float = 105.0  # distance between grid nodes (m)
    jitter: float = 7.0  # random node displacement (m): S-curves between nodes
    p_four_lane: float = 0.45  # share of 4-lane roads (else 2-lane)
    p_curved: float = 0.5  # share of roads with a bulge
    curve_amp: float = 11.0  # bulge amplitude (m), reduced where curvature gets too tight
    p_parking: float = 0.35  # share of roads with 2.5 m parking shoulders (else 0.8 m)
    drop_edges: int = 1  # interior grid edges removed (T-junctions, straight-through nodes)
    lane_width: float = 3.5  # m
    sidewalk_width: float = 3.0  # m
    p_lights: float = 0.85  # share of 3-/4-way nodes with traffic lights
    building_density: float = 1.0  # multiplies building placement attempts
    tree_density: float = 1.0  # multiplies tree placement attempts
    cone_groups: int = 3  # roadworks groups (cones + barrier) on road shoulders


@dataclass
class Road:
    """A two-way road between nodes ``a`` and ``b``; ``centre`` runs square edge to square edge."""

    idx: int
    a: int
    b: int
    dir_a: str  # arm direction at node a (pointing away from a)
    dir_b: str
    nl: int  # lanes per direction
    lane_w: float
    shoulder: float
    parking: bool
    centre: Polyline = None  # type: ignore[assignment]
    fwd: List[str] = field(default_factory=list)  # lane tokens a->b, inner first
    bwd: List[str] = field(default_factory=list)  # lane tokens b->a, inner first

    @property
    def half_width(self) -> float:
        return self.nl * self.lane_w + self.shoulder


@dataclass
class Node:
    """A grid node; ``arms`` maps a direction key to ``(road idx, 'a'|'b')``."""

    idx: int
    pos: np.ndarray
    arms: Dict[str, Tuple[int, str]] = field(default_factory=dict)
    half: float = 0.0  # intersection half-size H
    has_crossings: bool = False
    has_lights: bool = False


@dataclass
class LaneGeom:
    token: str
    line: Polyline
    width: float
    road: int  # -1 for connectors
    node: int  # node at the lane's end (road lanes) or the connector's node
    turn: Optional[str] = None
    speed_limit: float = 10.0
    successors: List[str] = field(default_factory=list)
    predecessors: List[str] = field(default_factory=list)


def _pick_edges(p: LayoutParams, rng: np.random.Generator) -> List[Tuple[int, int, str]]:
    """Grid edges ``(a, b, dir at a)``, with a few interior ones dropped (degree stays >= 2)."""
    nid = lambda i, j: j * p.nx + i  # noqa: E731
    edges = []
    for j in range(p.ny):
        for i in range(p.nx):
            if i + 1 < p.nx:
                edges.append((nid(i, j), nid(i + 1, j), "E"))
            if j + 1 < p.ny:
                edges.append((nid(i, j), nid(i, j + 1), "N"))
    deg = np.zeros(p.nx * p.ny, dtype=int)
    for a, b, _ in edges:
        deg[a] += 1
        deg[b] += 1
    order = rng.permutation(len(edges))
    dropped = 0
    keep = [True] * len(edges)
    for k in order:
        if dropped >= p.drop_edges:
            break
        a, b, _ = edges[k]
        if deg[a] > 2 and deg[b] > 2:
            keep[k] = False
            if _connected(len(deg), [e for e, kk in zip(edges, keep) if kk]):
                deg[a] -= 1
                deg[b] -= 1
                dropped += 1
            else:
                keep[k] = True
    return [e for e, kk in zip(edges, keep) if kk]


def _connected(n: int, edges: List[Tuple[int, int, str]]) -> bool:
    adj: List[List[int]] = [[] for _ in range(n)]
    for a, b, _ in edges:
        adj[a].append(b)
        adj[b].append(a)
    seen, stack = {0}, [0]
    while stack:
        for m in adj[stack.pop()]:
            if m not in seen:
                seen.add(m)
                stack.append(m)
    return len(seen) == n


def _centreline(pa: np.ndarray, pb: np.ndarray, ha: float, hb: float, u: np.ndarray, amp: float) -> np.ndarray:
    """Road centreline from a's square edge to b's; ``u`` is the axis direction a->b."""
    p0, q1 = pa + ha * u, pa + (ha + STRAIGHT) * u
    p3, q2 = pb - hb * u, pb - (hb + STRAIGHT) * u
    straight0 = np.linspace(p0, q1, 8)
    straight1 = np.linspace(q2, p3, 8)
    dist = float(np.linalg.norm(q2 - q1))
    if amp == 0.0:
        mid = bezier(q1, q1 + dist / 3 * u, q2 - dist / 3 * u, q2, 60)
    else:
        t = (q2 - q1) / dist
        perp = np.array([-t[1], t[0]])
        m = 0.5 * (q1 + q2) + amp * perp
        k = dist / 4
        mid = np.concatenate(
            [bezier(q1, q1 + k * u, m - k * t, m, 40), bezier(m, m + k * t, q2 - k * u, q2, 40)[1:]]
        )
    return np.concatenate([straight0, mid[1:-1], straight1])


def build_network(p: LayoutParams, rng: np.random.Generator) -> Tuple[List[Node], List[Road]]:
    """Nodes (with intersection sizes) and roads (with centrelines) of one town."""
    nodes = []
    for j in range(p.ny):
        for i in range(p.nx):
            pos = np.array([i * p.spacing, j * p.spacing]) + rng.uniform(-p.jitter, p.jitter, 2)
            nodes.append(Node(idx=len(nodes), pos=pos))
    roads = []
    for a, b, d in _pick_edges(p, rng):
        nl = 2 if rng.random() < p.p_four_lane else 1
        parking = bool(rng.random() < p.p_parking)
        road = Road(
            idx=len(roads), a=a, b=b, dir_a=d, dir_b="W" if d == "E" else "S", nl=nl,
            lane_w=p.lane_width, shoulder=2.5 if parking else 0.8, parking=parking,
        )
        nodes[a].arms[road.dir_a] = (road.idx, "a")
        nodes[b].arms[road.dir_b] = (road.idx, "b")
        roads.append(road)
    for n in nodes:
        n.half = max(roads[r].half_width for r, _ in n.arms.values()) + 2.5
        n.has_crossings = len(n.arms) >= 3
        n.has_lights = n.has_crossings and bool(rng.random() < p.p_lights)
    for road in roads:
        u = DIRS[road.dir_a]
        amp = 0.0
        if rng.random() < p.p_curved:
            amp = float(rng.uniform(0.5, 1.0) * p.curve_amp * rng.choice([-1.0, 1.0]))
        na, nb = nodes[road.a], nodes[road.b]
        for _ in range(6):
            pts = resample(_centreline(na.pos, nb.pos, na.half, nb.half, u, amp), 1.0)
            if min_radius(pts) > road.half_width + 6.0:
                break
            amp *= 0.6
        road.centre = Polyline(pts)
    return nodes, roads


def _road_lanes(road: Road, nodes: List[Node]) -> List[LaneGeom]:
    c = road.centre
    rad = min_radius(c.pts)
    limit = float(min(13.9 if road.nl == 2 else 11.1, np.sqrt(3.0 * rad)))
    out = []
    for k in range(road.nl):
        o = -(k + 0.5) * road.lane_w
        tf, tb = f"lane_r{road.idx}_f{k}", f"lane_r{road.idx}_b{k}"
        road.fwd.append(tf)
        road.bwd.append(tb)
        out.append(LaneGeom(tf, Polyline(offset(c.pts, o)), road.lane_w, road.idx, road.b, speed_limit=limit))
        out.append(LaneGeom(tb, Polyline(offset(c.pts[::-1], o)), road.lane_w, road.idx, road.a, speed_limit=limit))
    return out


def _connector_line(p0: np.ndarray, d0: np.ndarray, p3: np.ndarray, d3: np.ndarray, straight: bool) -> np.ndarray:
    dist = float(np.linalg.norm(p3 - p0))
    n = max(8, int(np.ceil(dist / 0.5)))
    if straight:
        return bezier(p0, p0 + dist / 3 * d0, p3 - dist / 3 * d3, p3, n)
    # corner where the two tangent lines meet: p0 + t d0 == p3 - u d3
    t, u = np.linalg.solve(np.stack([d0, d3], axis=1), p3 - p0)
    return bezier(p0, p0 + 0.55 * t * d0, p3 - 0.55 * u * d3, p3, n)


def _turn(d_in: np.ndarray, d_out: np.ndarray) -> str:
    if float(d_in @ d_out) > 0.5:
        return "straight"
    return "left" if d_in[0] * d_out[1] - d_in[1] * d_out[0] > 0 else "right"


def _node_links(n: Node, roads: List[Road]) -> List[Tuple[str, str, str, np.ndarray]]:
    """Connections ``(in lane, out lane, turn, travel direction in)`` through node ``n``.

    Left turns leave from the inner lane, right turns from the outer one,
    straight connectors keep or shift by one lane. Then every incoming lane
    gets at least one successor and every outgoing lane at least one
    predecessor, so the lane graph has no dead ends and stays connected.
    """
    keys = [k for k in DIRS if k in n.arms]
    ins_of = {k: (roads[n.arms[k][0]].fwd if n.arms[k][1] == "b" else roads[n.arms[k][0]].bwd) for k in keys}
    outs_of = {k: (roads[n.arms[k][0]].fwd if n.arms[k][1] == "a" else roads[n.arms[k][0]].bwd) for k in keys}
    links: List[Tuple[str, str, str, np.ndarray]] = []
    have = set()

    def add(k_in: str, i: int, k_out: str, j: int) -> None:
        key = (ins_of[k_in][i], outs_of[k_out][j])
        if key not in have:
            have.add(key)
            links.append((key[0], key[1], _turn(-DIRS[k_in], DIRS[k_out]), -DIRS[k_in]))

    for k_in in keys:
        n_in = len(ins_of[k_in])
        for k_out in keys:
            if k_out == k_in:
                continue
            n_out = len(outs_of[k_out])
            turn = _turn(-DIRS[k_in], DIRS[k_out])
            if turn == "straight":
                for i in range(n_in):
                    for j in range(n_out):
                        if abs(i - j) <= 1:
                            add(k_in, i, k_out, j)
            elif turn == "left":
                add(k_in, 0, k_out, 0)
            else:
                add(k_in, n_in - 1, k_out, n_out - 1)
    for k_in in keys:  # every incoming lane continues somewhere
        for i, tok in enumerate(ins_of[k_in]):
            if not any(lk[0] == tok for lk in links):
                for k_out in keys:
                    if k_out != k_in:
                        add(k_in, i, k_out, min(i, len(outs_of[k_out]) - 1))
    for k_out in keys:  # every outgoing lane is reachable
        for j, tok in enumerate(outs_of[k_out]):
            if not any(lk[1] == tok for lk in links):
                for k_in in keys:
                    if k_in != k_out:
                        add(k_in, min(j, len(ins_of[k_in]) - 1), k_out, j)
    return links


def build_lanes(nodes: List[Node], roads: List[Road]) -> Dict[str, LaneGeom]:
    """Road lanes plus intersection connectors, with successors/predecessors filled."""
    lanes: Dict[str, LaneGeom] = {}
    for road in roads:
        for lg in _road_lanes(road, nodes):
            lanes[lg.token] = lg
    for n in nodes:
        for in_tok, out_tok, turn, d_in in _node_links(n, roads):
            li, lo = lanes[in_tok], lanes[out_tok]
            p0, p3 = li.line.pts[-1], lo.line.pts[0]
            d_out = lo.line.pts[1] - lo.line.pts[0]
            d_out = d_out / np.linalg.norm(d_out)
            line = Polyline(_connector_line(p0, d_in, p3, d_out, turn == "straight"))
            rad = min_radius(line.pts)
            limit = float(min(li.speed_limit, np.sqrt(2.5 * rad))) if turn != "straight" else li.speed_limit
            tok = f"conn_n{n.idx}_{in_tok}_{out_tok}"
            lanes[tok] = LaneGeom(tok, line, li.width, -1, n.idx, turn=turn, speed_limit=max(limit, 2.5))
            li.successors.append(tok)
            lanes[tok].predecessors.append(li.token)
            lanes[tok].successors.append(out_tok)
            lo.predecessors.append(tok)
    return lanes


def arm_s(road: Road, end: str, d0: float, d1: float) -> Tuple[float, float]:
    """Centreline arc range for distances ``[d0, d1]`` past the square edge at ``end``."""
    if end == "a":
        return d0, d1
    return road.centre.length - d1, road.centre.length - d0
