"""The prompt of the embedded driving VLA: command and ego state as tokens.

The embedded planner has no text tokenizer; its small vocabulary holds a
token per navigation command, binned ego-state values and six plan-query
tokens. A prompt reads::

    <bos> <cmd> <speed bin> <accel bin> <yaw-rate bin> <vision_start> <image_pad> * N <vision_end> <plan_0> ... <plan_5>

so every sample of a batch has the same length (no padding), the visual
tokens sit between the state and the plan queries, and the plan queries are
the last six positions whatever a pruner removes (the adapter keeps text
tokens in place and pads shorter rows inside the visual span).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import torch
from transformers import Qwen2_5_VLConfig

from ..sim.types import COMMANDS


@dataclass(frozen=True)
class DrivingVocab:
    """Token ids of the embedded planner's vocabulary (all below the image ids).

    Bins are uniform over ``[low, high]`` (values outside are clipped).
    """

    bos: int = 1
    command_start: int = 2            # 3 ids: left, right, straight
    speed_start: int = 8
    speed_bins: int = 48
    speed_range: Tuple[float, float] = (0.0, 16.0)
    accel_start: int = 64
    accel_bins: int = 24
    accel_range: Tuple[float, float] = (-6.0, 4.0)
    yaw_start: int = 96
    yaw_bins: int = 24
    yaw_range: Tuple[float, float] = (-0.6, 0.6)
    plan_start: int = 128             # num_waypoints ids

    def bin_ids(self, values: torch.Tensor, start: int, bins: int, rng: Tuple[float, float]) -> torch.Tensor:
        """``(B,)`` values -> ``(B,)`` long token ids ``start + bin``."""
        lo, hi = rng
        idx = ((values.float() - lo) / (hi - lo) * bins).floor().clamp(0, bins - 1).long()
        return idx + start


PROMPT_PREFIX = 5  # bos, command, speed, accel, yaw rate


def driving_input_ids(
    config: Qwen2_5_VLConfig,
    command: torch.Tensor,
    ego_state: torch.Tensor,
    num_visual: int,
    num_waypoints: int = 6,
    vocab: DrivingVocab = DrivingVocab(),
) -> Dict[str, torch.Tensor]:
    """Token ids, mask and ``mm_token_type_ids`` of a batch of driving prompts.

    Args:
        config: the VLA config (image / vision-start / vision-end ids).
        command: ``(B,)`` long indices into :data:`COMMANDS`.
        ego_state: ``(B, 3)`` ``[speed m/s, accel m/s^2, yaw rate rad/s]``.
        num_visual: merged visual tokens per image (``gh * gw / merge^2``).
        num_waypoints: plan-query tokens at the end.
        vocab: the token layout.

    Returns:
        ``input_ids`` / ``attention_mask`` ``(B, L)`` long and
        ``mm_token_type_ids`` ``(B, L)`` int (1 on image pads), with
        ``L = PROMPT_PREFIX + num_visual + 2 + num_waypoints``.
    """
    bsz = int(command.shape[0])
    dev = command.device
    state = ego_state.to(dev)
    head = torch.stack([
        torch.full((bsz,), vocab.bos, dtype=torch.long, device=dev),
        vocab.command_start + command.long().clamp(0, len(COMMANDS) - 1),
        vocab.bin_ids(state[:, 0], vocab.speed_start, vocab.speed_bins, vocab.speed_range),
        vocab.bin_ids(state[:, 1], vocab.accel_start, vocab.accel_bins, vocab.accel_range),
        vocab.bin_ids(state[:, 2], vocab.yaw_start, vocab.yaw_bins, vocab.yaw_range),
    ], dim=1)
    image: List[int] = [config.vision_start_token_id] + [config.image_token_id] * num_visual + [
        config.vision_end_token_id]
    tail = list(range(vocab.plan_start, vocab.plan_start + num_waypoints))
    body = torch.tensor(image + tail, dtype=torch.long, device=dev).expand(bsz, -1)
    input_ids = torch.cat([head, body], dim=1)
    mm_types = (input_ids == config.image_token_id).int()
    return dict(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), mm_token_type_ids=mm_types)
