"""``EmbeddedPlanner``: the small driving VLA FastDrive trains, behind the ``Planner`` interface."""

from __future__ import annotations

import os
import time
from typing import Optional, Union

import numpy as np
import torch

from ..models.driving_vla import DrivingVLA
from ..models.driving_vla_io import load_driving_vla
from .base import Frames, Planner, PrunerPool
from .types import EgoState, PruningSpec, Trajectory, as_frame, command_index

DEFAULT_CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints",
                                  "driving_vla_qwen25vl-small-aux_fastdrive-world.pth")


class EmbeddedPlanner(Planner):
    """Plans with a :class:`~fastdrive.models.DrivingVLA` (CAM_FRONT, waypoint head).

    Args:
        model: the driving VLA (eval mode is set here).
        device: where it runs.
    """

    cameras = ("CAM_FRONT",)

    def __init__(self, model: DrivingVLA, device: Union[str, torch.device] = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.pool = PrunerPool(self.model.vlm, action_rows=self.model.num_waypoints)

    @classmethod
    def from_checkpoint(cls, path: Optional[str] = None, device: Union[str, torch.device] = "cpu") -> "EmbeddedPlanner":
        """Load an exported driving-VLA file (default: the checkpoint shipped with FastDrive)."""
        return cls(load_driving_vla(path or DEFAULT_CHECKPOINT), device)

    def _image(self, frame: np.ndarray) -> torch.Tensor:
        """``(H, W, 3)`` uint8 -> ``(1, 3, h, w)`` float at the model's input size."""
        img = torch.from_numpy(np.array(frame, dtype=np.uint8, copy=True)).to(self.device).permute(2, 0, 1)[None]
        return self.model.resize_images(img.float() / 255.0)  # here, so that it counts as preprocessing

    @torch.no_grad()
    def plan(self, frames: Frames, ego_state: EgoState, command: Union[str, int],
             pruning: Optional[PruningSpec] = None, session_id: Optional[str] = None) -> Trajectory:
        t0 = time.perf_counter()
        cam = self.cameras[0]
        frame = as_frame(self.select_frames(frames)[cam], cam)
        cmd = torch.tensor([command_index(command)], device=self.device)
        state = torch.from_numpy(ego_state.vector())[None].to(self.device)
        past = torch.from_numpy(ego_state.past())[None].to(self.device)
        img = self._image(frame)
        t1 = time.perf_counter()
        with self.pool.attached(pruning, session_id) as handle:
            wp = self.model.plan(img, cmd, state, past)[0]
            record = handle.last if handle is not None else None
        t2 = time.perf_counter()
        n = self.model.num_visual
        kept = None if record is None else [record.kept_grid[0][0].cpu().numpy().astype(np.int64)]
        return Trajectory(
            waypoints=wp.double().cpu().numpy(),
            timings=dict(preprocess=t1 - t0, model=t2 - t1, pruner=record.pruner_seconds if record else 0.0,
                         total=time.perf_counter() - t0),
            num_visual=n,
            num_kept=int(record.num_kept[0]) if record is not None else n,
            kept_tokens=kept,
            grids=[tuple(self.model.grid_hw)],
            cameras=[cam],
            pruning=pruning or PruningSpec(),
        )

    def reset(self, session_id: Optional[str] = None) -> None:
        self.pool.reset(session_id)
