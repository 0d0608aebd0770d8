"""Who drives an episode: the planning service over HTTP, or a reference (log replay, constant velocity).

A driver is asked for a plan every 0.5 s and answers ego-frame waypoints (6 x [x, y] at
0.5 ... 3.0 s). :class:`ServiceDriver` posts the rendered camera frame and the ego state to
``POST /plan``; every bad or slow answer (4xx/5xx, timeout, unparseable body) raises
:class:`EpisodeFailure` with a clear message, which ends the episode, never the run.
"""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ...constants import NUM_FUTURE, STEP_S


class EpisodeFailure(RuntimeError):
    """The planner could not give a plan; the episode ends here and is recorded as failed."""


@dataclass
class PlanInput:
    """What a driver sees at one planning step.

    Attributes:
        frames: ``{camera: (H, W, 3) uint8}`` rendered from the simulated ego pose.
        speed / accel / yaw_rate: the simulated ego now (m/s, m/s^2, rad/s).
        past_xy: ``(4, 2)`` ego-frame positions at -2.0 ... -0.5 s.
        command: the route's command.
        session_id: one per episode and row (temporal pruners).
        prev_frames: the frames of the previous planning step (0.5 s earlier; None at the
            first step), for a planner that reads two frames.
        t: scene time (s); pose: the simulated ``(x, y, yaw)`` (global, rear axle). What a
            planner must not see; the log-plan reference uses them.
    """

    frames: Dict[str, np.ndarray]
    speed: float
    accel: float
    yaw_rate: float
    past_xy: np.ndarray
    command: str
    session_id: str
    t: float = 0.0
    pose: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    prev_frames: Optional[Dict[str, np.ndarray]] = None


@dataclass
class PlanOutput:
    """``waypoints (6, 2)`` ego frame; what it cost; the kept token cells (for the video), if any."""

    waypoints: np.ndarray
    http_ms: float = 0.0
    plan_ms: float = 0.0
    tokens: Optional[Dict[str, int]] = None
    kept_cells: Optional[List[Dict[str, Any]]] = None
    extra: Dict[str, Any] = field(default_factory=dict)


def jpeg_base64(frame: np.ndarray, quality: int = 90) -> str:
    """``(H, W, 3)`` uint8 -> base64 JPEG (the world's own image format)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality, subsampling=2)
    return base64.b64encode(buf.getvalue()).decode("ascii")


class ServiceDriver:
    """Plans through ``POST /plan`` of a running FastDrive service.

    Args:
        client: an ``httpx.Client`` with the service's base URL (and API key header).
        pruning: ``{"method": ..., "ratio": ...}`` or None (the service's default).
        return_kept: ask for the kept token cells (for the video).
        timeout_s: a plan slower than this ends the episode.
        send_prev_frames: also post the previous step's frames (``prev_images``), for a service
            whose model reads two frames (``GET /readyz``: ``reads_prev_frames``).
    """

    needs_frames = True

    def __init__(self, client: Any, pruning: Optional[Dict[str, Any]] = None, return_kept: bool = False,
                 timeout_s: float = 30.0, send_prev_frames: bool = False) -> None:
        self.client = client
        self.send_prev_frames = bool(send_prev_frames)
        self.pruning = pruning
        self.return_kept = return_kept
        self.timeout_s = timeout_s

    def plan(self, inp: PlanInput) -> PlanOutput:
        import httpx

        body: Dict[str, Any] = {
            "images": {cam: jpeg_base64(f) for cam, f in inp.frames.items()},
            "ego_state": {"speed": float(inp.speed), "accel": float(inp.accel), "yaw_rate": float(inp.yaw_rate),
                          "past_xy": np.asarray(inp.past_xy, float).round(3).tolist()},
            "command": inp.command, "session_id": inp.session_id, "return_kept": self.return_kept}
        if self.send_prev_frames and inp.prev_frames:
            body["prev_images"] = {cam: jpeg_base64(f) for cam, f in inp.prev_frames.items()}
        if self.pruning is not None:
            body["pruning"] = dict(self.pruning)
        t0 = time.perf_counter()
        try:
            resp = self.client.post("/plan", json=body, timeout=self.timeout_s,
                                    headers={"X-FastDrive-Session": inp.session_id})
        except httpx.TimeoutException:
            raise EpisodeFailure(f"the service gave no plan within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise EpisodeFailure(f"cannot reach the service: {type(exc).__name__}: {exc}") from None
        http_ms = 1000.0 * (time.perf_counter() - t0)
        try:
            data = resp.json()
        except ValueError:
            raise EpisodeFailure(f"HTTP {resp.status_code} with a body that is not JSON: {resp.text[:120]!r}") from None
        if resp.status_code != 200:
            raise EpisodeFailure(f"HTTP {resp.status_code} {data.get('error', '')}: {data.get('detail', '')}"[:300])
        try:
            wp = np.asarray(data["waypoints"], np.float64)
            if wp.shape != (NUM_FUTURE, 2) or not np.all(np.isfinite(wp)):
                raise ValueError(f"waypoints of shape {wp.shape}")
        except (KeyError, TypeError, ValueError) as exc:
            raise EpisodeFailure(f"unusable plan in the answer ({exc})") from None
        timings = data.get("timings_ms") or {}
        return PlanOutput(wp, http_ms=http_ms, plan_ms=float(timings.get("total", 0.0)),
                          tokens=data.get("tokens"), kept_cells=data.get("kept_cells"))


class ConstantVelocityDriver:
    """The floor: straight ahead at the current speed (no camera, no service)."""

    needs_frames = False

    def plan(self, inp: PlanInput) -> PlanOutput:
        from ...datasets.planning.constant_velocity import constant_velocity_plan

        return PlanOutput(constant_velocity_plan(inp.speed))  # yaw rate 0: straight ahead


class LogPlanDriver:
    """The tracker's check: the logged ego's next 3 s, expressed from wherever the simulated car is.

    Drives through the same vehicle model and tracker as the planners, so its score shows what
    tracking alone costs (log replay, by contrast, skips the vehicle model).
    """

    needs_frames = False

    def __init__(self, scene: Any) -> None:
        self.scene = scene

    def plan(self, inp: PlanInput) -> PlanOutput:
        from .geometry import to_ego

        s = self.scene
        future = np.array([s.ego_at(min(inp.t + STEP_S * k, s.duration))[:2] for k in range(1, NUM_FUTURE + 1)])
        return PlanOutput(to_ego(future, *inp.pose))
