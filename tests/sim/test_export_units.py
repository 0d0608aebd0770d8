"""Unit checks of the exporter's building blocks on hand-made inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from fastdrive.sim.frame_sensors import box_hull_polygon, hull_mask, points_in_boxes
from fastdrive.sim.map_expansion import (
    build_map_expansion,
    canvas_edge,
    export_offset,
    lane_arclines,
    rasterize_basemap,
)
from fastdrive.sim.nuscenes_export import attribute_for, make_token, scene_description, visibility_token
from fastdrive.sim.render.toy import toy_town
from fastdrive.sim.splits import split_from_description
from fastdrive.sim.types import EgoState, Frame, SceneLog, WorldObject


@pytest.mark.parametrize(
    "frac, tok",
    [(0.0, "1"), (0.39, "1"), (0.4, "2"), (0.59, "2"), (0.6, "3"), (0.79, "3"), (0.8, "4"), (1.0, "4")],
)
def test_visibility_bins(frac, tok):
    assert visibility_token(frac) == tok


def test_tokens_are_deterministic_32_hex():
    a = make_token(3, "sample", "scene-0000", 1)
    assert a == make_token(3, "sample", "scene-0000", 1) and len(a) == 32 and int(a, 16) >= 0
    assert a != make_token(4, "sample", "scene-0000", 1) and a != make_token(3, "sample", "scene-0000", 2)


def test_lane_arclines_reproduce_the_polyline():
    from nuscenes.map_expansion.arcline_path_utils import discretize_lane

    t = np.linspace(0, np.pi / 2, 40)
    line = np.stack(
        [np.r_[np.linspace(-20, 0, 21)[:-1], 15 * np.sin(t)], np.r_[np.zeros(20), 15 * (1 - np.cos(t))]],
        axis=1,
    )
    paths = lane_arclines(line, (100.0, 50.0))
    assert paths[0]["segment_length"][1] == pytest.approx(20.0, abs=1e-6)  # the straight run is merged
    poses = np.array(discretize_lane(paths, 0.25))[:, :2] - [100.0, 50.0]
    seg = np.diff(line, axis=0)
    # every discretised pose lies on the polyline
    d = [
        np.min(
            np.abs(np.cross(seg, p - line[:-1])) / np.linalg.norm(seg, axis=1)
            + 1e3
            * (
                (np.einsum("ij,ij->i", p - line[:-1], seg) < -1e-6)
                | (np.einsum("ij,ij->i", p - line[1:], seg) > 1e-6)
            )
        )
        for p in poses
    ]
    assert max(d) < 1e-3
    assert np.allclose(poses[-1], line[-1], atol=1e-3)


def test_map_expansion_frame_and_layers():
    town = toy_town()
    dx, dy = export_offset(town)
    assert town.extent[0] + dx >= 0 and town.extent[1] + dy >= 0
    m = build_map_expansion(town, seed=0)
    for layer in (
        "polygon",
        "line",
        "node",
        "drivable_area",
        "road_segment",
        "road_block",
        "lane",
        "ped_crossing",
        "walkway",
        "stop_line",
        "carpark_area",
        "road_divider",
        "lane_divider",
        "traffic_light",
        "lane_connector",
    ):
        assert isinstance(m[layer], list), layer
    assert (
        m["version"] >= "1.3"
        and isinstance(m["arcline_path_3"], dict)
        and isinstance(m["connectivity"], dict)
    )
    xs = np.array([n["x"] for n in m["node"]])
    ys = np.array([n["y"] for n in m["node"]])
    w, h = canvas_edge(town)
    assert xs.min() >= 0 and ys.min() >= 0 and xs.max() <= w and ys.max() <= h
    # the toy road runs along y = 0 (+-7 m): the basemap is set there and not 20 m away
    base = rasterize_basemap(town)
    row = int(round(base.shape[0] - dy / 0.1))
    col = int(round((30.0 + dx) / 0.1))
    assert base[row, col] == 255 and base[row - 200, col] == 0


def test_box_hull_clips_at_the_near_plane():
    k = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    # a 2 m cube straddling the camera plane (z from -1 to 1), centred on the axis
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float).T
    hull = box_hull_polygon(corners, k, near=0.1)
    assert hull is not None and np.abs(hull - 50).max() > 900  # cut at z = 0.1: huge in the image
    mask, (r0, c0) = hull_mask(hull, 100, 100)
    assert mask is not None and mask.all() and mask.shape == (100, 100) and (r0, c0) == (0, 0)
    assert box_hull_polygon(corners - np.array([[0], [0], [5]]), k) is None  # fully behind


def test_points_in_boxes_respects_yaw():
    car = WorldObject("c", "car", np.array([10.0, 0.0, 0.75]), np.array([2.0, 4.0, 1.5]), yaw=np.pi / 2)
    pts = np.array([[10.0, 10.0, 11.5, 10.0], [1.8, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 2.0]])
    assert points_in_boxes(pts, [car]).tolist() == [2]  # (10, 1.8) inside along the length; x=11.5 outside


def test_attributes_and_description():
    ped = WorldObject("p", "pedestrian", np.zeros(3), np.ones(3), 0.0, velocity=np.array([1.0, 0.0]))
    assert attribute_for(ped) == "pedestrian.moving"
    cone = WorldObject("k", "traffic_cone", np.zeros(3), np.ones(3), 0.0)
    assert attribute_for(cone) is None
    parked = WorldObject("v", "car", np.zeros(3), np.ones(3), 0.0, static=True)
    assert attribute_for(parked) == "vehicle.parked"
    frames = [
        Frame(i, EgoState(0, 0, 0, 0), [], command=c) for i, c in enumerate(["left", "left", "straight"])
    ]
    desc = scene_description(
        SceneLog("scene-0001", toy_town(), frames, split="val", events=["turn_left@frame=1"])
    )
    assert split_from_description(desc) == "val" and "commands=leftx2,straightx1" in desc
