"""Qwen2.5-VL's patch embedding as one matrix product.

The vision tower embeds each ``C x T x P x P`` patch with a ``Conv3d`` whose
kernel equals its stride, applied to ``N`` separate patch-sized inputs. On a
CPU that runs as ``N`` tiny convolutions (a fifth of the embedded planner's
time, and more per sample in a batch than alone); it is the same arithmetic as
``F.linear`` on the flattened patches. :class:`PatchLinear` holds the very same
parameters under the same names (``weight`` of shape ``(D, C, T, P, P)``,
``bias``), so state dicts and checkpoints load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class PatchLinear(nn.Module):
    """Drop-in for a ``Conv3d`` with ``kernel_size == stride``, no padding, dilation 1, groups 1.

    ``forward``: ``(N, C, T, P, P)`` -> ``(N, D, 1, 1, 1)``, as the convolution gives.
    """

    def __init__(self, conv: nn.Conv3d) -> None:
        super().__init__()
        if not is_patch_conv(conv):
            raise ValueError(f"not a patch convolution (kernel == stride, no padding): {conv}")
        self.kernel_size = tuple(conv.kernel_size)
        self.weight = conv.weight
        self.bias = conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        out = F.linear(x.reshape(n, -1), self.weight.reshape(self.weight.shape[0], -1), self.bias)
        return out.view(n, -1, 1, 1, 1)

    def to_conv(self) -> nn.Conv3d:
        """The stock ``Conv3d`` with a copy of these parameters (for side-by-side checks)."""
        conv = nn.Conv3d(self.weight.shape[1], self.weight.shape[0], kernel_size=self.kernel_size,
                         stride=self.kernel_size, bias=self.bias is not None).to(self.weight)
        conv.load_state_dict(self.state_dict())
        return conv

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, kernel_size={self.kernel_size}"


def is_patch_conv(conv: nn.Module) -> bool:
    """True for a ``Conv3d`` that embeds whole patches (kernel == stride, no padding or groups)."""
    return (isinstance(conv, nn.Conv3d) and tuple(conv.kernel_size) == tuple(conv.stride)
            and all(p == 0 for p in conv.padding) and tuple(conv.dilation) == (1, 1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros")


def use_linear_patch_embed(vlm: nn.Module) -> bool:
    """Replace the patch convolution of a ``Qwen2_5_VLForConditionalGeneration`` by :class:`PatchLinear`.

    Returns False (and changes nothing) when the tower has no such convolution.
    """
    embed = getattr(getattr(getattr(vlm, "model", None), "visual", None), "patch_embed", None)
    conv = getattr(embed, "proj", None)
    if conv is None or not is_patch_conv(conv):
        return False
    embed.proj = PatchLinear(conv)
    return True
