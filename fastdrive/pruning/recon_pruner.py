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

The pre-LLM adapter hands every pruner the tokens' own positions, so the
scorer sees at inference exactly the relative positions it was trained with
(:func:`visual_mrope_positions` builds them for training, without an LLM).

Weights: ``recon`` loads trained weights, never random ones silently. By
default (``weights='shipped'``) it reads the checkpoint shipped with
FastDrive for the embedded planner (:data:`SHIPPED_WEIGHTS`, trained with
``configs/recon_pruner/``); a path loads another file. A file whose width or
layout does not fit the requested pruner is a :class:`ReconCheckpointError`.
An untrained pruner is built only when asked for explicitly: the name
``recon_untrained``, or ``weights=None``.

Training: :class:`fastdrive.models.ReconPrunerTrainer` uses
:meth:`ReconPruner.scores` and :func:`straight_through_mask`.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Union

import torch
from torch import nn

from ..errors import ModelError
from ..registry import PRUNERS
from ._peaks import peaks_first as rank_peaks_first, sample_grids
from ._similarity import greedy_maxmin, mask_to_indices
from ._spatial import spatial_fill
from ._utils import all_indices, check_tokens
from .base import KeepSpec, PruningContext, Selection, TokenPruner, resolve_keep, topk_sorted

#: The ReconPruner trained for the embedded planner, objects as foreground
#: (configs/recon_pruner/recon_pruner_tiny-objects_1xb16-2e_fastdrive-world.py).
SHIPPED_WEIGHTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints",
                               "recon_pruner_tiny_fastdrive-world.pth")
RECON_FORMAT = "fastdrive-recon-pruner"
# constructor arguments that decide the layout of the weights
_LAYOUT_KEYS = ("hidden_size", "num_heads", "num_kv_heads", "intermediate_size", "mrope_section", "rope_theta")


class ReconCheckpointError(ModelError, ValueError):
    """A ReconPruner weight file is missing, unreadable, or does not fit the requested pruner."""


def visual_mrope_positions(grid_hw: "tuple[int, int]", batch: int = 1,
                           device: Optional[torch.device] = None) -> torch.Tensor:
    """``(3, B, h*w)`` M-RoPE positions (t, row, col) of one image's merged tokens, row-major.

    Qwen2.5-VL's ``get_rope_index`` gives an image's tokens ``offset + (0,
    row, col)``; attention only sees differences, so the offset is dropped.
    """
    h, w = int(grid_hw[0]), int(grid_hw[1])
    rows = torch.arange(h, device=device).repeat_interleave(w)
    cols = torch.arange(w, device=device).repeat(h)
    pos = torch.stack([torch.zeros_like(rows), rows, cols])  # (3, N)
    return pos[:, None].expand(3, batch, h * w)


def default_mrope_section(head_dim: int) -> List[int]:
    """Split ``head_dim // 2`` rotary frequencies over (t, h, w) like Qwen2.5-VL's [16, 24, 24]."""
    half = head_dim // 2
    t = max(1, round(half * 16 / 64)) if half >= 3 else 1
    h = (half - t) // 2
    return [t, h, half - t - h]


def standardize_scores(scores: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``(B, N)`` scores -> per-image z-scores ``(S - mean) / std`` (same top-K order as ``S``)."""
    return (scores - scores.mean(-1, keepdim=True)) / (scores.std(-1, keepdim=True) + eps)


def straight_through_mask(scores: torch.Tensor, surrogate: str = "identity") -> torch.Tensor:
    """Straight-through keep mask: ``1[S > 0]`` forward, same shape as ``scores``.

    ``surrogate='identity'`` is FastDriveVLA's ``S + stopgrad(1[S > 0] - S)``
    (gradient 1 w.r.t. ``S``); ``'sigmoid'`` passes the gradient of
    ``sigmoid(S)`` instead (``1[S > 0] + sigmoid(S) - stopgrad(sigmoid(S))``).
    With the identity surrogate nothing bounds the scores: on the embedded
    host they grew to 1e7 within 120 steps (gradient norms 1e5-1e12, the
    decoder frozen by clipping); the tiny configs use 'sigmoid'
    (docs/results.md).
    """
    hard = (scores > 0).to(scores.dtype)
    if surrogate == "identity":
        return scores + (hard - scores).detach()
    if surrogate == "sigmoid":
        soft = torch.sigmoid(scores)
        return hard + (soft - soft.detach())
    raise ValueError(f"surrogate must be 'identity' or 'sigmoid', got {surrogate!r}")


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
        weights: trained weights: 'shipped' (the file shipped for the
            embedded planner), a path to a file of :meth:`checkpoint_dict` /
            an mmengine checkpoint of ``ReconPrunerTrainer``, or None for an
            untrained pruner (asked for explicitly).
        peaks_first: at inference, rank in four tiers (:func:`._peaks.peaks_first`):
            local maxima of the positive scores in the token grid (one token
            per foreground blob), the other positive tokens, local maxima of
            the rest of the score map, the rest; False keeps the paper's plain
            top-``K``. Needs the grid in the context (the adapter gives it);
            without one the selection is top-``K``.
        diverse_fill: at inference, the share of the budget ``K`` filled by
            diversity: the top ``K - round(diverse_fill * K)`` tokens by score
            are kept, and the rest are added by DivPrune's greedy max-min
            cosine distance to the tokens already kept (0: the paper's rule).
        spatial_fill: at inference, the share of the budget filled by
            spreading over the image: the top ``K - round(spatial_fill * K)``
            tokens by score are kept, and the rest are added by farthest-point
            sampling on the token grid (:func:`._spatial.spatial_fill`; ties to
            the higher score). Needs the grid in the context (the adapter
            gives it); without one the tokens are spaced by index. At most
            one of ``diverse_fill`` / ``spatial_fill`` may be above 0.

    Selection options left at None take the selection the weight file
    recommends (its ``selection`` entry, written by ``export_recon
    --selection``, like a model's generation config), else the paper's plain
    top-``K``. A request that sets them overrides the file; one that sets
    either fill share sets the other to 0 unless it gives both.
    """

    stage = "pre_llm"
    request_options = ("peaks_first", "diverse_fill", "spatial_fill")

    def __init__(self, hidden_size: int = 2048, num_heads: int = 16, num_kv_heads: int = 2,
                 intermediate_size: int = 11008, rms_norm_eps: float = 1e-6, rope_theta: float = 1e6,
                 mrope_section: Optional[List[int]] = None, position_mode: str = "sequential",
                 attn_implementation: str = "sdpa", weights: Optional[str] = "shipped",
                 peaks_first: Optional[bool] = None, diverse_fill: Optional[float] = None,
                 spatial_fill: Optional[float] = None) -> None:
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
        self.selection_defaults: Dict[str, Any] = {}  # the weight file's recommended selection
        self.query = nn.Parameter(torch.randn(1, 1, hidden_size) * 0.02)
        self.decoder_layer = Qwen2_5_VLDecoderLayer(config, layer_idx=0)
        # Full attention: the eager path is non-causal without a mask; SDPA reads
        # the module flag (and the ``is_causal=False`` kwarg we also pass).
        self.decoder_layer.self_attn.is_causal = False
        self.rotary = Qwen2_5_VLRotaryEmbedding(config)
        self.scorer = nn.Linear(hidden_size, 1)
        self.eval()  # built for inference; a trainer calls .train()
        self.trained = weights is not None  # False: random weights (the 'recon_untrained' rows)
        self.weights_path: Optional[str] = None
        if weights is not None:
            self.load_weights(SHIPPED_WEIGHTS if weights == "shipped" else weights)
        chosen = {"peaks_first": peaks_first, "diverse_fill": diverse_fill, "spatial_fill": spatial_fill}
        file_defaults = dict(self.selection_defaults)
        if diverse_fill is not None or spatial_fill is not None:  # the request chose its fill
            file_defaults = {k: v for k, v in file_defaults.items() if k not in _FILL_KEYS}
        resolved = check_selection({k: v if v is not None else file_defaults.get(k, SELECTION_DEFAULTS[k])
                                    for k, v in chosen.items()})
        self.peaks_first, self.diverse_fill = resolved["peaks_first"], resolved["diverse_fill"]
        self.spatial_fill = resolved["spatial_fill"]

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
        """Top-``K`` tokens by :meth:`scores` (ranked peaks first, filled by diversity or spread, when asked).

        ``soft_mask`` is the STE mask in training; the selection options apply at inference only.
        """
        check_tokens(tokens)
        b, n, _ = tokens.shape
        k = resolve_keep(keep, n)
        training = self.training or bool(context is not None and context.training)
        if k == n and not training:
            return Selection(indices=all_indices(b, n, tokens.device))
        s = self.scores(tokens, context)
        soft = straight_through_mask(s) if training else None
        rank = s.detach()
        uses_grid = self.peaks_first or self.spatial_fill > 0
        grids = sample_grids(context, b, n) if uses_grid and not training else None
        if grids is not None and self.peaks_first:
            rank = rank_peaks_first(rank, grids)
        share = max(self.diverse_fill, self.spatial_fill)
        fill = min(int(round(share * k)), k - 1) if not training else 0  # the top score always stays
        if fill > 0:
            top = torch.zeros(b, n, dtype=torch.bool, device=tokens.device)
            top.scatter_(1, rank.topk(k - fill, dim=-1).indices, True)
            if self.spatial_fill > 0:
                mask = spatial_fill(top, k, grids, scores=s.detach())
            else:
                mask, _ = greedy_maxmin(tokens.detach(), k, preselected=top)
            return Selection(indices=mask_to_indices(mask), scores=s.detach().float(), soft_mask=soft)
        return Selection(indices=topk_sorted(rank, k), scores=s.detach().float(), soft_mask=soft)

    def load_weights(self, path: Union[str, os.PathLike]) -> None:
        """Load trained weights from ``path`` (see ``weights``); :class:`ReconCheckpointError` if they do not fit."""
        path = os.fspath(path)
        state, config, selection = read_recon_weights(path)
        mine = {k: self.config_dict[k] for k in _LAYOUT_KEYS}
        theirs = {k: config[k] for k in _LAYOUT_KEYS if k in config}
        if "hidden_size" not in theirs and "query" in state:
            theirs["hidden_size"] = int(state["query"].shape[-1])
        wrong = {k: (theirs[k], mine[k]) for k in theirs if list(_as_list(theirs[k])) != list(_as_list(mine[k]))}
        if wrong:
            detail = ", ".join(f"{k}: file {a} vs pruner {b}" for k, (a, b) in wrong.items())
            raise ReconCheckpointError(
                f"ReconPruner weights {path} were trained for another host ({detail}); train a pruner for this "
                f"model (configs/recon_pruner/) and pass weights=<file>, or ask for 'recon_untrained'")
        try:
            self.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        except RuntimeError as exc:
            raise ReconCheckpointError(f"ReconPruner weights {path} do not fit: {exc}") from None
        self.weights_path = path
        self.selection_defaults = check_selection(selection, path)

    @classmethod
    def from_checkpoint(cls, path: Union[str, os.PathLike], **cfg: Any) -> "ReconPruner":
        """Build a pruner sized by the file's recorded config (overridden by ``cfg``) and load it."""
        _, config, _ = read_recon_weights(os.fspath(path))
        from ..vla.pruner_sizing import init_parameters

        config = {k: v for k, v in config.items() if k in init_parameters(cls)}
        config.update(cfg)
        config["weights"] = os.fspath(path)
        return cls(**config)

    def checkpoint_dict(self, meta: Optional[Dict[str, Any]] = None,
                        selection: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """``{'format', 'state_dict', 'config', 'meta'[, 'selection']}`` for ``torch.save``; ``weights=<file>``
        reads it back. ``selection``: the selection options recommended with these weights (see the class)."""
        out = {"format": RECON_FORMAT, "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
               "config": dict(self.config_dict), "meta": dict(meta or {})}
        if selection:
            out["selection"] = check_selection(selection, "selection")
        return out

    def extra_repr(self) -> str:
        cfg = self.config_dict
        return (f"hidden_size={cfg['hidden_size']}, heads={cfg['num_heads']}, position_mode={self.position_mode}, "
                f"peaks_first={self.peaks_first}, diverse_fill={self.diverse_fill}, "
                f"spatial_fill={self.spatial_fill}, "
                f"weights={self.weights_path or 'untrained'}")


@PRUNERS.register_module(name="recon_untrained")
class UntrainedReconPruner(ReconPruner):
    """ReconPruner with its random initial weights, for tests and as a labelled table row.

    The same network as ``recon``; only the default is ``weights=None``.
    """

    def __init__(self, *args: Any, weights: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(*args, weights=weights, **kwargs)


def _as_list(value: Any) -> List[Any]:
    """A config value as a flat list (ints and lists compare alike)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def read_recon_weights(path: str) -> "tuple[Dict[str, torch.Tensor], Dict[str, Any], Dict[str, Any]]":
    """``(state_dict, config, selection)`` of a ReconPruner weight file (safe ``torch.load``).

    ``selection``: the selection options the file recommends (``{}`` when it has none; not yet validated).

    Reads :meth:`ReconPruner.checkpoint_dict` files, bare state dicts, and
    mmengine checkpoints of ``ReconPrunerTrainer`` (keys under ``pruner.``).
    """
    if not os.path.isfile(path):
        raise ReconCheckpointError(f"ReconPruner weights not found: {path} (train them with configs/recon_pruner/ "
                                   "or ask for 'recon_untrained')")
    from ..engine.checkpoint import register_checkpoint_safe_globals

    register_checkpoint_safe_globals()  # mmengine checkpoints (message hub, numpy) under weights_only=True
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file or arbitrary pickled objects
        raise ReconCheckpointError(f"cannot read ReconPruner weights {path}: {exc}") from None
    if not isinstance(blob, dict):
        raise ReconCheckpointError(f"{path} is not a ReconPruner weight file")
    state = blob.get("state_dict", blob)
    config = dict(blob.get("config") or {}) if "state_dict" in blob else {}
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ReconCheckpointError(f"{path} holds no tensor state dict")
    if "query" not in state:
        qkeys = [k for k in state if k.endswith(".query") or k == "query"]
        if len(qkeys) != 1:
            raise ReconCheckpointError(f"{path} holds no ReconPruner weights (no single '*query' tensor)")
        prefix = qkeys[0][: -len("query")]
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not config and isinstance(blob.get("meta"), dict) and isinstance(blob["meta"].get("pruner_config"), dict):
        config = dict(blob["meta"]["pruner_config"])
    selection = dict(blob["selection"]) if isinstance(blob.get("selection"), dict) else {}
    return state, config, selection


SELECTION_DEFAULTS: Dict[str, Any] = {"peaks_first": False, "diverse_fill": 0.0, "spatial_fill": 0.0}  # top-K
_FILL_KEYS = ("diverse_fill", "spatial_fill")


def check_selection(selection: Dict[str, Any], where: Optional[str] = None) -> Dict[str, Any]:
    """Selection options (keys of :data:`SELECTION_DEFAULTS`) validated and typed.

    Raises ``ValueError``; with ``where`` (the file or field they come from), a
    :class:`ReconCheckpointError` naming it.
    """
    error, prefix = (ValueError, "") if where is None else (ReconCheckpointError, f"{where}: ")
    unknown = sorted(set(selection) - set(SELECTION_DEFAULTS))
    if unknown:
        raise error(f"{prefix}unknown selection options {unknown} (known: {sorted(SELECTION_DEFAULTS)})")
    out: Dict[str, Any] = {}
    for key, value in selection.items():
        if key == "peaks_first":
            out[key] = bool(value)
        else:
            value = float(value)
            if not 0.0 <= value < 1.0:
                raise error(f"{prefix}{key} must be in [0, 1), got {value}")
            out[key] = value
    if all(out.get(key, 0.0) > 0 for key in _FILL_KEYS):
        raise error(f"{prefix}diverse_fill and spatial_fill cannot both be above 0 "
                    f"(got {out['diverse_fill']} and {out['spatial_fill']})")
    return out
