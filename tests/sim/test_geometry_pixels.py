"""Geometry agrees with pixels over an exported world (every camera image, every object).

* The devkit's projected 3D box (``get_sample_data`` boxes, ``Box.corners``,
  ``view_points``, hull clipped to the image as in the devkit's
  ``export_2d_annotations_as_json``) covers the object's ground-truth
  instance pixels.
* The map's drivable area (devkit polygons of ``NuScenesMap``), projected
  into each camera on the ground plane, overlaps the rendered road mask
  (road + lane marking + crossing ids) outside pixels occluded by objects.
"""

from __future__ import annotations

import json
from typing import Dict, List, Tuple

import numpy as np
import pytest
from export_world import VERSION, gt_path, load_png, small_world

from fastdrive.sim.types import SEMANTIC_ID

GROUND_IDS = [SEMANTIC_ID[c] for c in ("terrain", "sidewalk", "road", "lane_marking", "crossing")]
ROAD_IDS = [SEMANTIC_ID[c] for c in ("road", "lane_marking", "crossing")]
MAX_GROUND_RANGE = 50.0  # m from the camera: the road comparison stops here
PIXEL_STRIDE = 2  # road comparison on every 2nd row and column


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from nuscenes.nuscenes import NuScenes

    root = small_world(tmp_path_factory)
    nusc = NuScenes(version=VERSION, dataroot=str(root), verbose=False)
    index = json.loads((root / "fastdrive_gt" / "instance" / "index.json").read_text())
    return root, nusc, index


def _camera_tokens(nusc) -> List[str]:
    return [sd["token"] for sd in nusc.sample_data if sd["fileformat"] == "jpg"]


def _hull_pixels(corners: np.ndarray, k: np.ndarray, width: int, height: int) -> np.ndarray:
    """Devkit-style clip-then-hull: corners in front of the camera, projected, convex hull
    intersected with the image; returns a ``(H, W)`` bool mask of pixel centres inside it."""
    from matplotlib.path import Path
    from nuscenes.utils.geometry_utils import view_points
    from shapely.geometry import MultiPoint, box

    front = corners[:, corners[2] > 0]
    mask = np.zeros((height, width), bool)
    if front.shape[1] == 0:
        return mask
    uv = view_points(front, k, normalize=True)[:2].T
    hull = MultiPoint([tuple(p) for p in uv]).convex_hull
    clipped = hull.intersection(box(0, 0, width, height))
    if clipped.is_empty or clipped.area == 0:
        return mask
    x0, y0, x1, y1 = clipped.bounds
    c0, r0 = int(np.floor(x0)), int(np.floor(y0))
    c1, r1 = min(int(np.ceil(x1)) + 1, width), min(int(np.ceil(y1)) + 1, height)
    cols, rows = np.meshgrid(np.arange(c0, c1) + 0.5, np.arange(r0, r1) + 0.5)
    inside = Path(np.asarray(clipped.exterior.coords)).contains_points(
        np.stack([cols.ravel(), rows.ravel()], 1)
    )
    mask[r0:r1, c0:c1] = inside.reshape(rows.shape)
    return mask


def test_projected_boxes_cover_instance_pixels(world):
    from nuscenes.utils.geometry_utils import BoxVisibility

    root, nusc, index = world
    covered = total = 0
    per_object: List[Tuple[int, float]] = []
    for tok in _camera_tokens(nusc):
        sd = nusc.get("sample_data", tok)
        ids = load_png(gt_path(root, "instance", sd["filename"]))
        ann_of_id: Dict[str, int] = {a: i + 1 for i, a in enumerate(index[sd["sample_token"]]) if a}
        # NONE: boxes with no corner inside the image (a bus filling the view) still count
        _, boxes, k = nusc.get_sample_data(tok, box_vis_level=BoxVisibility.NONE)
        boxes = {b.token: b for b in boxes}
        for ann_tok, pix_id in ann_of_id.items():
            obj = ids == pix_id
            n = int(obj.sum())
            if n == 0:
                continue
            assert ann_tok in boxes, "an object with pixels must have a box from get_sample_data"
            hull = _hull_pixels(boxes[ann_tok].corners(), k, sd["width"], sd["height"])
            c = int((obj & hull).sum())
            covered, total = covered + c, total + n
            per_object.append((n, c / n))
    assert len(per_object) >= 20, "the generated set should show enough objects"
    share = covered / total
    big = [f for n, f in per_object if n >= 100]
    print(
        f"box hull coverage: {share:.4f} of {total} px over {len(per_object)} object views; "
        f"worst object (>=100 px): {min(big):.3f}"
    )
    assert share >= 0.95
    assert np.median(big) >= 0.99


def _drivable_polygon(nmap):
    from shapely.ops import unary_union

    rec = nmap.drivable_area[0]
    return unary_union([nmap.extract_polygon(t) for t in rec["polygon_tokens"]])


def _ground_points(nusc, sd: dict, rows: np.ndarray, cols: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Global xy where pixel-centre rays hit z = 0, and the ray's range (inf if it misses)."""
    from pyquaternion import Quaternion

    cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
    pose = nusc.get("ego_pose", sd["ego_pose_token"])
    k_inv = np.linalg.inv(np.array(cs["camera_intrinsic"]))
    pix = np.stack([cols + 0.5, rows + 0.5, np.ones_like(rows, dtype=float)])
    rays = (
        Quaternion(pose["rotation"]).rotation_matrix
        @ Quaternion(cs["rotation"]).rotation_matrix
        @ (k_inv @ pix)
    )
    origin = Quaternion(pose["rotation"]).rotation_matrix @ np.array(cs["translation"]) + np.array(
        pose["translation"]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(rays[2] < -1e-9, -origin[2] / rays[2], np.inf)
    xy = origin[:2, None] + rays[:2] * np.where(np.isfinite(t), t, 0.0)
    dist = np.where(np.isfinite(t), t * np.linalg.norm(rays, axis=0), np.inf)
    return xy, dist


def test_drivable_area_matches_rendered_road(world):
    import shapely
    from nuscenes.map_expansion.map_api import NuScenesMap

    root, nusc, _ = world
    drivable = {}
    inter = union = 0
    per_image = []
    for tok in _camera_tokens(nusc):
        sd = nusc.get("sample_data", tok)
        loc = nusc.get(
            "log", nusc.get("scene", nusc.get("sample", sd["sample_token"])["scene_token"])["log_token"]
        )["location"]
        if loc not in drivable:
            drivable[loc] = _drivable_polygon(NuScenesMap(dataroot=str(root), map_name=loc))
            shapely.prepare(drivable[loc])
        sem = load_png(gt_path(root, "semantic", sd["filename"]))[::PIXEL_STRIDE, ::PIXEL_STRIDE]
        rows, cols = np.indices(sem.shape)
        xy, dist = _ground_points(nusc, sd, rows.ravel() * PIXEL_STRIDE, cols.ravel() * PIXEL_STRIDE)
        valid = np.isin(sem.ravel(), GROUND_IDS) & (dist < MAX_GROUND_RANGE)  # ground seen, not occluded
        on_map = np.zeros(valid.shape, bool)
        on_map[valid] = shapely.contains_xy(drivable[loc], xy[0, valid], xy[1, valid])
        road = np.isin(sem.ravel(), ROAD_IDS) & valid
        i, u = int((on_map & road).sum()), int((on_map | road).sum())
        inter, union = inter + i, union + u
        if u >= 500:
            per_image.append(i / u)
    iou = inter / union
    print(f"drivable-area IoU {iou:.4f} over {len(per_image)} images (min {min(per_image):.3f})")
    assert len(per_image) >= 20
    assert iou >= 0.9
    assert min(per_image) >= 0.8
