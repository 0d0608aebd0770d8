"""The service's planner: loading it from the settings, and turning HTTP bodies into plan requests."""

from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence

import numpy as np

from fastdrive.planner import EgoState, Planner, PlanRequest, PruningSpec, SessionStore, Trajectory

from .images import decode_images
from .schemas import KeptCellsBody, PlanBody, PlanResponse, PruningBody, TokensBody
from .settings import ServiceSettings


def load_planner(settings: ServiceSettings) -> Planner:
    """The planner the settings name: the shipped embedded planner by default, a checkpoint file, or a
    Qwen2.5-VL / Impromptu-VLA checkpoint directory. Pruners of ``settings.methods`` are built now."""
    import torch

    if settings.threads:
        torch.set_num_threads(settings.threads)
    sessions = SessionStore(max_sessions=settings.max_sessions, ttl_s=settings.session_ttl_s)
    method_options = {"recon": {"weights": settings.recon_weights}} if settings.recon_weights else None
    kwargs = dict(methods=settings.methods, sessions=sessions, strict_options=True, method_options=method_options)
    path = settings.model_path
    if path is not None and os.path.isdir(path):
        from fastdrive.planner import TextWaypointPlanner

        return TextWaypointPlanner.from_pretrained(path, mode=settings.text_mode, cameras=settings.cameras,
                                                   device=settings.device, **kwargs)
    from fastdrive.planner import EmbeddedPlanner

    return EmbeddedPlanner.from_checkpoint(path, device=settings.device, **kwargs)


def model_name(planner: Planner, settings: ServiceSettings) -> str:
    """A readable identifier of the served model."""
    if settings.model_path:
        return f"{type(planner).__name__}:{os.path.basename(os.path.normpath(settings.model_path))}"
    from fastdrive.planner import DEFAULT_CHECKPOINT

    return f"{type(planner).__name__}:{os.path.basename(DEFAULT_CHECKPOINT)}"


def pruning_spec(body: Optional[PruningBody], settings: ServiceSettings) -> PruningSpec:
    if body is None:
        return PruningSpec(settings.default_method, settings.default_ratio)
    return PruningSpec(body.method, body.ratio, dict(body.options))


def plan_request(body: PlanBody, planner: Planner, settings: ServiceSettings,
                 session_id: Optional[str]) -> PlanRequest:
    """Decode and validate one body (raises the 4xx errors); cheap enough for a worker thread per request."""
    frames = decode_images(body.images, tuple(planner.cameras), settings.max_image_pixels)
    prev = None
    if body.prev_images is not None and planner.reads_prev_frames:  # others ignore them, undecoded
        prev = decode_images(body.prev_images, tuple(planner.cameras), settings.max_image_pixels, "prev_images")
    ego = body.ego_state
    past = None if ego.past_xy is None else np.asarray(ego.past_xy, np.float32)
    request = PlanRequest(frames, EgoState(ego.speed, ego.accel, ego.yaw_rate, past), body.command,
                          pruning_spec(body.pruning, settings), session_id, prev_frames=prev)
    planner.validate(request)
    return request


def run_batch(planner: Planner, requests: Sequence[PlanRequest]) -> List[Any]:
    """``plan_batch`` for the batcher (errors are the batcher's to spread)."""
    return planner.plan_batch(list(requests))


def response(traj: Trajectory, body: PlanBody, model: str, timings_ms: dict, batch_size: int) -> PlanResponse:
    spec = traj.pruning
    pruner = f"{spec.method}@{float(spec.ratio):g}" if spec.active else "none"
    kept = None
    if body.return_kept:
        kept = [KeptCellsBody(camera=cam, grid=list(map(int, grid)),
                              cells=np.argwhere(traj.kept_mask(i)).astype(int).tolist())
                for i, (cam, grid) in enumerate(zip(traj.cameras, traj.grids))]
    return PlanResponse(waypoints=np.asarray(traj.waypoints, float).round(4).tolist(),
                        tokens=TokensBody(total=traj.num_visual, kept=traj.num_kept), kept_cells=kept,
                        timings_ms=timings_ms, model=model, pruner=pruner, batch_size=batch_size)
