"""Ego and agent behaviour, checked on the logged keyframes of a generated world."""

import numpy as np
import pytest
from shapely.geometry import Point, Polygon
from shapely.ops import unary_union

from fastdrive.sim._town_statics import footprint
from fastdrive.sim.ego import EGO_SIZE, REAR_AXLE_TO_CENTER
from fastdrive.sim.scenario import generate_world

ATTRS = {
    "car": {"vehicle.moving", "vehicle.stopped", "vehicle.parked"},
    "truck": {"vehicle.moving", "vehicle.stopped", "vehicle.parked"},
    "bus": {"vehicle.moving", "vehicle.stopped", "vehicle.parked"},
    "cyclist": {"cycle.with_rider"},
    "pedestrian": {"pedestrian.moving", "pedestrian.standing"},
}


@pytest.fixture(scope="module")
def world():
    return generate_world(4, seed=21, samples_per_scene=40)  # the default world size


def ego_footprint(e):
    cx, cy = e.x + REAR_AXLE_TO_CENTER * np.cos(e.yaw), e.y + REAR_AXLE_TO_CENTER * np.sin(e.yaw)
    return footprint(cx, cy, e.yaw, EGO_SIZE[0], EGO_SIZE[1])


def obj_footprint(o):
    return footprint(o.center[0], o.center[1], o.yaw, o.size[0], o.size[1])


def events(scene, name):
    return [int(e.split("=")[1]) for e in scene.events if e.startswith(name + "@")]


def wrap(a):
    return float(np.arctan2(np.sin(a), np.cos(a)))


def test_world_contains_stops_and_turns(world):
    names = {e.split("@")[0] for sc in world for e in sc.events}
    assert {"stop_for_lead", "stop_for_pedestrian"} <= names
    assert names & {"turn_left", "turn_right"}
    for sc in world:
        speeds = [f.ego.speed for f in sc.frames]
        assert max(speeds) > 3.0  # every ego actually drives


def test_ego_on_drivable_area_and_never_overlaps(world):
    for sc in world:
        drivable = unary_union([Polygon(s.polygon) for s in sc.town.road_segments]).buffer(1e-6)
        for f in sc.frames:
            assert drivable.contains(Point(f.ego.x, f.ego.y)), sc.name
            ego = ego_footprint(f.ego)
            for o in f.objects:
                assert not ego.intersects(obj_footprint(o)), (sc.name, o.kind)
            vehicles = [obj_footprint(o) for o in f.objects if o.kind != "pedestrian"]
            for i in range(len(vehicles)):
                for j in range(i + 1, len(vehicles)):
                    assert vehicles[i].intersection(vehicles[j]).area < 0.05, sc.name


def test_stops_behind_stopped_lead(world):
    found = 0
    for sc in world:
        for k in events(sc, "stop_for_lead"):
            f = sc.frames[k]
            assert f.ego.speed < 0.5
            ego = ego_footprint(f.ego)
            c, s = np.cos(f.ego.yaw), np.sin(f.ego.yaw)
            ahead = []
            for o in f.objects:
                d = o.center[:2] - np.array([f.ego.x, f.ego.y])
                if o.kind != "pedestrian" and d @ [c, s] > 0 and ego.distance(obj_footprint(o)) < 10.0:
                    ahead.append((ego.distance(obj_footprint(o)), o))
            assert ahead, f"{sc.name} frame {k}: no vehicle ahead"
            gap, lead = min(ahead, key=lambda a: a[0])
            assert 0.5 < gap < 8.0  # stopped with a gap
            assert np.linalg.norm(lead.velocity) < 1.5  # behind a stopped or crawling lead
            found += 1
    assert found


def test_stops_before_occupied_crossing(world):
    found = 0
    for sc in world:
        crossings = [Polygon(c) for c in sc.town.ped_crossings]
        for k in events(sc, "stop_for_pedestrian"):
            f = sc.frames[k]
            assert f.ego.speed < 0.5
            ego = ego_footprint(f.ego)
            occupied = [c for c in crossings if any(
                o.kind == "pedestrian" and c.buffer(1.0).contains(Point(*o.center[:2])) for o in f.objects)]
            near = [c for c in occupied if c.distance(ego) < 12.0]
            assert near, f"{sc.name} frame {k}: no occupied crossing ahead"
            for c in near:
                assert not ego.intersects(c)
            found += 1
    assert found


def test_turns_follow_commands(world):
    checked = 0
    for sc in world:
        for name, sign in (("turn_left", 1.0), ("turn_right", -1.0)):
            for k in events(sc, name):
                assert sc.frames[max(k - 1, 0)].command == name.split("_")[1]
                yaw0 = sc.frames[max(k - 1, 0)].ego.yaw
                dyaws = [wrap(f.ego.yaw - yaw0) for f in sc.frames[k:]]
                big = [d for d in dyaws if abs(d) > 0.4]
                if big:  # the first clear heading change has the commanded sign
                    assert sign * big[0] > 0, (sc.name, name, big[0])
                    checked += 1
                else:
                    assert len(dyaws) < 12, (sc.name, name, "turn did not happen")
        for k in events(sc, "go_straight"):
            assert sc.frames[max(k - 1, 0)].command == "straight"
    assert checked


def test_logged_states_are_consistent(world):
    for sc in world:
        ts = [f.timestamp for f in sc.frames]
        assert all(b - a == 500_000 for a, b in zip(ts, ts[1:]))
        light = sc.frames[0].lighting
        assert abs(np.linalg.norm(light["sun_dir"]) - 1.0) < 1e-6 and 0 < light["ambient"] < 1
        for a, b in zip(sc.frames, sc.frames[1:]):
            dist = np.hypot(b.ego.x - a.ego.x, b.ego.y - a.ego.y)
            assert abs(dist / 0.5 - 0.5 * (a.ego.speed + b.ego.speed)) < 1.0
            assert b.command in ("left", "right", "straight")
            prev = {o.token: o for o in a.objects}
            for o in b.objects:
                assert o.attribute in ATTRS[o.kind]
                if o.token in prev:
                    assert np.array_equal(prev[o.token].size, o.size)
                    moved = np.linalg.norm(o.center[:2] - prev[o.token].center[:2]) / 0.5
                    mean_v = 0.5 * (np.linalg.norm(o.velocity) + np.linalg.norm(prev[o.token].velocity))
                    if o.kind != "pedestrian":
                        assert abs(moved - mean_v) < 1.5
        kinds = {o.kind for f in sc.frames for o in f.objects}
        assert {"car", "pedestrian"} <= kinds
        for o in sc.frames[0].objects:
            if o.kind == "car":
                assert 1.6 < o.size[0] < 2.1 and 3.9 < o.size[1] < 5.0
            if o.kind == "pedestrian":
                assert o.size[0] < 0.9 and 1.5 < o.size[2] < 2.0


def test_agents_respect_red_lights(world):
    """No vehicle crosses a stop line whose light has been red for the 3 s before."""
    crossings = 0
    for sc in world:
        specs = []
        for li in sc.town.traffic_lights:
            poly = Polygon(li.stop_line)
            c = np.array(poly.centroid.coords[0])
            d = np.array([np.cos(li.heading + np.pi), np.sin(li.heading + np.pi)])  # travel direction
            n = np.array([-d[1], d[0]])
            specs.append((li.token, c, d, n, np.abs((np.asarray(li.stop_line) - c) @ n).max()))
        for k in range(len(sc.frames) - 1):
            before = {o.token: o for o in sc.frames[k].objects if o.kind in ("car", "truck", "bus", "cyclist")}
            for o in sc.frames[k + 1].objects:
                p = before.get(o.token)
                if p is None:
                    continue
                for tok, c, d, n, half in specs:
                    if abs(wrap(p.yaw - np.arctan2(d[1], d[0]))) > 0.5 or abs((p.center[:2] - c) @ n) > half + 0.5:
                        continue
                    if (c - p.center[:2]) @ d - p.size[1] / 2 > 0 >= (c - o.center[:2]) @ d - o.size[1] / 2:
                        crossings += 1
                        states = [sc.frames[j].lights[tok] for j in range(max(0, k - 6), k + 1)]
                        assert not all(s == "red" for s in states), (sc.name, k, o.kind)
    assert crossings > 0
