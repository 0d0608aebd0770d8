"""``EmbeddedPlanner``: the small driving VLA FastDrive trains, behind the ``Planner`` interface."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from ..vla._call import device_seconds
from .base import Planner
from .pruner_pool import PrunerPool
from .sessions import SessionStore
from .types import PlanRequest, PruningSpec, Trajectory, as_frame, command_index

if TYPE_CHECKING:  # the model code imports mmengine; the planner module does not
    from ..models.driving_vla import DrivingVLA

DEFAULT_CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints",
                                  "driving_vla_qwen25vl-small-throttle-x2_fastdrive-world.pth")


class EmbeddedPlanner(Planner):
    """Plans with a :class:`~fastdrive.models.DrivingVLA` (CAM_FRONT, waypoint head).

    Args:
        model: the driving VLA (eval mode is set here).
        device: where it runs.
        methods: pruning methods to serve, built now (None: every registered one).
        sessions: the session store of temporal pruners (default: a new one).
        strict_options: only the methods' ``request_options`` may be set per
            request (the service); see :class:`~.pruner_pool.PrunerPool`.
        method_options: per method, constructor arguments set by the operator
            (e.g. ``{'recon': {'weights': path}}``).
    """

    cameras = ("CAM_FRONT",)

    def __init__(self, model: "DrivingVLA", device: Union[str, torch.device] = "cpu",
                 methods: Optional[Sequence[str]] = None, sessions: Optional[SessionStore] = None,
                 strict_options: bool = False, method_options: Optional[Mapping[str, Mapping[str, Any]]] = None
                 ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.reads_prev_frames = bool(getattr(model, "frame_pair", False))  # a two-frame clip
        self.pool = PrunerPool(self.model.vlm, action_rows=self.model.num_waypoints, methods=methods,
                               sessions=sessions, strict_options=strict_options, method_options=method_options)

    @classmethod
    def from_checkpoint(cls, path: Optional[str] = None, device: Union[str, torch.device] = "cpu",
                        **kwargs) -> "EmbeddedPlanner":
        """Load an exported driving-VLA file (default: the checkpoint shipped with FastDrive).

        ``kwargs`` go to the constructor (``methods``, ``sessions``, ``strict_options``, ``method_options``).
        """
        from ..models.driving_vla_io import load_driving_vla

        return cls(load_driving_vla(path or DEFAULT_CHECKPOINT), device, **kwargs)

    def _images(self, frames: List[np.ndarray]) -> torch.Tensor:
        """B frames ``(H_b, W_b, 3)`` uint8 -> ``(B, 3, h, w)`` float at the model's input size."""
        out = []
        for frame in frames:
            img = torch.from_numpy(np.array(frame, dtype=np.uint8, copy=True)).to(self.device).permute(2, 0, 1)
            out.append(self.model.resize_images(img[None].float() / 255.0))
        return torch.cat(out, dim=0)

    @torch.no_grad()
    def _plan_group(self, requests: Sequence[PlanRequest], spec: Optional[PruningSpec]) -> List[Trajectory]:
        t0 = device_seconds(self.device)
        cam = self.cameras[0]
        frames = [as_frame(self.select_frames(r.frames)[cam], cam) for r in requests]
        cmd = torch.tensor([command_index(r.command) for r in requests], device=self.device)
        state = torch.from_numpy(np.stack([r.ego_state.vector() for r in requests])).to(self.device)
        past = torch.from_numpy(np.stack([r.ego_state.past() for r in requests])).to(self.device)
        img = self._images(frames)
        prev = None
        if self.reads_prev_frames and any(r.prev_frames is not None for r in requests):
            prev = self._images([frames[b] if r.prev_frames is None
                                 else as_frame(self.select_frames(r.prev_frames)[cam], cam)
                                 for b, r in enumerate(requests)])
        t1 = device_seconds(self.device)
        with self.pool.pruning(spec, [r.session_id for r in requests]) as call:
            wp = self.model.plan(img, cmd, state, past, imgs_prev=prev)
        record = call.last if call is not None else None
        wp = wp.double().cpu().numpy()
        t2 = device_seconds(self.device)
        n = self.model.num_visual
        out = []
        for b in range(len(requests)):
            out.append(Trajectory(
                waypoints=wp[b],
                timings=dict(preprocess=t1 - t0, model=t2 - t1,
                             pruner=record.pruner_seconds if record else 0.0, total=t2 - t0),
                num_visual=n,
                num_kept=int(record.num_kept[b]) if record is not None else n,
                kept_tokens=None if record is None else [record.kept_grid[b][0].cpu().numpy().astype(np.int64)],
                grids=[tuple(record.grids[b][0]) if record is not None else tuple(self.model.grid_hw)],
                cameras=[cam],
                pruning=spec or PruningSpec(),
                batch_size=len(requests),
            ))
        return out


__all__ = ["DEFAULT_CHECKPOINT", "EmbeddedPlanner"]
