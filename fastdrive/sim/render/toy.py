"""A small hand-made street scene for tests, benchmarks and previews.

Not the procedural generator (``fastdrive.sim.town`` / ``scenario``): just a
straight 4-lane road along +x with sidewalks, a zebra crossing, a cross
street, buildings, trees, a sign, a traffic light and a few agents, so the
renderer and the lidar can be exercised on their own.
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np

from fastdrive.sim.types import SEMANTIC_ID, EgoState, GroundRaster, RoadSegment, Town, WorldObject

ROAD_HALF_WIDTH = 7.0  # m, 4 lanes of 3.5 m
SIDEWALK_WIDTH = 3.0
CROSSING_X = (20.0, 24.0)
CROSS_STREET_X = (60.0, 74.0)


def toy_ground(extent: Tuple[float, float, float, float] = (-120.0, -80.0, 160.0, 80.0),
               res: float = 0.1) -> GroundRaster:
    """Ground raster of the toy street (classes only, no shade)."""
    xmin, ymin, xmax, ymax = extent
    w, h = int(round((xmax - xmin) / res)), int(round((ymax - ymin) / res))
    x = xmin + (np.arange(w) + 0.5) * res
    y = ymin + (np.arange(h) + 0.5) * res
    xx, yy = np.meshgrid(x, y)
    sid = SEMANTIC_ID
    cls = np.full((h, w), sid["terrain"], np.uint8)
    main = np.abs(yy) < ROAD_HALF_WIDTH
    cross = (xx >= CROSS_STREET_X[0]) & (xx <= CROSS_STREET_X[1])
    walk_main = (np.abs(yy) >= ROAD_HALF_WIDTH) & (np.abs(yy) < ROAD_HALF_WIDTH + SIDEWALK_WIDTH)
    walk_cross = ((xx >= CROSS_STREET_X[0] - SIDEWALK_WIDTH) & (xx < CROSS_STREET_X[0])) | (
        (xx > CROSS_STREET_X[1]) & (xx <= CROSS_STREET_X[1] + SIDEWALK_WIDTH)
    )
    cls[walk_main | (walk_cross & ~main)] = sid["sidewalk"]
    cls[main | cross] = sid["road"]
    outside_junction = (xx < CROSS_STREET_X[0] - 2) | (xx > CROSS_STREET_X[1] + 2)
    # lane markings on the main road: double centre line, dashed lane lines, edge lines
    mark = (np.abs(np.abs(yy) - 0.15) < 0.075) & outside_junction
    dashed = (np.abs(np.abs(yy) - 3.5) < 0.075) & (np.mod(xx, 9.0) < 3.0) & outside_junction
    edge = (np.abs(np.abs(yy) - (ROAD_HALF_WIDTH - 0.3)) < 0.075) & outside_junction
    cls[mark | dashed | edge] = sid["lane_marking"]
    zebra = (xx >= CROSSING_X[0]) & (xx <= CROSSING_X[1]) & main & (np.mod(yy, 1.0) < 0.5)
    cls[zebra] = sid["crossing"]
    return GroundRaster(classes=cls, origin=(xmin, ymin), resolution=res)


def _obj(token: str, kind: str, x: float, y: float, wlh: Tuple[float, float, float], yaw: float,
         color: Tuple[int, int, int], static: bool = False) -> WorldObject:
    return WorldObject(token=token, kind=kind, center=np.array([x, y, wlh[2] / 2.0]),
                       size=np.array(wlh, dtype=float), yaw=yaw, color=color, static=static)


def toy_statics() -> List[WorldObject]:
    """Buildings, trees, a sign and a traffic light along the toy street."""
    out: List[WorldObject] = []
    rng = np.random.default_rng(3)
    for side in (1, -1):
        x = -110.0
        while x < 150.0:
            length = float(rng.uniform(12, 25))
            if x + length > CROSS_STREET_X[0] - 4 and x < CROSS_STREET_X[1] + 4:
                x = CROSS_STREET_X[1] + 5
                continue
            depth, height = float(rng.uniform(10, 16)), float(rng.uniform(8, 25))
            col = tuple(int(c) for c in rng.integers(110, 220, 3))
            y = side * (ROAD_HALF_WIDTH + SIDEWALK_WIDTH + 1.0 + depth / 2)
            out.append(_obj(f"bld{len(out)}", "building", x + length / 2, y, (depth, length, height), 0.0,
                            col, True))
            x += length + float(rng.uniform(1, 4))
        for tx in np.arange(-100.0, 150.0, 14.0):
            if CROSS_STREET_X[0] - 4 < tx < CROSS_STREET_X[1] + 4:
                continue
            h = float(rng.uniform(5, 8))
            ty = side * (ROAD_HALF_WIDTH + 1.5)
            green = (50, 120, 40)
            out.append(_obj(f"tree{len(out)}", "tree", float(tx), ty, (2.6, 2.6, h), 0.0, green, True))
    kerb = -(ROAD_HALF_WIDTH + 0.8)
    out.append(_obj("sign0", "traffic_sign", 15.0, kerb, (0.8, 0.08, 2.6), np.pi, (20, 60, 200), True))
    out.append(_obj("light0", "traffic_light", CROSS_STREET_X[0] - 1.0, kerb, (0.4, 0.4, 4.5), np.pi,
                    (220, 30, 30), True))
    return out


def toy_objects() -> List[WorldObject]:
    """Agents and movable objects of the toy scene (global frame)."""
    return [
        _obj("car0", "car", 14.0, -1.75, (1.9, 4.5, 1.6), 0.0, (180, 30, 30)),
        _obj("car1", "car", 35.0, 1.75, (1.9, 4.6, 1.5), np.pi, (30, 60, 170)),
        _obj("bus0", "bus", 45.0, -5.25, (2.6, 12.0, 3.3), 0.0, (220, 180, 40)),
        _obj("truck0", "truck", -18.0, -5.25, (2.5, 7.5, 3.2), 0.0, (240, 240, 240)),
        _obj("car2", "car", -12.0, 5.25, (1.8, 4.3, 1.5), np.pi, (40, 40, 45)),
        _obj("ped0", "pedestrian", 22.0, 2.0, (0.6, 0.7, 1.75), -np.pi / 2, (200, 40, 120)),
        _obj("ped1", "pedestrian", 21.5, -4.0, (0.6, 0.7, 1.7), np.pi / 2, (30, 150, 60)),
        _obj("ped2", "pedestrian", 8.0, 8.0, (0.6, 0.7, 1.8), 0.0, (240, 200, 40)),
        _obj("cyc0", "cyclist", 28.0, -6.0, (0.6, 1.8, 1.7), 0.0, (20, 90, 200)),
        _obj("cone0", "traffic_cone", 10.0, -6.6, (0.4, 0.4, 0.7), 0.0, (245, 115, 20)),
        _obj("cone1", "traffic_cone", 11.5, -6.6, (0.4, 0.4, 0.7), 0.0, (245, 115, 20)),
        _obj("bar0", "barrier", 5.0, 6.6, (0.4, 2.0, 1.0), 0.0, (210, 50, 40)),
        _obj("car3", "car", -6.0, -1.75, (1.9, 4.5, 1.6), 0.0, (200, 200, 205)),
    ]


def toy_town() -> Town:
    """The toy town (one road segment per street, no lanes)."""
    r, (c0, c1) = ROAD_HALF_WIDTH, CROSS_STREET_X
    main = np.array([[-120, -r], [160, -r], [160, r], [-120, r]])
    cross = np.array([[c0, -80], [c1, -80], [c1, 80], [c0, 80]])
    return Town(
        name="singapore-onenorth",
        extent=(-120.0, -80.0, 160.0, 80.0),
        road_segments=[RoadSegment("seg0", main.astype(float), num_lanes=4),
                       RoadSegment("seg1", cross.astype(float), num_lanes=4)],
        lanes={}, ped_crossings=[], walkways=[], stop_lines=[], traffic_lights=[],
        lane_dividers=[], road_dividers=[], ground=toy_ground(), statics=toy_statics(),
    )


def toy_ego() -> EgoState:
    """Ego in the right-hand lane of the main road, heading +x."""
    return EgoState(x=0.0, y=-1.75, yaw=0.0, speed=8.0)


TOY_LIGHTING = {
    "sun_dir": (0.4, -0.3, 0.85),
    "ambient": 0.45,
    "sky_top": (70, 120, 200),
    "sky_horizon": (185, 200, 225),
}
