"""ReconPruner's reconstruction decoder and loss (FastDriveVLA training).

:class:`ReconDecoder`: Qwen2.5-VL decoder layers with full attention over
the (masked) visual tokens at their own M-RoPE positions, then a pixel head
that turns each token into the ``unit x unit`` RGB patch it covers (28 px
for Qwen2.5-VL: 14 px patches merged 2x2), reassembled into the image.

:func:`reconstruction_loss`: ``lam * (1 - SSIM) + (1 - lam) * MSE`` per
image, SSIM from pytorch-msssim (Gaussian window 11, sigma 1.5).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from pytorch_msssim import ssim
from torch import nn


class ReconDecoder(nn.Module):
    """Tokens ``(B, N, D)`` on an ``h x w`` grid -> images ``(B, 3, h*unit, w*unit)`` in [0, 1].

    Args:
        hidden_size / num_heads / num_kv_heads / intermediate_size /
        rms_norm_eps / rope_theta / mrope_section: the decoder layers' sizes
            (by default the host LLM's, like the pruner layer).
        depth: number of decoder layers (6 in FastDriveVLA).
        unit: pixels per token side.
    """

    def __init__(self, hidden_size: int, num_heads: int, num_kv_heads: int, intermediate_size: int,
                 mrope_section: List[int], depth: int = 6, unit: int = 28, rms_norm_eps: float = 1e-6,
                 rope_theta: float = 1e6) -> None:
        super().__init__()
        from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLTextConfig
        from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import (Qwen2_5_VLDecoderLayer,
                                                                        Qwen2_5_VLRMSNorm,
                                                                        Qwen2_5_VLRotaryEmbedding)

        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        config = Qwen2_5_VLTextConfig(
            vocab_size=1, hidden_size=hidden_size, intermediate_size=intermediate_size,
            num_hidden_layers=max(depth, 1), num_attention_heads=num_heads, num_key_value_heads=num_kv_heads,
            rms_norm_eps=rms_norm_eps, bos_token_id=None, eos_token_id=None, pad_token_id=None,
            rope_parameters={"rope_type": "default", "rope_theta": float(rope_theta),
                             "mrope_section": list(mrope_section)})
        config._attn_implementation = "sdpa"
        self.unit = int(unit)
        self.layers = nn.ModuleList(Qwen2_5_VLDecoderLayer(config, layer_idx=i) for i in range(depth))
        for layer in self.layers:
            layer.self_attn.is_causal = False
        self.rotary = Qwen2_5_VLRotaryEmbedding(config)
        self.norm = Qwen2_5_VLRMSNorm(hidden_size, eps=rms_norm_eps)
        self.pixel_head = nn.Linear(hidden_size, 3 * self.unit * self.unit)

    def forward(self, tokens: torch.Tensor, grid_hw: Tuple[int, int], positions: torch.Tensor) -> torch.Tensor:
        """Reconstruct images.

        Args:
            tokens: ``(B, N, D)`` with ``N = h * w`` (masked tokens are zeros).
            grid_hw: ``(h, w)`` token grid, row-major.
            positions: ``(3, B, N)`` M-RoPE positions of the tokens.

        Returns:
            ``(B, 3, h * unit, w * unit)`` in [0, 1].
        """
        b, n, _ = tokens.shape
        h, w = grid_hw
        if n != h * w:
            raise ValueError(f"{n} tokens do not fill a {h}x{w} grid")
        x = tokens
        cos_sin = self.rotary(x, positions)
        for layer in self.layers:
            out = layer(x, attention_mask=None, position_embeddings=cos_sin, is_causal=False)
            x = out[0] if isinstance(out, tuple) else out
        patches = torch.sigmoid(self.pixel_head(self.norm(x)))  # (B, N, 3*u*u)
        u = self.unit
        img = patches.view(b, h, w, 3, u, u).permute(0, 3, 1, 4, 2, 5)  # (B, 3, h, u, w, u)
        return img.reshape(b, 3, h * u, w * u)


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, lam: float = 0.2,
                        reduction: str = "mean", region: Optional[torch.Tensor] = None) -> torch.Tensor:
    """FastDriveVLA's per-branch loss ``lam * (1 - SSIM) + (1 - lam) * MSE``.

    Args:
        pred / target: ``(B, 3, H, W)`` in [0, 1].
        lam: SSIM weight (0.2 in the paper; 0 gives MSE only).
        reduction: 'mean' (a scalar) or 'none' (``(B,)``).
        region: ``(B, 1, H, W)`` weights in [0, 1], or None. When given, the
            prediction is multiplied by it (what it paints outside costs
            nothing) and the MSE is the mean over the region's own pixels
            (``sum(region * err) / sum(region)``; 0 for an empty region),
            so a small region weighs as much per pixel as a large one.
    """
    if region is None:
        mse = (pred - target).pow(2).flatten(1).mean(1)
    else:
        pred = pred * region
        area = region.flatten(1).sum(1) * pred.shape[1]
        mse = ((pred - target).pow(2) * region).flatten(1).sum(1) / area.clamp_min(1.0)
    loss = (1.0 - lam) * mse
    if lam > 0:
        s = ssim(pred, target, data_range=1.0, size_average=False)  # (B,)
        loss = loss + lam * (1.0 - s)
    return loss.mean() if reduction == "mean" else loss


def token_shares(mask: torch.Tensor, unit: int) -> torch.Tensor:
    """``(B, 1, H, W)`` mask in [0, 1] -> ``(B, N)`` mean per ``unit x unit`` token cell, row-major."""
    return nn.functional.avg_pool2d(mask.float(), unit).flatten(1)
