"""A standstill "go" head: does the ego move off within 3 s? Read from the visual tokens alone.

Training signal of :class:`~fastdrive.models.driving_vla.DrivingVLA` (``go_weight``): on the
samples where the logged ego stands still with no throttle, the head predicts whether it moves
more than :data:`GO_METRES` in the next 3 s, and its binary cross-entropy trains the vision tower.
"""

from __future__ import annotations

import torch
from torch import nn

from ..constants import GO_METRES, STANDSTILL_MAX_ACCEL, STANDSTILL_MAX_SPEED


def standstill_mask(ego_state: torch.Tensor, max_speed: float = STANDSTILL_MAX_SPEED,
                    max_accel: float = STANDSTILL_MAX_ACCEL) -> torch.Tensor:
    """``(B, 3)`` ``[speed, accel, yaw rate]`` -> ``(B,)`` bool: stopped, with no throttle."""
    return (ego_state[:, 0] < max_speed) & (ego_state[:, 1] <= max_accel)


class GoHead(nn.Module):
    """Attention pooling (one learned query) over ``(B, N, D)`` tokens, then an MLP -> ``(B,)`` logit."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(dim, 1)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        attn = torch.softmax(self.query(tokens)[..., 0], dim=1)  # (B, N)
        return self.mlp((attn[..., None] * tokens).sum(1))[:, 0]

    def loss(self, tokens: torch.Tensor, ego_state: torch.Tensor, gt_traj: torch.Tensor,
             last_valid: torch.Tensor) -> torch.Tensor:
        """Mean BCE over the standstill samples (0 without any).

        Args:
            tokens: ``(B, N, D)`` visual tokens.
            ego_state: ``(B, 3)`` the *logged* ``[speed, accel, yaw rate]`` (before any hiding).
            gt_traj: ``(B, T, 2)`` logged future (m, ego frame).
            last_valid: ``(B,)`` whether the last future step is logged.
        """
        still = (standstill_mask(ego_state) & last_valid.bool()).float()
        go = (gt_traj[:, -1, 0] > GO_METRES).float()
        bce = nn.functional.binary_cross_entropy_with_logits(self(tokens), go, reduction="none")
        return (bce * still).sum() / still.sum().clamp(min=1)
