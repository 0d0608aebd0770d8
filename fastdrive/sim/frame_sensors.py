"""All sensors of one keyframe: six camera renders, a lidar scan and annotation statistics.

:func:`render_frame` is the unit of work of the dataset writer (one call per
keyframe, in a worker process). Besides the pixels it measures, per
annotated object:

* the *visible fraction*: over the six cameras, the share of the object's
  projected 3D-box hull (clipped to the image) that is not covered by a
  nearer object in the rendered instance / depth maps (nuScenes'
  visibility is "the fraction of the annotation visible in all 6 images");
* the number of lidar points inside its box (``num_lidar_pts``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from fastdrive.sim.nuscenes_export import FrameStats, PlannedAnnotation
from fastdrive.sim.nuscenes_schema import derive_seed
from fastdrive.sim.rig import CameraSpec, LidarSpec, Rig, ego_to_camera, global_to_ego, sensor_pose_global
from fastdrive.sim.types import FOREGROUND_IDS, EgoState, Frame, Town, WorldObject

NEAR_PLANE = 0.1  # m; box edges are clipped here before projection
_BOX_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7))
_FG_LUT = np.zeros(256, np.uint8)
_FG_LUT[list(FOREGROUND_IDS)] = 255


@dataclass
class CameraFrame:
    """The products of one camera.

    Attributes:
        name: channel, e.g. ``CAM_FRONT``.
        rgb: ``(H, W, 3)`` uint8.
        semantic: ``(H, W)`` uint8 semantic ids.
        foreground: ``(H, W)`` uint8, 255 where ``semantic`` is a foreground id, else 0.
        annotation_ids: ``(H, W)`` uint16, ``k + 1`` where annotation ``k`` of
            the frame is the visible surface, 0 elsewhere (None unless requested).
    """

    name: str
    rgb: np.ndarray
    semantic: np.ndarray
    foreground: np.ndarray
    annotation_ids: Optional[np.ndarray] = None


@dataclass
class FrameRender:
    """One keyframe: cameras in rig order, the lidar scan ``(N, 5)`` float32 (sensor frame), stats."""

    cameras: List[CameraFrame]
    lidar: np.ndarray
    stats: FrameStats


def box_hull_polygon(
    corners_cam: np.ndarray, intrinsic: np.ndarray, near: float = NEAR_PLANE
) -> Optional[np.ndarray]:
    """Image-plane convex hull of a 3D box.

    Box edges crossing the plane ``z = near`` are cut there (so boxes
    straddling the camera plane project correctly), the remaining corners are
    projected with the pinhole ``intrinsic`` and their convex hull returned.

    Args:
        corners_cam: ``(3, 8)`` box corners in the camera frame (m), ``Box.corners()`` order.
        intrinsic: ``(3, 3)`` camera matrix.

    Returns:
        ``(M, 2)`` hull vertices in continuous pixel coordinates, or None if the
        box is entirely behind the near plane.
    """
    import cv2

    c = np.asarray(corners_cam, dtype=float)
    front = c[2] >= near
    if not front.any():
        return None
    pts = [c[:, i] for i in range(8) if front[i]]
    for a, b in _BOX_EDGES:
        if front[a] != front[b]:
            t = (near - c[2, a]) / (c[2, b] - c[2, a])
            pts.append(c[:, a] + t * (c[:, b] - c[:, a]))
    p = np.asarray(pts).T
    uvw = np.asarray(intrinsic, dtype=float) @ p
    uv = (uvw[:2] / uvw[2:3]).T.astype(np.float32)
    return cv2.convexHull(uv).reshape(-1, 2).astype(np.float64)


def hull_mask(hull: np.ndarray, width: int, height: int) -> Tuple[Optional[np.ndarray], Tuple[int, int]]:
    """Pixels whose centres lie inside ``hull`` (continuous coords), within the image.

    Returns:
        ``(mask, (row0, col0))``: a bool crop of the image covering the hull's
        bounding box clipped to the image, and its top-left pixel; ``(None, (0, 0))``
        when the hull misses the image.
    """
    import cv2

    c0 = max(int(np.floor(hull[:, 0].min())), 0)
    c1 = min(int(np.ceil(hull[:, 0].max())) + 1, width)
    r0 = max(int(np.floor(hull[:, 1].min())), 0)
    r1 = min(int(np.ceil(hull[:, 1].max())) + 1, height)
    if c1 <= c0 or r1 <= r0:
        return None, (0, 0)
    mask = np.zeros((r1 - r0, c1 - c0), np.uint8)
    shifted = np.clip(
        hull - 0.5 - np.array([c0, r0]), -1e6, 1e6
    )  # pixel centre (j+.5, i+.5) -> cv2 integer grid
    cv2.fillPoly(mask, [np.round(shifted * 4).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=2)
    return mask.astype(bool), (r0, c0)


def occlusion_counts(
    instance: np.ndarray,
    depth: np.ndarray,
    camera: CameraSpec,
    ego: EgoState,
    anns: Sequence[PlannedAnnotation],
) -> Tuple[np.ndarray, np.ndarray]:
    """Per annotation: hull pixels in this image and those hidden by a nearer object.

    A hull pixel is hidden when another object's surface is rendered there
    closer than the annotated box centre (depth along the optical axis).

    Returns:
        ``hull_px`` ``(K,)`` int64 and ``hidden_px`` ``(K,)`` int64.
    """
    hull_px = np.zeros(len(anns), np.int64)
    hidden_px = np.zeros(len(anns), np.int64)
    for k, ann in enumerate(anns):
        corners = ego_to_camera(global_to_ego(ann.obj.corners(), ego), camera)
        hull = box_hull_polygon(corners, camera.intrinsic)
        if hull is None:
            continue
        mask, (r0, c0) = hull_mask(hull, camera.width, camera.height)
        if mask is None:
            continue
        h, w = mask.shape
        window = (slice(r0, r0 + h), slice(c0, c0 + w))
        inst = instance[window]
        centre_depth = float(
            ego_to_camera(global_to_ego(np.asarray(ann.obj.center, float), ego), camera)[2, 0]
        )
        hidden = (inst >= 0) & (inst != ann.index) & (depth[window] < centre_depth)
        hull_px[k] = int(mask.sum())
        hidden_px[k] = int((mask & hidden).sum())
    return hull_px, hidden_px


def points_in_boxes(points_global: np.ndarray, objects: Sequence[WorldObject]) -> np.ndarray:
    """Number of points ``(3, N)`` (global) inside each object's box -> ``(K,)`` int64."""
    counts = np.zeros(len(objects), np.int64)
    pts = np.asarray(points_global, dtype=float).reshape(3, -1)
    for k, obj in enumerate(objects):
        d = pts - np.asarray(obj.center, dtype=float).reshape(3, 1)
        c, s = np.cos(obj.yaw), np.sin(obj.yaw)
        x = c * d[0] + s * d[1]
        y = -s * d[0] + c * d[1]
        w, l, h = (float(v) for v in obj.size)
        counts[k] = int(
            np.count_nonzero((np.abs(x) <= l / 2) & (np.abs(y) <= w / 2) & (np.abs(d[2]) <= h / 2))
        )
    return counts


def lidar_to_global(points: np.ndarray, lidar: LidarSpec, ego: EgoState) -> np.ndarray:
    """``(N, >=3)`` lidar-frame points -> ``(3, N)`` global points."""
    m = sensor_pose_global(lidar.translation, lidar.rotation, ego)
    xyz = np.asarray(points, dtype=float)[:, :3].T
    return m[:3, :3] @ xyz + m[:3, 3:4]


def lidar_sweep_and_counts(
    town: Town, frame: Frame, lidar: LidarSpec, objects: Sequence[WorldObject], seed: int
) -> Tuple[np.ndarray, np.ndarray]:
    """One ``LIDAR_TOP`` sweep of a keyframe and the points inside each object's box.

    Args:
        town: the scene's town.
        frame: the keyframe (ego pose, dynamic objects).
        lidar: the sensor.
        objects: the K boxes to count points in (e.g. the annotated objects).
        seed: seed of the sweep's noise.

    Returns:
        ``scan`` ``(N, 5)`` float32 (lidar frame, ``raycast_lidar`` layout) and
        ``counts`` ``(K,)`` int64, the ``num_lidar_pts`` of each box.
    """
    from fastdrive.sim.lidar import raycast_lidar

    scan = np.asarray(raycast_lidar(town, frame.objects, frame.ego, lidar, seed=seed), np.float32)
    scan = scan.reshape(-1, 5)
    return scan, points_in_boxes(lidar_to_global(scan, lidar, frame.ego), objects)


def render_frame(
    town: Town,
    frame: Frame,
    rig: Rig,
    anns: Sequence[PlannedAnnotation],
    seed: int,
    key: Tuple[object, ...],
    annotation_ids: bool = False,
) -> FrameRender:
    """Render the six cameras and the lidar of one keyframe and measure the annotations.

    Args:
        town: the scene's town.
        frame: the keyframe (ego pose, objects, lighting).
        rig: the sensor rig.
        anns: the frame's planned annotations (``index`` = renderer instance id).
        seed: world seed; ``key`` (e.g. ``(scene_name, frame_idx)``) makes the
            per-image noise seeds distinct and deterministic.
        annotation_ids: also return per-camera annotation-id maps.
    """
    from fastdrive.sim.render import render_camera

    n_inst = len(frame.objects) + len(town.statics)
    lut = np.zeros(n_inst + 1, np.uint16)
    for k, ann in enumerate(anns):
        lut[ann.index + 1] = k + 1
    ann_slots = np.array([a.index + 1 for a in anns], dtype=np.int64)
    hull_total = np.zeros(len(anns), np.int64)
    hidden_total = np.zeros(len(anns), np.int64)
    visible_total = np.zeros(len(anns), np.int64)
    cams: List[CameraFrame] = []
    for cam in rig.cameras:
        img = render_camera(
            town,
            frame.objects,
            frame.ego,
            cam,
            lighting=frame.lighting or None,
            noise_seed=derive_seed(seed, *key, cam.name),
            lights=frame.lights or None,
        )
        hull_px, hidden_px = occlusion_counts(img.instance, img.depth, cam, frame.ego, anns)
        hull_total += hull_px
        hidden_total += hidden_px
        per_instance = np.bincount(img.instance.ravel() + 1, minlength=n_inst + 1)
        visible_total += per_instance[ann_slots]
        ids = lut[img.instance + 1] if annotation_ids else None
        cams.append(CameraFrame(cam.name, img.rgb, img.semantic, _FG_LUT[img.semantic], ids))
    scan, n_pts = lidar_sweep_and_counts(
        town, frame, rig.lidar, [a.obj for a in anns], seed=derive_seed(seed, *key, rig.lidar.name)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(hull_total > 0, (hull_total - hidden_total) / np.maximum(hull_total, 1), 0.0)
    frac = np.where(visible_total > 0, frac, 0.0)
    stats = FrameStats([float(v) for v in frac], [int(v) for v in n_pts], [int(v) for v in visible_total])
    return FrameRender(cams, scan, stats)
