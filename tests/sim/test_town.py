"""Map layers of the procedural town: validity, lane graph, raster consistency, statics."""

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Polygon
from shapely.ops import unary_union

from fastdrive.sim._town_statics import footprint
from fastdrive.sim.town import generate_town
from fastdrive.sim.types import LOCATIONS, SEMANTIC_ID

DRIVABLE_IDS = [SEMANTIC_ID["road"], SEMANTIC_ID["lane_marking"], SEMANTIC_ID["crossing"]]


@pytest.fixture(scope="module")
def town():
    return generate_town(LOCATIONS[0], seed=3)


@pytest.fixture(scope="module")
def drivable(town):
    area = unary_union([Polygon(s.polygon) for s in town.road_segments])
    shapely.prepare(area)
    return area


def test_polygons_valid_and_counter_clockwise(town):
    for seg in town.road_segments:
        poly = Polygon(seg.polygon)
        assert poly.is_valid and poly.exterior.is_ccw and poly.area > 10.0
    for layer in (town.walkways, town.ped_crossings, town.stop_lines):
        assert layer
        for p in layer:
            assert Polygon(p).is_valid and Polygon(p).area > 0.1


def test_lane_centrelines_inside_drivable_area(town, drivable):
    inside = drivable.buffer(1e-6)
    for tok, lane in town.lanes.items():
        assert inside.covers(LineString(lane.centerline)), tok


def test_lane_graph_is_closed_and_strongly_connected(town):
    lanes = town.lanes
    for tok, lane in lanes.items():
        assert lane.successors, f"dead end at {tok}"
        for s in lane.successors:
            assert tok in lanes[s].predecessors
            # successors start where the lane ends
            assert np.linalg.norm(lanes[s].centerline[0] - lane.centerline[-1]) < 1e-6

    def reach(start, nxt):
        seen, stack = {start}, [start]
        while stack:
            for m in nxt(stack.pop()):
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return seen

    start = next(iter(lanes))
    assert reach(start, lambda t: lanes[t].successors) == set(lanes)
    assert reach(start, lambda t: lanes[t].predecessors) == set(lanes)


def test_town_has_required_variety(town):
    turns = {lane.turn for lane in town.lanes.values()}
    assert {"left", "right", "straight", None} <= turns
    assert {s.num_lanes for s in town.road_segments if not s.is_intersection} == {2, 4}
    assert any(s.is_intersection for s in town.road_segments)
    radii = []
    for lane in town.lanes.values():
        if lane.turn is None:
            d = np.diff(lane.centerline, axis=0)
            yaw = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
            radii.append(np.abs(yaw[-1] - yaw[0]) + np.abs(np.diff(yaw)).sum())
    assert max(radii) > 0.3, "no curved road"
    kinds = {o.kind for o in town.statics}
    assert {"building", "tree", "traffic_light", "traffic_cone", "barrier", "traffic_sign"} <= kinds
    assert town.traffic_lights and town.lane_dividers and town.road_dividers
    assert sum(o.kind == "traffic_light" for o in town.statics) == len(town.traffic_lights)


def test_ground_raster_agrees_with_polygons(town, drivable):
    g = town.ground
    rng = np.random.default_rng(0)
    x0, y0, x1, y1 = town.extent
    xy = np.stack([rng.uniform(x0, x1, 40000), rng.uniform(y0, y1, 40000)], axis=1)
    cls = g.lookup(xy)

    def classify(geom):
        """(inside, far from the boundary) per point, 'far' meaning more than 1.5 cells away."""
        inner_geom, outer_geom = geom.buffer(-1.5 * g.resolution), geom.buffer(1.5 * g.resolution)
        shapely.prepare(inner_geom)
        shapely.prepare(outer_geom)
        inner = shapely.contains_xy(inner_geom, xy[:, 0], xy[:, 1])
        outer = shapely.contains_xy(outer_geom, xy[:, 0], xy[:, 1])
        return inner, inner | ~outer

    inside, far = classify(drivable)
    assert inside[far].sum() > 2000
    road_cls = np.isin(cls, DRIVABLE_IDS)
    np.testing.assert_array_equal(road_cls[far], inside[far])
    walk = unary_union([Polygon(w) for w in town.walkways])
    in_walk, far_w = classify(walk)
    ok = far & far_w & ~inside
    assert in_walk[ok].sum() > 500
    np.testing.assert_array_equal(cls[ok] == SEMANTIC_ID["sidewalk"], in_walk[ok])
    # whole-raster IoU of drivable cells against the polygons sampled on a coarse grid of cell centres
    step = 8
    ii, jj = np.meshgrid(np.arange(0, g.classes.shape[0], step), np.arange(0, g.classes.shape[1], step), indexing="ij")
    cx = g.origin[0] + (jj + 0.5) * g.resolution
    cy = g.origin[1] + (ii + 0.5) * g.resolution
    a = np.isin(g.classes[ii, jj], DRIVABLE_IDS)
    b = shapely.contains_xy(drivable, cx, cy)
    assert (a & b).sum() / (a | b).sum() > 0.995


def test_markings_and_crossings_painted(town):
    g = town.ground
    # road dividers (solid) are painted as lane_marking along their whole length
    pts = np.concatenate([d for d in town.road_dividers])
    assert np.mean(g.lookup(pts) == SEMANTIC_ID["lane_marking"]) > 0.95
    # dashed lane dividers: partly painted, partly bare road
    dash = g.lookup(np.concatenate(town.lane_dividers))
    assert 0.15 < np.mean(dash == SEMANTIC_ID["lane_marking"]) < 0.7
    for cr in town.ped_crossings:
        poly = Polygon(cr)
        rng = np.random.default_rng(1)
        x0, y0, x1, y1 = poly.bounds
        xy = np.stack([rng.uniform(x0, x1, 800), rng.uniform(y0, y1, 800)], axis=1)
        xy = xy[shapely.contains_xy(poly, xy[:, 0], xy[:, 1])]
        share = np.mean(g.lookup(xy) == SEMANTIC_ID["crossing"])
        assert 0.3 < share < 0.7  # zebra stripes with gaps


def test_statics_placement(town, drivable):
    walk = unary_union([Polygon(w) for w in town.walkways])
    lanes = unary_union([LineString(lane.centerline).buffer(lane.width / 2 - 0.3) for lane in town.lanes.values()])
    for o in town.statics:
        fp = footprint(o.center[0], o.center[1], o.yaw, o.size[0], o.size[1])
        assert o.static
        assert abs(o.center[2] - o.size[2] / 2) < 1e-6 or o.kind in ("traffic_light", "traffic_sign")
        if o.kind in ("building", "tree"):
            assert not fp.intersects(drivable) and not fp.intersects(walk), o.kind
        if o.kind in ("traffic_cone", "barrier"):
            assert drivable.contains(fp) and not fp.intersects(lanes), o.kind


def test_determinism_and_variety():
    a = generate_town(LOCATIONS[1], seed=11, nx=3, ny=3)
    b = generate_town(LOCATIONS[1], seed=11, nx=3, ny=3)
    c = generate_town(LOCATIONS[1], seed=12, nx=3, ny=3)
    assert np.array_equal(a.ground.classes, b.ground.classes)
    assert np.array_equal(a.ground.shade, b.ground.shade)
    assert list(a.lanes) == list(b.lanes)
    for tok in a.lanes:
        assert np.array_equal(a.lanes[tok].centerline, b.lanes[tok].centerline)
    assert [o.token for o in a.statics] == [o.token for o in b.statics]
    assert a.ground.classes.shape != c.ground.classes.shape or not np.array_equal(a.ground.classes, c.ground.classes)
    assert not np.allclose(a.road_segments[0].polygon[:4], c.road_segments[0].polygon[:4])


def test_bad_arguments():
    with pytest.raises(ValueError):
        generate_town("nowhere", 0)
    with pytest.raises(ValueError):
        generate_town(LOCATIONS[0], 0, no_such_param=1)
