"""The patch embedding as one matmul equals Qwen2.5-VL's Conv3d, and checkpoints load unchanged."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastdrive.models.patch_linear import PatchLinear, is_patch_conv, use_linear_patch_embed


@pytest.mark.parametrize("bias", [False, True])
def test_equals_the_convolution(bias):
    torch.manual_seed(0)
    conv = nn.Conv3d(3, 16, kernel_size=(2, 14, 14), stride=(2, 14, 14), bias=bias)
    x = torch.randn(37, 3, 2, 14, 14)
    ref = conv(x)
    lin = PatchLinear(conv)
    out = lin(x)
    assert out.shape == ref.shape == (37, 16, 1, 1, 1)
    assert torch.allclose(out, ref, atol=1e-5)
    assert set(lin.state_dict()) == set(conv.state_dict())  # same names, same shapes: checkpoints load
    lin.load_state_dict(conv.state_dict())
    assert torch.allclose(lin.to_conv()(x), ref, atol=1e-6)  # and back to the stock module


def test_refuses_other_convolutions():
    assert not is_patch_conv(nn.Conv3d(3, 8, kernel_size=3, stride=1))
    assert not is_patch_conv(nn.Conv3d(3, 8, kernel_size=2, stride=2, padding=1))
    with pytest.raises(ValueError, match="patch convolution"):
        PatchLinear(nn.Conv3d(3, 8, kernel_size=3, stride=1))
    assert not use_linear_patch_embed(nn.Linear(2, 2))


def test_driving_vla_plans_as_with_the_convolution():
    """The planner's vision tower gives the same plan with either module (same weights)."""
    from fastdrive.models import DrivingVLA

    from tiny_vla import TINY_VLM  # noqa: E402  (tests/models)

    model = DrivingVLA(vlm=TINY_VLM, image_size=(112, 56)).eval()
    embed = model.vlm.model.visual.patch_embed
    assert isinstance(embed.proj, PatchLinear)
    with torch.no_grad():
        model.head[-1].weight.normal_(0, 0.5)
    imgs, cmd = torch.rand(2, 3, 56, 112), torch.tensor([0, 2])
    state, past = torch.tensor([[5.0, 0.5, 0.1], [2.0, -1.0, 0.0]]), torch.zeros(2, 4, 2)
    with torch.no_grad():
        fast = model.plan(imgs, cmd, state, past)
        conv = embed.proj.to_conv()
        assert isinstance(conv, nn.Conv3d) and torch.equal(conv.weight, embed.proj.weight)
        embed.proj = conv
        slow = model.plan(imgs, cmd, state, past)
    assert torch.allclose(fast, slow, atol=1e-5)


def test_shipped_planner_plans_as_with_the_convolution():
    """The shipped checkpoint (trained with the convolution) loads into PatchLinear and plans the same."""
    from fastdrive.planner import EmbeddedPlanner

    model = EmbeddedPlanner.from_checkpoint().model
    embed = model.vlm.model.visual.patch_embed
    assert isinstance(embed.proj, PatchLinear)
    g = torch.Generator().manual_seed(1)
    imgs, cmd = torch.rand(3, 3, 252, 448, generator=g), torch.tensor([0, 1, 2])
    state, past = torch.tensor([[5.0, 0.3, 0.02], [8.0, -1.5, 0.0], [0.5, 1.0, -0.1]]), torch.zeros(3, 4, 2)
    linear = embed.proj
    try:
        with torch.no_grad():
            fast = model.plan(imgs, cmd, state, past)
            embed.proj = linear.to_conv()
            slow = model.plan(imgs, cmd, state, past)
    finally:
        embed.proj = linear
    assert torch.allclose(fast, slow, atol=1e-5), float((fast - slow).abs().max())
