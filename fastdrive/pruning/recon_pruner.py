"""ReconPruner (FastDriveVLA): learnable query + one Qwen2.5-VL decoder layer (pre-LLM).

A learnable query ``Q (1, D)`` is prepended to the visual tokens
``V (N, D)``; the pair passes through ONE transformers
``Qwen2_5_VLDecoderLayer`` (built from a small ``Qwen2_5_VLTextConfig``)
with full, non-causal attention, giving ``Q*, V*``; the scores are
``S = Linear_{D->1}(V* ⊙ Q*)`` (Hadamard product, query broadcast). At
inference the top ``K = floor(N (1 - p))`` tokens by ``S`` are kept.

Rotary positions: the layer needs ``(cos, sin)``. By default
(``position_mode='sequential'``) the query sits at position 0 and the
visual tokens at ``1..N`` on all three M-RoPE axes (plain 1D RoPE over the
row-major token order). ``position_mode='none'`` uses position 0 for every
token (cos = 1, sin = 0: no rotation, a permutation-equivariant layer). If
``context.extra['visual_position_ids']`` holds the tokens' own ``(3, B, N)``
M-RoPE positions they are used instead, with the query one step before the
smallest position on each axis.

Training (a later issue) uses :meth:`ReconPruner.scores` and
:func:`straight_through_mask`.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Union

import torch
from torch import nn

from ..registry import PRUNERS
from ._utils import all_indices, check_tokens
from .base import KeepSpec, PruningContext, Selection, TokenPruner, resolve_keep, topk_sorted


def default_mrope_section(head_dim: int) -> List[int]:
    """Split ``head_dim // 2`` rotary frequencies over (t, h, w) like Qwen2.5-VL's [16, 24, 24]."""
    half = head_dim // 2
    t = max(1, round(half * 16 / 64)) if half >= 3 else 1
    h = (half - t) // 2
    return [t, h, half - t - h]


def straight_through_mask(scores: torch.Tensor) -> torch.Tensor:
    """FastDriveVLA's STE keep mask ``S + stopgrad(1[S > 0] - S)``, same shape as ``scores``."""
    hard = (scores > 0).to(scores.dtype)
    return scores + (hard - scores).detach()


@PRUNERS.register_module(name="recon")
class ReconPruner(TokenPruner):
    """FastDriveVLA's ReconPruner (inference path and checkpoint loading).

    Built in ``eval()`` mode; in ``train()`` mode (or with
    ``context.training``) :meth:`select` also returns the STE ``soft_mask``.
    Submodules: ``query (1, 1, D)``, ``decoder_layer``
    (``Qwen2_5_VLDecoderLayer``), ``rotary``, ``scorer`` (``Linear(D, 1)``).

    Args:
        hidden_size: ``D`` of the visual tokens (2048 for Qwen2.5-VL-3B).
        num_heads: attention heads of the pruner layer.
        num_kv_heads: key/value heads (grouped-query attention).
        intermediate_size: SwiGLU width of the layer's MLP.
        rms_norm_eps: RMS-norm epsilon.
        rope_theta: rotary base.
        mrope_section: rotary frequency split over (t, h, w); default
            proportional to Qwen2.5-VL's [16, 24, 24].
        position_mode: 'sequential' or 'none' (see the module docstring).
        attn_implementation: transformers attention backend ('sdpa' or
            'eager'); attention is non-causal either way.
    """

    stage = "pre_llm"

    def __init__(self, hidden_size: int = 2048, num_heads: int = 16, num_kv_heads: int = 2,
                 intermediate_size: int = 11008, rms_norm_eps: float = 1e-6, rope_theta: float = 1e6,
                 mrope_section: Optional[List[int]] = None, position_mode: str = "sequential",
                 attn_implementation: str = "sdpa") -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        if position_mode not in ("sequential", "none"):
            raise ValueError(f"position_mode must be 'sequential' or 'none', got {position_mode!r}")
        # transformers is imported here, not at module import, so that listing
        # pruners stays cheap.
        from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLTextConfig
        from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import (Qwen2_5_VLDecoderLayer,
                                                                        Qwen2_5_VLRotaryEmbedding)

        head_dim = hidden_size // num_heads
        section = list(mrope_section) if mrope_section is not None else default_mrope_section(head_dim)
        if sum(section) != head_dim // 2:
            raise ValueError(f"mrope_section {section} must sum to head_dim/2 = {head_dim // 2}")
        self.config_dict: Dict[str, Any] = dict(
            hidden_size=hidden_size, num_heads=num_heads, num_kv_heads=num_kv_heads,
            intermediate_size=intermediate_size, rms_norm_eps=rms_norm_eps, rope_theta=rope_theta,
            mrope_section=section, position_mode=position_mode, attn_implementation=attn_implementation)
        config = Qwen2_5_VLTextConfig(
            vocab_size=1, hidden_size=hidden_size, intermediate_size=intermediate_size,
            num_hidden_layers=1, num_attention_heads=num_heads, num_key_value_heads=num_kv_heads,
            rms_norm_eps=rms_norm_eps, bos_token_id=None, eos_token_id=None, pad_token_id=None,
            rope_parameters={"rope_type": "default", "rope_theta": float(rope_theta),
                             "mrope_section": section},
        )
        config._attn_implementation = attn_implementation
        self.hidden_size = hidden_size
        self.position_mode = position_mode
        self.query = nn.Parameter(torch.randn(1, 1, hidden_size) * 0.02)
        self.decoder_layer = Qwen2_5_VLDecoderLayer(config, layer_idx=0)
        # Full attention: the eager path is non-causal without a mask; SDPA reads
        # the module flag (and the ``is_causal=False`` kwarg we also pass).
        self.decoder_layer.self_attn.is_causal = False
        self.rotary = Qwen2_5_VLRotaryEmbedding(config)
        self.scorer = nn.Linear(hidden_size, 1)
        self.eval()  # built for inference; a trainer calls .train()

    def _positions(self, b: int, n: int, device: torch.device,
                   context: Optional[PruningContext]) -> torch.Tensor:
        """``(3, B, N + 1)`` long rotary positions (query first)."""
        given = context.extra.get("visual_position_ids") if context is not None else None
        if given is not None:
            pos = given.to(device).long()
            if pos.shape != (3, b, n):
                raise ValueError(f"context.extra['visual_position_ids'] must be (3, B, N) = {(3, b, n)}")
            q_pos = pos.amin(dim=2, keepdim=True) - 1
            return torch.cat([q_pos, pos], dim=2)
        if self.position_mode == "none":
            return torch.zeros(3, b, n + 1, dtype=torch.long, device=device)
        return torch.arange(n + 1, device=device).view(1, 1, -1).expand(3, b, -1)

    def scores(self, tokens: torch.Tensor, context: Optional[PruningContext] = None) -> torch.Tensor:
        """Foreground scores ``S`` ``(B, N)`` (differentiable; > 0 means foreground in training)."""
        check_tokens(tokens)
        b, n, d = tokens.shape
        if d != self.hidden_size:
            raise ValueError(f"recon pruner was built for hidden_size={self.hidden_size}, tokens have D={d}")
        dtype = self.query.dtype
        x = torch.cat([self.query.expand(b, -1, -1), tokens.to(dtype)], dim=1)  # (B, N+1, D)
        pos = self._positions(b, n, x.device, context)
        cos_sin = self.rotary(x, pos)
        out = self.decoder_layer(x, attention_mask=None, position_embeddings=cos_sin, is_causal=False)
        if isinstance(out, tuple):
            out = out[0]
        q_star, v_star = out[:, :1], out[:, 1:]
        return self.scorer(v_star * q_star).squeeze(-1)

    def select(self, tokens: torch.Tensor, keep: KeepSpec,
               context: Optional[PruningContext] = None) -> Selection:
        """Top-``K`` tokens by :meth:`scores`; ``soft_mask`` is the STE mask in training."""
        check_tokens(tokens)
        b, n, _ = tokens.shape
        k = resolve_keep(keep, n)
        training = self.training or bool(context is not None and context.training)
        if k == n and not training:
            return Selection(indices=all_indices(b, n, tokens.device))
        s = self.scores(tokens, context)
        soft = straight_through_mask(s) if training else None
        return Selection(indices=topk_sorted(s.detach(), k), scores=s.detach().float(), soft_mask=soft)

    @classmethod
    def from_checkpoint(cls, path: Union[str, os.PathLike], prefix: Optional[str] = None,
                        strict: bool = True, map_location: Union[str, torch.device] = "cpu",
                        **cfg: Any) -> "ReconPruner":
        """Build a pruner and load its weights from a file written by ``torch.save``.

        Accepts a bare state dict, or a dict with ``'state_dict'`` (mmengine
        checkpoints) and optionally ``'config'`` (constructor arguments,
        overridden by ``cfg``). ``prefix`` (e.g. ``'pruner.'``) selects and
        strips keys of a larger model; by default keys are used as they are
        if they match, else the common prefix ending in ``'query'`` is found.
        """
        blob = torch.load(path, map_location=map_location, weights_only=True)
        state = blob.get("state_dict", blob) if isinstance(blob, dict) else blob
        config = dict(blob.get("config", {})) if isinstance(blob, dict) and "state_dict" in blob else {}
        config.update(cfg)
        if prefix is None:
            qkeys = [key for key in state if key.endswith("query")]
            prefix = qkeys[0][: -len("query")] if len(qkeys) == 1 else ""
        if prefix:
            state = {key[len(prefix):]: val for key, val in state.items() if key.startswith(prefix)}
        if "hidden_size" not in config and "query" in state:
            config["hidden_size"] = int(state["query"].shape[-1])
        model = cls(**config)
        model.load_state_dict(state, strict=strict)
        return model

    def checkpoint_dict(self) -> Dict[str, Any]:
        """``{'state_dict', 'config'}`` for ``torch.save``; :meth:`from_checkpoint` reads it back."""
        return {"state_dict": self.state_dict(), "config": dict(self.config_dict)}

    def extra_repr(self) -> str:
        cfg = self.config_dict
        return (f"hidden_size={cfg['hidden_size']}, heads={cfg['num_heads']}, "
                f"position_mode={self.position_mode}")
