"""A randomly initialised small driving VLA exported to a file, for sweep / benchmark tests.

The waypoint head's last layer is zero-initialised in ``DrivingVLA`` (the
model starts at the constant-velocity rollout); here it gets small random
weights so that the plan depends on the visual tokens, and pruning changes it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fastdrive.models.driving_vla import DrivingVLA
from fastdrive.models.driving_vla_io import export_driving_vla
from tiny_vla import tiny_vlm  # tests/models, on sys.path via tests/conftest.py

IMAGE_SIZE = (168, 112)  # (W, H): a 4 x 6 = 24-token grid
NUM_VISUAL = 24


def export_tiny_planner(path: Path, seed: int = 0, frame_pair: bool = False) -> Path:
    """Write a tiny random driving VLA (4 LLM layers, so in-LLM pruners at layer 2-3 fit) to ``path``
    (``frame_pair``: one that reads the previous keyframe too)."""
    model = DrivingVLA(vlm=tiny_vlm(hidden_size=64, num_layers=4, intermediate_size=128), image_size=IMAGE_SIZE,
                       seed=seed, frame_pair=frame_pair)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        last = model.head[-1]
        last.weight.copy_(0.5 * torch.randn(last.weight.shape, generator=gen))
        last.bias.copy_(0.1 * torch.randn(last.bias.shape, generator=gen))
    assert model.num_visual == NUM_VISUAL
    export_driving_vla(model, path, half=False)
    return path
