# nuScenes-FG foreground definition (FastDriveVLA): humans, vehicles, road,
# traffic signs (with lights) and traffic barriers are foreground; everything
# else (buildings, sky, vegetation, sidewalks, ...) is background (id 0).
#
# Pure-Python mmengine config, read by ``python -m data_tools.build_fg``
# (``--classes-config`` to use another file). Changing the mapping needs no
# code change: add a class to ``classes`` and point categories at it.

# Class ids are the pixel values of the written masks; 0 must be background.
# ``color`` is the RGB palette entry stored in the index metainfo.
classes = [
    dict(id=0, name="background", color=(0, 0, 0)),
    dict(id=1, name="road", color=(128, 64, 128)),
    dict(id=2, name="vehicle", color=(0, 0, 142)),
    dict(id=3, name="human", color=(220, 20, 60)),
    dict(id=4, name="traffic_sign", color=(250, 170, 30)),
    dict(id=5, name="barrier", color=(190, 153, 153)),
]

# nuScenes category-name prefix -> class name. The longest matching prefix
# wins; categories that match nothing (animal, debris, pushable_pullable,
# bicycle_rack, ...) give no prompt.
category_map = {
    "human.pedestrian": "human",
    "vehicle": "vehicle",
    "movable_object.barrier": "barrier",
    "movable_object.trafficcone": "barrier",
}

# Annotations whose nuScenes visibility level (1: 0-40 %, 2: 40-60 %,
# 3: 60-80 %, 4: 80-100 %) is below this are skipped (1 keeps all).
min_visibility = 2

# Road: the map layers projected onto the ground plane z = 0 into the
# camera, within ``max_range`` metres of the ego vehicle.
road = dict(class_name="road", layers=["drivable_area"], max_range=120.0)

# Traffic lights from the map's ``traffic_light`` layer, modelled as upright
# boxes standing on the ground at the light's position: a pole and a housing
# on top. ``height`` (m) is the top of the housing when the record carries
# no pose height ``tz``; each part spans ``z`` (fractions of the height) with
# a ``size_wl`` footprint (m). One part ``dict(size_wl=(w, l), z=(0, 1))``
# models a light as a single box.
traffic_light = dict(
    class_name="traffic_sign",
    height=5.2,
    max_range=80.0,
    parts=[dict(size_wl=(0.14, 0.14), z=(0.0, 0.72)), dict(size_wl=(0.45, 0.45), z=(0.72, 1.0))],
)

# Ground-truth semantic classes of the synthetic world
# (fastdrive.sim.types.SEMANTIC_CLASSES) that each class corresponds to; used
# only to measure mask quality against fastdrive_gt.
synthetic_gt = dict(
    road=["road", "lane_marking", "crossing"],
    vehicle=["car", "truck", "bus", "cyclist"],
    human=["pedestrian"],
    traffic_sign=["traffic_sign", "traffic_light"],
    barrier=["barrier", "traffic_cone"],
)
