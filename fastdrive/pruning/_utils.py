"""Small tensor helpers shared by the pruning methods (private).

Shapes: ``B`` batch, ``N`` visual tokens, ``D`` width, ``Q`` query rows,
``L`` full sequence length.
"""

from __future__ import annotations

from typing import Optional

import torch

from .base import PruningContext


def check_tokens(tokens: torch.Tensor) -> None:
    """Raise a clear error unless ``tokens`` is ``(B, N, D)`` with ``N >= 1``."""
    if tokens.dim() != 3:
        raise ValueError(f"tokens must be (B, N, D), got shape {tuple(tokens.shape)}")
    if tokens.shape[1] < 1:
        raise ValueError("tokens must hold at least one visual token")


def all_indices(batch: int, num_tokens: int, device: torch.device) -> torch.Tensor:
    """``(B, N)`` long: every index ``0..N-1`` per row (nothing pruned)."""
    return torch.arange(num_tokens, device=device).unsqueeze(0).expand(batch, -1).contiguous()


def rms_normalize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Parameter-free RMS normalisation over the last dim (same shape)."""
    xf = x.float()
    return xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)


def l2_normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Unit vectors over the last dim, computed in float32 (same shape)."""
    xf = x.float()
    return xf / xf.norm(dim=-1, keepdim=True).clamp_min(eps)


def cosine_similarity_matrix(x: torch.Tensor) -> torch.Tensor:
    """``(B, N, N)`` float32 pairwise cosine similarity of ``x (B, N, D)``."""
    xn = l2_normalize(x)
    return xn @ xn.transpose(1, 2)


def visual_columns(
    attention: torch.Tensor,
    visual_positions: Optional[torch.Tensor],
    num_tokens: int,
) -> torch.Tensor:
    """Restrict attention rows to the visual columns.

    Args:
        attention: ``(B, Q, L)`` head-mean attention probabilities, or
            ``(B, H, Q, L)`` per head (averaged over ``H`` here).
        visual_positions: ``(B, N)`` long column of each visual token in the
            full sequence; None when ``attention`` already has ``L == N``
            visual columns only.
        num_tokens: ``N``.

    Returns:
        ``(B, Q, N)`` float32.
    """
    if attention.dim() == 4:
        attention = attention.float().mean(dim=1)
    if attention.dim() != 3:
        raise ValueError(f"attention must be (B, Q, L) or (B, H, Q, L), got {tuple(attention.shape)}")
    attention = attention.float()
    if visual_positions is None:
        if attention.shape[-1] != num_tokens:
            raise ValueError(
                "context.visual_positions is required when attention covers the full sequence "
                f"(attention has {attention.shape[-1]} columns, there are {num_tokens} visual tokens)")
        return attention
    if visual_positions.shape[-1] != num_tokens:
        raise ValueError(f"visual_positions has {visual_positions.shape[-1]} columns, expected {num_tokens}")
    index = visual_positions.to(attention.device).long().unsqueeze(1).expand(-1, attention.shape[1], -1)
    return attention.gather(-1, index)


def require_attention(context: Optional[PruningContext], method: str) -> torch.Tensor:
    """``context.attention`` or a ValueError naming the method."""
    if context is None or context.attention is None:
        raise ValueError(f"{method} needs context.attention (the host model's attention rows at its layer); "
                         "run it through the VLA adapter or pass a PruningContext with attention")
    return context.attention
