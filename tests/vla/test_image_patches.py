"""``images_to_patches`` equals transformers' Qwen2VL image and video processors on the same pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

from fastdrive.vla.image_patches import images_to_patches


def test_matches_the_qwen2vl_processor():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 56, 84, 3), dtype=np.uint8)  # (B, H, W, 3), 2x3 merged tokens
    proc = Qwen2VLImageProcessor(patch_size=14, merge_size=2, temporal_patch_size=2)
    ref = proc(images=list(images), return_tensors="pt", do_resize=False)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    pixel_values, grid = images_to_patches(x, 14, 2, 2)
    assert grid.tolist() == ref["image_grid_thw"].tolist() == [[1, 4, 6]] * 2
    torch.testing.assert_close(pixel_values, ref["pixel_values"].float(), atol=1e-5, rtol=1e-5)


def test_two_frame_clip_matches_the_qwen2vl_video_processor():
    """A (previous, current) pair is one temporal patch of a video: the processor's own layout."""
    rng = np.random.default_rng(1)
    clip = rng.integers(0, 256, (2, 56, 84, 3), dtype=np.uint8)  # (T, H, W, 3), oldest first
    proc = Qwen2VLVideoProcessor(patch_size=14, merge_size=2, temporal_patch_size=2)
    ref = proc(videos=[torch.from_numpy(clip).permute(0, 3, 1, 2)], return_tensors="pt", do_resize=False,
               do_sample_frames=False)
    x = torch.from_numpy(clip).permute(0, 3, 1, 2).float()[None] / 255.0  # (1, 2, 3, H, W)
    pixel_values, grid = images_to_patches(x, 14, 2, 2)
    assert grid.tolist() == ref["video_grid_thw"].tolist() == [[1, 4, 6]]
    torch.testing.assert_close(pixel_values, ref["pixel_values_videos"].float(), atol=1e-5, rtol=1e-5)
    # a still is the clip of the same frame twice
    still = x[:, 1]
    torch.testing.assert_close(images_to_patches(still)[0], images_to_patches(torch.stack([still, still], 1))[0])
    assert not torch.allclose(pixel_values, images_to_patches(still)[0])


def test_rejects_sizes_off_the_merge_grid():
    with pytest.raises(ValueError, match="multiple of 28"):
        images_to_patches(torch.zeros(1, 3, 56, 80))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        images_to_patches(torch.zeros(3, 56, 84))
    with pytest.raises(ValueError, match="a clip must be"):
        images_to_patches(torch.zeros(1, 3, 3, 56, 84))
