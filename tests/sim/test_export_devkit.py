"""The unmodified nuscenes-devkit reads an exported synthetic world.

NuScenes tables and token links, get_sample_data with boxes and intrinsics,
render_sample_data, NuScenesMap (get_map_mask, render_map_in_image, lanes),
ego poses on the drivable area, splits and the ground-truth masks beside it.
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from export_world import SAMPLES_PER_SCENE, VERSION, NUM_SCENES, gt_path, load_png, small_world  # noqa: E402

from fastdrive.sim.nuscenes_export import TABLES  # noqa: E402
from fastdrive.sim.types import FOREGROUND_IDS, LOCATIONS, SEMANTIC_CLASSES  # noqa: E402

CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT")


@pytest.fixture(scope="session")
def root(tmp_path_factory):
    return small_world(tmp_path_factory)


@pytest.fixture(scope="session")
def nusc(root):
    from nuscenes.nuscenes import NuScenes

    return NuScenes(version=VERSION, dataroot=str(root), verbose=False)


@pytest.fixture(scope="session")
def maps(root, nusc):
    from nuscenes.map_expansion.map_api import NuScenesMap

    locations = sorted({log["location"] for log in nusc.log})
    return {loc: NuScenesMap(dataroot=str(root), map_name=loc) for loc in locations}


def _walk(nusc, table: str, first: str):
    out, tok = [], first
    while tok:
        rec = nusc.get(table, tok)
        out.append(rec)
        tok = rec["next"]
    return out


def test_tables_and_links(root, nusc):
    for name in TABLES:
        assert (root / VERSION / f"{name}.json").is_file(), name
    assert len(nusc.scene) == NUM_SCENES
    for scene in nusc.scene:
        samples = _walk(nusc, "sample", scene["first_sample_token"])
        assert len(samples) == scene["nbr_samples"] == SAMPLES_PER_SCENE
        assert samples[-1]["token"] == scene["last_sample_token"] and samples[0]["prev"] == ""
        assert all(b["timestamp"] - a["timestamp"] == 500_000 for a, b in zip(samples, samples[1:]))
        for ch in CAMERAS + ("LIDAR_TOP",):
            chain = _walk(nusc, "sample_data", samples[0]["data"][ch])
            assert [sd["sample_token"] for sd in chain] == [s["token"] for s in samples]
            assert all(sd["is_key_frame"] for sd in chain)
    assert nusc.log and all(log["location"] in LOCATIONS for log in nusc.log)
    covered = {t for m in nusc.map for t in m["log_tokens"]}
    assert covered == {log["token"] for log in nusc.log}
    assert all((root / m["filename"]).is_file() for m in nusc.map)
    assert len(nusc.sample_annotation) > 0
    for inst in nusc.instance:
        anns = _walk(nusc, "sample_annotation", inst["first_annotation_token"])
        assert len(anns) == inst["nbr_annotations"] and anns[-1]["token"] == inst["last_annotation_token"]
        assert len({a["sample_token"] for a in anns}) == len(anns)
    cats = {c["name"] for c in nusc.category}
    assert {nusc.get("category", i["category_token"])["name"] for i in nusc.instance} <= cats
    assert {a["visibility_token"] for a in nusc.sample_annotation} <= {"1", "2", "3", "4"}
    assert any(a["num_lidar_pts"] > 0 for a in nusc.sample_annotation)


def test_sample_data_files(root, nusc):
    from nuscenes.utils.data_classes import LidarPointCloud
    from PIL import Image

    for sd in nusc.sample_data:
        path = root / sd["filename"]
        assert path.is_file()
        if sd["fileformat"] == "jpg":
            with Image.open(path) as im:
                assert im.size == (sd["width"], sd["height"]) == (640, 360)
    lidar_sd = [sd for sd in nusc.sample_data if sd["fileformat"] == "pcd"]
    assert len(lidar_sd) == NUM_SCENES * SAMPLES_PER_SCENE
    pc = LidarPointCloud.from_file(str(root / lidar_sd[0]["filename"]))
    assert pc.points.shape[0] == 4 and pc.points.shape[1] > 1000
    ranges = np.linalg.norm(pc.points[:3], axis=0)
    assert ranges.max() <= 75.0 and np.median(ranges) > 2.0


def test_get_sample_data_boxes_and_intrinsics(nusc):
    from nuscenes.utils.geometry_utils import BoxVisibility

    n_boxes = 0
    for sample in nusc.sample:
        for ch in CAMERAS:
            path, boxes, k = nusc.get_sample_data(sample["data"][ch], box_vis_level=BoxVisibility.ANY)
            assert k.shape == (3, 3) and k[0, 0] > 0 and abs(k[2, 2] - 1) < 1e-9
            for box in boxes:
                assert box.center[2] > -5.0  # camera frame: in front (or straddling)
            n_boxes += len(boxes)
    assert n_boxes > 0


def test_render_sample_data(nusc, tmp_path):
    out = tmp_path / "cam.png"
    nusc.render_sample_data(nusc.sample[1]["data"]["CAM_FRONT"], out_path=str(out), verbose=False)
    assert out.stat().st_size > 10_000


def test_ego_poses_on_drivable_area(nusc, maps):
    from nuscenes.map_expansion.utils import get_egoposes_on_drivable_ratio

    for scene in nusc.scene:
        loc = nusc.get("log", scene["log_token"])["location"]
        assert get_egoposes_on_drivable_ratio(nusc, maps[loc], scene["token"]) == 1.0
        # the basemap of the map table agrees
        log = nusc.get("log", scene["log_token"])
        mask = nusc.get("map", log["map_token"])["mask"]
        pose = nusc.get(
            "ego_pose",
            nusc.get("sample_data", nusc.get("sample", scene["first_sample_token"])["data"]["LIDAR_TOP"])[
                "ego_pose_token"
            ],
        )
        assert mask.is_on_mask(pose["translation"][0], pose["translation"][1])


def test_map_mask_and_lanes(nusc, maps):
    from nuscenes.map_expansion import arcline_path_utils

    scene = nusc.scene[0]
    nmap = maps[nusc.get("log", scene["log_token"])["location"]]
    pose = nusc.get(
        "ego_pose",
        nusc.get("sample_data", nusc.get("sample", scene["first_sample_token"])["data"]["LIDAR_TOP"])[
            "ego_pose_token"
        ],
    )
    x, y = pose["translation"][:2]
    masks = nmap.get_map_mask(
        (x, y, 60.0, 60.0), 0.0, ["drivable_area", "lane", "walkway"], canvas_size=(300, 300)
    )
    assert masks.shape == (3, 300, 300)
    assert masks[0][150, 150] == 1  # the ego stands on the drivable area
    assert 0.05 < masks[0].mean() < 0.95 and masks[2].any()
    lanes, drivable = masks[1].astype(bool), masks[0].astype(bool)
    assert lanes.any() and (lanes & ~drivable).sum() <= 0.02 * lanes.sum()  # lanes lie on the drivable area
    lane = nmap.get_closest_lane(x, y, radius=5.0)
    assert lane
    poses = np.array(arcline_path_utils.discretize_lane(nmap.get_arcline_path(lane), 0.5))
    assert np.min(np.hypot(poses[:, 0] - x, poses[:, 1] - y)) < 3.0
    for tok in nmap.connectivity:
        for nxt in nmap.get_outgoing_lane_ids(tok):
            assert nxt in nmap.arcline_path_3


def _shapely2_polygon_patch(polygon, **kwargs):
    """descartes.PolygonPatch for shapely 2 (descartes 1.1.0 indexes np.asarray(ring),
    which shapely 2 no longer supports: nutonomy/nuscenes-devkit#1180)."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    verts, codes = [], []
    for geom in getattr(polygon, "geoms", [polygon]):
        for ring in [geom.exterior, *geom.interiors]:
            xy = np.asarray(ring.coords)[:, :2]
            verts.append(xy)
            codes += [Path.MOVETO] + [Path.LINETO] * (len(xy) - 2) + [Path.CLOSEPOLY]
    return PathPatch(Path(np.concatenate(verts), codes), **kwargs)


def test_render_map_in_image(nusc, maps, tmp_path, monkeypatch):
    import descartes
    from shapely.geometry import Polygon

    try:  # the devkit's pinned descartes fails on any shapely-2 polygon, ours or nuScenes'
        descartes.PolygonPatch(Polygon([(0, 0), (1, 0), (1, 1)]))
    except IndexError:
        monkeypatch.setattr(descartes, "PolygonPatch", _shapely2_polygon_patch)
    scene = nusc.scene[0]
    nmap = maps[nusc.get("log", scene["log_token"])["location"]]
    out = tmp_path / "map_in_image.png"
    _, ax = nmap.render_map_in_image(
        nusc,
        scene["first_sample_token"],
        camera_channel="CAM_FRONT",
        layer_names=["drivable_area", "road_segment", "ped_crossing", "walkway"],
        out_path=str(out),
        verbose=False,
    )
    assert len(ax.patches) > 0 and out.stat().st_size > 10_000


def test_ground_truth_masks(root, nusc):
    classes = json.loads((root / "fastdrive_gt" / "semantic_classes.json").read_text())
    assert [c["name"] for c in classes["classes"]] == list(SEMANTIC_CLASSES)
    assert sorted(classes["foreground_ids"]) == sorted(FOREGROUND_IDS)
    cams = [sd for sd in nusc.sample_data if sd["fileformat"] == "jpg"]
    assert len(cams) == 6 * NUM_SCENES * SAMPLES_PER_SCENE
    fg_share = []
    for sd in cams:
        sem = load_png(gt_path(root, "semantic", sd["filename"]))
        fg = load_png(gt_path(root, "fg", sd["filename"]))
        assert sem.shape == fg.shape == (sd["height"], sd["width"]) and sem.dtype == fg.dtype == np.uint8
        assert sem.max() < len(SEMANTIC_CLASSES)
        assert np.array_equal(fg, np.where(np.isin(sem, FOREGROUND_IDS), 255, 0).astype(np.uint8))
        fg_share.append((fg > 0).mean())
    assert 0.05 < float(np.mean(fg_share)) < 0.95


def test_splits(root, nusc):
    from nuscenes.utils.splits import get_scenes_of_split

    from fastdrive.sim.splits import create_splits_scenes, split_from_description

    splits = create_splits_scenes(str(root), VERSION)
    assert sorted(splits["train"] + splits["val"]) == sorted(s["name"] for s in nusc.scene)
    for scene in nusc.scene:
        tag = split_from_description(scene["description"])
        assert scene["name"] in splits[tag]
    assert splits["val"] and get_scenes_of_split("fastdrive_val", nusc) == splits["val"]
    (root / VERSION / "splits.json").rename(root / VERSION / "splits.json.bak")
    try:  # the scene descriptions alone give the same splits
        assert create_splits_scenes(str(root), VERSION) == splits
    finally:
        (root / VERSION / "splits.json.bak").rename(root / VERSION / "splits.json")


def test_ego_states_beside_the_tables(root, nusc):
    from fastdrive.sim.types import COMMANDS

    states = json.loads((root / "fastdrive_gt" / "ego_states.json").read_text())
    assert set(states) == {s["token"] for s in nusc.sample}
    for scene in nusc.scene:
        samples = _walk(nusc, "sample", scene["first_sample_token"])
        cmds = [states[s["token"]]["command"] for s in samples]
        assert set(cmds) <= set(COMMANDS)
        runs = []
        for c in cmds:
            if runs and runs[-1][0] == c:
                runs[-1][1] += 1
            else:
                runs.append([c, 1])
        assert "commands=" + ",".join(f"{c}x{n}" for c, n in runs) in scene["description"]
        assert [states[s["token"]]["timestamp"] for s in samples] == [s["timestamp"] for s in samples]
