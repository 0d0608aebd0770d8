"""The picture of an episode: the front camera with the plan and the kept tokens, beside a bird's-eye view.

Each planning step of a recorded episode becomes one frame: left, the camera image the planner
saw, pruned token cells dimmed, the planned trajectory on the ground; right, a bird's-eye view
(ego-centred, 60 m) with the route, the other agents, the ego box and its plan. Written as a GIF
(PIL) or an MP4 (OpenCV).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Sequence

import numpy as np

from ..rig import CameraSpec, nuscenes_rig
from .geometry import to_ego

BEV_M = 30.0  # half-extent of the bird's-eye view (m)
COLORS = {"vehicle": (70, 130, 255), "pedestrian": (255, 90, 60), "cyclist": (255, 170, 0), "static": (150, 150, 150)}


def _cam_record(cam: CameraSpec) -> Dict[str, Any]:
    return {"cam_intrinsic": np.asarray(cam.intrinsic).tolist(), "sensor2ego_rotation": list(cam.rotation),
            "sensor2ego_translation": list(cam.translation), "width": cam.width, "height": cam.height}


def camera_panel(step: Dict[str, Any], camera: str = "CAM_FRONT") -> np.ndarray:
    """``(H, W, 3)``: the camera image, pruned cells dimmed, the plan drawn on the ground."""
    from ...evaluation.token_overlay import overlay_kept_tokens
    from ...evaluation.trajectory_overlay import OverlayLine, draw_trajectories

    img = step["frames"][camera]
    kept = next((k for k in (step.get("kept_cells") or []) if k.get("camera") == camera), None)
    if kept is not None:
        mask = np.zeros(tuple(kept["grid"]), bool)
        for r, c in kept["cells"]:
            mask[r, c] = True
        img = overlay_kept_tokens(img, mask, alpha=0.6)
    cam = nuscenes_rig((img.shape[1], img.shape[0]), (camera,)).cameras[0]
    return draw_trajectories(img, _cam_record(cam), [OverlayLine(step["waypoints"], (40, 220, 90), (0, 0, 0), 4)])


def bev_panel(step: Dict[str, Any], route: np.ndarray, roads: Sequence[np.ndarray] = (), size: int = 360) -> np.ndarray:
    """``(size, size, 3)`` ego-centred bird's-eye view (x forward = up): roads, the logged route, agents, the ego
    and its plan."""
    import cv2

    img = np.full((size, size, 3), 205, np.uint8)
    x, y, yaw = step["pose"]
    scale = size / (2 * BEV_M)

    def px(pts: np.ndarray) -> np.ndarray:
        e = to_ego(pts, x, y, yaw)
        return np.stack([size / 2 - e[:, 1] * scale, size / 2 - e[:, 0] * scale], axis=-1).round().astype(np.int32)

    for poly in roads:
        cv2.fillPoly(img, [px(np.asarray(poly))], (245, 245, 245))
    cv2.polylines(img, [px(route)], False, (170, 200, 230), 6)
    for a in step.get("agents", []):
        c, s = np.cos(a.yaw), np.sin(a.yaw)
        corners = np.array([[a.length / 2, a.width / 2], [a.length / 2, -a.width / 2],
                            [-a.length / 2, -a.width / 2], [-a.length / 2, a.width / 2]])
        pts = np.stack([a.x + corners[:, 0] * c - corners[:, 1] * s, a.y + corners[:, 0] * s + corners[:, 1] * c], -1)
        cv2.fillPoly(img, [px(pts)], COLORS.get(a.kind, (120, 120, 120)))
    ego = np.array([[3.5, 0.92], [3.5, -0.92], [-0.6, -0.92], [-0.6, 0.92]])
    ego_px = np.stack([size / 2 - ego[:, 1] * scale, size / 2 - ego[:, 0] * scale], -1).round().astype(np.int32)
    cv2.fillPoly(img, [ego_px], (30, 30, 30))
    plan = np.vstack([[0.0, 0.0], np.asarray(step["waypoints"])])
    plan_px = np.stack([size / 2 - plan[:, 1] * scale, size / 2 - plan[:, 0] * scale], -1).round().astype(np.int32)
    cv2.polylines(img, [plan_px], False, (40, 180, 70), 3)
    return img


def episode_frames(steps: Sequence[Dict[str, Any]], route: np.ndarray, title: str = "",
                   roads: Sequence[np.ndarray] = ()) -> List[np.ndarray]:
    """One composed ``(H, W, 3)`` frame per planning step (``roads``: the town's road polygons)."""
    import cv2

    out = []
    for step in steps:
        cam = camera_panel(step)
        h = 360
        cam = cv2.resize(cam, (int(round(cam.shape[1] * h / cam.shape[0])), h), interpolation=cv2.INTER_AREA)
        frame = np.concatenate([cam, bev_panel(step, route, roads, h)], axis=1)
        tokens = step.get("tokens") or {}
        text = f"{title}  t={step['t']:.1f}s" + (f"  tokens {tokens['kept']}/{tokens['total']}" if tokens else "")
        cv2.putText(frame, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(frame, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        out.append(np.ascontiguousarray(frame))
    return out


def write_video(frames: Sequence[np.ndarray], path: str, fps: float = 2.0) -> str:
    """Write ``.gif`` (PIL) or ``.mp4`` (OpenCV, mp4v); the file is complete or absent (atomic rename).

    Raises:
        ValueError: another extension, or no frames.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".gif", ".mp4"):
        raise ValueError(f"--video must end in .gif or .mp4, got {path!r}")
    if not frames:
        raise ValueError("no frames to write")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{ext}"
    if ext == ".gif":
        from PIL import Image

        imgs = [Image.fromarray(f) for f in frames]
        imgs[0].save(tmp, save_all=True, append_images=imgs[1:], duration=int(1000 / fps), loop=0)
    else:
        import cv2

        h, w = frames[0].shape[:2]
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
    os.replace(tmp, path)
    return path
