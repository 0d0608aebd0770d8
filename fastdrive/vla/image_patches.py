"""Camera images -> Qwen2.5-VL ``pixel_values`` patches, without a processor.

Qwen2.5-VL's image processor normalises with the CLIP mean/std, repeats a
still image ``temporal_patch_size`` times and flattens it into patches
ordered so that the ``merge x merge`` patches of one merged token are
consecutive. :func:`images_to_patches` does the same on tensors (batched,
differentiable, on any device), for images whose sides are already
multiples of ``patch_size * merge_size`` (28 for Qwen2.5-VL).
"""

from __future__ import annotations

from typing import Tuple

import torch

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def images_to_patches(
    images: torch.Tensor,
    patch_size: int = 14,
    merge_size: int = 2,
    temporal_patch_size: int = 2,
    normalize: bool = True,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Flatten a batch of still images (or two-frame clips) into Qwen2.5-VL vision-tower patches.

    Args:
        images: ``(B, 3, H, W)`` float in [0, 1] (a still image, repeated
            ``temporal_patch_size`` times as the processor does), or
            ``(B, T, 3, H, W)`` with ``T == temporal_patch_size`` frames, oldest
            first: one temporal patch of a video, as Qwen2.5-VL groups a clip's
            consecutive frames (the same number of tokens as a still image).
            ``H`` and ``W`` multiples of ``patch_size * merge_size``.
        patch_size / merge_size / temporal_patch_size: the vision config's.
        normalize: apply the CLIP mean/std (as the processor does).

    Returns:
        ``pixel_values`` ``(B * gh * gw, 3 * T * p * p)`` (images in batch order,
        patches of each merged token consecutive) and ``image_grid_thw``
        ``(B, 3)`` long ``[1, gh, gw]`` with ``gh = H / p``, ``gw = W / p``.
        The merged-token grid of each image is ``(gh / merge, gw / merge)``.
    """
    clip = images.dim() == 5
    if clip and (images.shape[1] != temporal_patch_size or images.shape[2] != 3):
        raise ValueError(f"a clip must be (B, {temporal_patch_size}, 3, H, W), got {tuple(images.shape)}")
    if not clip and (images.dim() != 4 or images.shape[1] != 3):
        raise ValueError(f"images must be (B, 3, H, W) or (B, T, 3, H, W), got {tuple(images.shape)}")
    bsz, chans, height, width = images.shape[0], 3, images.shape[-2], images.shape[-1]
    unit = patch_size * merge_size
    if height % unit or width % unit:
        raise ValueError(f"image size {width}x{height} is not a multiple of {unit}")
    x = images.float()
    if normalize:
        mean = torch.tensor(CLIP_MEAN, device=x.device).view(3, 1, 1)
        std = torch.tensor(CLIP_STD, device=x.device).view(3, 1, 1)
        x = (x - mean) / std
    gh, gw, m, p, t = height // patch_size, width // patch_size, merge_size, patch_size, temporal_patch_size
    if not clip:
        x = x.unsqueeze(1).expand(bsz, t, chans, height, width)
    x = x.reshape(bsz, t, chans, gh // m, m, p, gw // m, m, p)
    # -> (B, gh/m, gw/m, m, m, C, T, p, p): the processor's patch order
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
    pixel_values = x.reshape(bsz * gh * gw, chans * t * p * p)
    grid = torch.tensor([[1, gh, gw]], dtype=torch.long, device=images.device).repeat(bsz, 1)
    return pixel_values, grid
