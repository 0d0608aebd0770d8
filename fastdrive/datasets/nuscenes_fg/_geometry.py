"""Camera geometry for prompts: frames, near-plane clipping, hulls, ground polygons.

Conventions are nuScenes': points are ``(3, N)`` columns, global frame ->
ego frame -> camera frame exactly as ``NuScenes.get_sample_data`` and
``NuScenesMapExplorer.render_map_in_image`` chain them, and projection is
the devkit's ``view_points(points, intrinsic, normalize=True)``. Image
coordinates are pixels, x right, y down; the canvas is ``[0, W] x [0, H]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence

import numpy as np
import shapely
from nuscenes.utils.geometry_utils import view_points
from pyquaternion import Quaternion
from shapely.geometry import Polygon
from shapely.geometry import box as shapely_box

# Edges of a box in ``Box.corners()`` order (front face 0-3, back face 4-7).
BOX_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7))

# Near plane (m) in front of the camera: geometry behind it is cut away.
NEAR_PLANE = 0.1


@dataclass(frozen=True)
class CameraModel:
    """A calibrated camera at one timestamp.

    Attributes:
        intrinsic: ``(3, 3)`` camera matrix (pixels).
        width, height: image size in pixels.
        ego_translation: ``(3,)`` ego position in the global frame (m).
        ego_rotation: ego orientation (global <- ego).
        cam_translation: ``(3,)`` camera position in the ego frame (m).
        cam_rotation: camera orientation (ego <- camera).
    """

    intrinsic: np.ndarray
    width: int
    height: int
    ego_translation: np.ndarray
    ego_rotation: Quaternion
    cam_translation: np.ndarray
    cam_rotation: Quaternion
    _ego_rot: np.ndarray = field(init=False, repr=False, compare=False)
    _cam_rot: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ego_rot", self.ego_rotation.rotation_matrix)
        object.__setattr__(self, "_cam_rot", self.cam_rotation.rotation_matrix)

    def global_to_camera(self, points: np.ndarray) -> np.ndarray:
        """``(3, N)`` global points -> ``(3, N)`` camera-frame points (z = depth, m)."""
        pts = points - self.ego_translation.reshape(3, 1)
        pts = self._ego_rot.T @ pts
        pts = pts - self.cam_translation.reshape(3, 1)
        return self._cam_rot.T @ pts

    def depth_plane_on_ground(self) -> np.ndarray:
        """``(3,)`` coefficients ``(a, b, c)``: camera depth of ground point (x, y, 0) = ``a x + b y + c``.

        Used to cut the ground at the near plane (a half-plane on the ground).
        """
        rot = self._ego_rot @ self._cam_rot  # global <- camera
        axis = rot[:, 2]  # optical axis in the global frame
        centre = self.ego_translation + self._ego_rot @ self.cam_translation
        return np.array([axis[0], axis[1], -float(axis @ centre)])

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """``(3, N)`` camera-frame points (z > 0) -> ``(2, N)`` pixels, via the devkit's ``view_points``."""
        return view_points(points_cam, self.intrinsic, normalize=True)[:2]


def clip_box_to_near_plane(corners: np.ndarray, near: float = NEAR_PLANE) -> np.ndarray:
    """The vertices of a box's part in front of the near plane.

    Corners behind the plane are dropped (as the devkit's 2D export does) and,
    unlike it, every box edge that crosses the plane contributes its crossing
    point, so a box reaching behind the camera keeps its true visible extent.

    Args:
        corners: ``(3, 8)`` camera-frame corners in ``Box.corners()`` order.
        near: near-plane depth in metres.

    Returns:
        ``(3, M)`` points, ``M = 0`` when the box is entirely behind the plane.
    """
    z = corners[2]
    front = z >= near
    pts = [corners[:, front]]
    for i, j in BOX_EDGES:
        if front[i] != front[j]:
            t = (near - z[i]) / (z[j] - z[i])
            pts.append((corners[:, i] + t * (corners[:, j] - corners[:, i])).reshape(3, 1))
    return np.concatenate(pts, axis=1)


def hull_in_image(points_2d: np.ndarray, width: int, height: int) -> Optional[np.ndarray]:
    """Convex hull of projected points intersected with the image canvas.

    The step of the devkit's ``post_process_coords`` (``MultiPoint(..).convex_hull``
    intersected with ``box(0, 0, W, H)``), keeping the polygon rather than only
    its bounds.

    Args:
        points_2d: ``(2, M)`` pixel coordinates.

    Returns:
        ``(K, 2)`` polygon vertices (pixels) or None if the hull misses the image
        or has no area.
    """
    if points_2d.shape[1] < 3:
        return None
    hull = shapely.multipoints(np.ascontiguousarray(points_2d.T)).convex_hull
    canvas = shapely_box(0, 0, width, height)
    if not hull.intersects(canvas):
        return None
    inter = hull.intersection(canvas)
    if inter.is_empty or inter.geom_type != "Polygon" or inter.area <= 0:
        return None
    return np.asarray(inter.exterior.coords, dtype=np.float64)[:-1]


def clip_convex_halfplane(poly: np.ndarray, coef: np.ndarray, offset: float) -> np.ndarray:
    """Keep the part of a convex polygon where ``coef[0] x + coef[1] y + coef[2] >= offset``.

    Args:
        poly: ``(K, 2)`` vertices of a convex polygon.
        coef: ``(3,)`` line coefficients.
        offset: threshold.

    Returns:
        ``(K', 2)`` clipped polygon (possibly empty, ``(0, 2)``).
    """
    if len(poly) == 0:
        return poly
    val = poly @ coef[:2] + coef[2] - offset
    out: List[np.ndarray] = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        vp, vq = val[i], val[(i + 1) % n]
        if vp >= 0:
            out.append(p)
        if (vp >= 0) != (vq >= 0):
            out.append(p + (vp / (vp - vq)) * (q - p))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def _polygons(geom) -> Iterator[Polygon]:
    """Yield the polygons of a shapely geometry (Polygon, Multi*, collections)."""
    if geom.is_empty:
        return
    if geom.geom_type == "Polygon":
        yield geom
    elif hasattr(geom, "geoms"):
        for g in geom.geoms:
            yield from _polygons(g)


def visible_ground_region(
    camera: CameraModel, max_range: float, near: float = NEAR_PLANE
) -> Optional[Polygon]:
    """The ground area (z = 0, global xy) in front of the camera's near plane within ``max_range`` of the ego.

    Returns:
        A convex shapely polygon or None if nothing of the ground is in front.
    """
    ex, ey = float(camera.ego_translation[0]), float(camera.ego_translation[1])
    square = np.array(
        [
            [ex - max_range, ey - max_range],
            [ex + max_range, ey - max_range],
            [ex + max_range, ey + max_range],
            [ex - max_range, ey + max_range],
        ]
    )
    region = clip_convex_halfplane(square, camera.depth_plane_on_ground(), near)
    if len(region) < 3:
        return None
    poly = Polygon(region)
    return poly if poly.area > 0 else None


def project_ground_polygons(
    polygons: Sequence[Polygon], camera: CameraModel, region: Polygon
) -> List[List[np.ndarray]]:
    """Project ground-plane map polygons (with holes) into the image.

    As ``render_map_in_image``: polygon nodes get height 0, go global -> ego
    -> camera and through ``view_points``. The part behind the near plane is
    removed beforehand by intersecting with ``region`` on the ground (exact
    for polygons with holes, where the devkit clips ring by ring), and the
    projection is intersected with the image canvas.

    Args:
        polygons: global-frame shapely polygons on the ground.
        camera: the camera.
        region: :func:`visible_ground_region` of the camera.

    Returns:
        One list of rings per visible polygon part: ``[exterior, hole, ...]``,
        each ``(K, 2)`` pixel coordinates inside ``[0, W] x [0, H]``.
    """
    canvas = shapely_box(0, 0, camera.width, camera.height)
    out: List[List[np.ndarray]] = []
    for poly in polygons:
        if not poly.intersects(region):
            continue
        for part in _polygons(poly.intersection(region)):
            rings_img = []
            for ring in [part.exterior, *part.interiors]:
                xy = np.asarray(ring.coords, dtype=np.float64)[:-1]
                pts = np.vstack([xy.T, np.zeros((1, len(xy)))])
                rings_img.append(camera.project(camera.global_to_camera(pts)).T)
            if len(rings_img[0]) < 3:
                continue
            img_poly = Polygon(rings_img[0], [r for r in rings_img[1:] if len(r) >= 3])
            if not img_poly.is_valid:
                img_poly = img_poly.buffer(0)
            for vis in _polygons(img_poly.intersection(canvas)):
                if vis.area <= 0:
                    continue
                out.append(
                    [np.asarray(r.coords, dtype=np.float64)[:-1] for r in [vis.exterior, *vis.interiors]]
                )
    return out
