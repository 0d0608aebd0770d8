"""The TokenPruner interface shared by every pruning method.

A pruner chooses which visual tokens a VLA keeps. It is called once per
forward pass with the visual tokens after the vision merger (pre-LLM methods)
or with the hidden states and attention rows of LLM layer ``K`` (in-LLM
methods); in both cases it returns a :class:`Selection` whose ``indices`` are
sorted ascending, so the adapter can gather the original M-RoPE position ids
and keep spatial order.

Shapes: ``B`` batch, ``N`` visual tokens per sample, ``D`` hidden width,
``T`` text tokens, ``K`` kept tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import torch
from torch import nn

Stage = Literal["pre_llm", "in_llm"]
KeepSpec = Union[int, float]


def resolve_keep(keep: KeepSpec, num_tokens: int) -> int:
    """Number of tokens to keep out of ``num_tokens``.

    Args:
        keep: an int (absolute count, clipped to ``[1, num_tokens]``) or a
            float in ``(0, 1]``: the share to keep. A pruning ratio ``p``
            corresponds to ``keep = 1 - p`` and keeps ``floor(N * (1 - p))``.
        num_tokens: ``N``.

    Raises:
        ValueError: for a float outside ``(0, 1]``, a non-positive int or a
            bool.
    """
    if isinstance(keep, bool):
        raise ValueError("keep must be an int count or a float share, not a bool")
    if isinstance(keep, int):
        if keep <= 0:
            raise ValueError(f"keep must be positive, got {keep}")
        return min(keep, num_tokens)
    keep = float(keep)
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep share must be in (0, 1], got {keep}")
    # Small epsilon so that e.g. 0.75 * 3249 = 2436.75 -> 2436 but
    # (1 - 0.25) * 100 = 75.00000000000001 -> 75 is not lost to rounding.
    return max(1, min(num_tokens, int(math.floor(num_tokens * keep + 1e-6))))


def keep_from_ratio(pruning_ratio: float) -> float:
    """Share to keep for a pruning ratio ``p`` in ``[0, 1)`` (0.75 -> 0.25)."""
    if not 0.0 <= pruning_ratio < 1.0:
        raise ValueError(f"pruning ratio must be in [0, 1), got {pruning_ratio}")
    return 1.0 - pruning_ratio


@dataclass
class PruningContext:
    """What some methods need and others ignore.

    Attributes:
        grid_hw: token grid ``(H, W)`` per image of the first sample; a
            sample holding several images concatenates their tokens in order.
        sample_grids: the same per sample (``B`` lists), for batches whose
            samples hold different grids with the same token count (e.g.
            ``9x16`` and ``16x9``); None: every sample has ``grid_hw``.
        text_embeds: ``(B, T, D)`` embeddings of the prompt's text tokens.
        text_mask: ``(B, T)`` bool, True for real (non-padding) text tokens.
        hidden_states: ``(B, L, D)`` LLM hidden states at the method's layer
            (in-LLM methods), full sequence ``L``.
        visual_positions: ``(B, N)`` long, column of each visual token in
            the full sequence (in-LLM methods).
        attention: ``(B, Q, L)`` attention probabilities (head-mean) of the
            query rows the method asked for (``attention_rows``) over the
            full sequence, computed by the adapter at the method's layer.
        keys: ``(B, L, D_k)`` key states at the method's layer (DART).
        vision_attention: ``(B, N)`` attention each token received in the
            vision tower (VisPruner), when the host provides it.
        session_id: key of the temporal state (VLA-Pruner).
        state: the method's state from the previous call of this session.
        training: True while the method is being trained (noise, STE).
        extra: anything else, by name.
    """

    grid_hw: Optional[Sequence[Tuple[int, int]]] = None
    sample_grids: Optional[Sequence[Sequence[Tuple[int, int]]]] = None
    text_embeds: Optional[torch.Tensor] = None
    text_mask: Optional[torch.Tensor] = None
    hidden_states: Optional[torch.Tensor] = None
    visual_positions: Optional[torch.Tensor] = None
    attention: Optional[torch.Tensor] = None
    keys: Optional[torch.Tensor] = None
    vision_attention: Optional[torch.Tensor] = None
    session_id: Optional[str] = None
    state: Any = None
    training: bool = False
    extra: Dict[str, Any] = field(default_factory=dict)

    def per_sample_grids(self, batch: int) -> List[Optional[List[Tuple[int, int]]]]:
        """Per sample of a batch of ``batch``, the ``(H, W)`` grid of each image (None where unknown).

        ``sample_grids`` when it covers the batch, else ``grid_hw`` for every sample.
        """
        rows = self.sample_grids if self.sample_grids is not None and len(self.sample_grids) == batch \
            else [self.grid_hw] * batch
        return [None if g is None else [(int(h), int(w)) for h, w in g] for g in rows]


@dataclass
class Selection:
    """The result of one pruning call.

    Attributes:
        indices: ``(B, K)`` long, kept token indices into ``[0, N)``, sorted
            ascending per row. For adaptive methods whose count differs per
            sample, rows are padded with ``-1`` at the end and ``counts``
            gives the real length.
        scores: ``(B, N)`` float importance scores (higher = more
            important), or None for methods without scores.
        counts: ``(B,)`` long, number of valid indices per row.
        state: new temporal state for the session (None if stateless).
        extra_tokens: ``(B, R, D)`` tokens to append after the kept ones
            (SparseVLM's recycled cluster centres), or None.
        soft_mask: ``(B, N)`` differentiable keep-mask for training (STE),
            or None.
    """

    indices: torch.Tensor
    scores: Optional[torch.Tensor] = None
    counts: Optional[torch.Tensor] = None
    state: Any = None
    extra_tokens: Optional[torch.Tensor] = None
    soft_mask: Optional[torch.Tensor] = None

    def __post_init__(self) -> None:
        if self.counts is None:
            b, k = self.indices.shape
            self.counts = torch.full((b,), k, dtype=torch.long, device=self.indices.device)

    def row(self, b: int) -> torch.Tensor:
        """``(counts[b],)`` valid kept indices of sample ``b``."""
        return self.indices[b, : int(self.counts[b])]


class TokenPruner(nn.Module):
    """Base class of every pruning method.

    Subclasses set ``stage`` ('pre_llm': acts on merger output before LLM
    layer 0; 'in_llm': acts between LLM layers ``layer - 1`` and ``layer``)
    and, for in-LLM methods, ``layer`` and ``attention_rows`` (which query
    rows the adapter must compute attention for: 'last' = the last token,
    'text' = the text tokens, 'all' = every row, 'none').

    Pruners are ``nn.Module`` so that learnable ones (ReconPruner,
    LightVLA*) carry parameters and state dicts; parameter-free ones simply
    have none.
    """

    stage: Stage = "pre_llm"
    layer: int = 0
    attention_rows: Literal["none", "last", "text", "all"] = "none"
    needs_keys: bool = False
    stateful: bool = False
    adaptive: bool = False
    #: constructor arguments a caller may set per request (a service's allow-list):
    #: never one that sizes a network, names a file or costs unbounded memory
    request_options: Tuple[str, ...] = ()

    def select(
        self,
        tokens: torch.Tensor,
        keep: KeepSpec,
        context: Optional[PruningContext] = None,
    ) -> Selection:
        """Choose the tokens to keep.

        Args:
            tokens: ``(B, N, D)`` visual tokens (merger output for pre-LLM
                methods, LLM hidden states of the visual span for in-LLM).
            keep: int count or float share in ``(0, 1]`` (see
                :func:`resolve_keep`). Adaptive methods treat it as an upper
                bound or ignore it, and report their count in ``counts``.
            context: see :class:`PruningContext`.

        Returns:
            A :class:`Selection` with ascending ``indices``.
        """
        raise NotImplementedError

    def reset(self, session_id: Optional[str] = None) -> None:
        """Forget temporal state (all sessions, or one)."""

    def extra_repr(self) -> str:
        return f"stage={self.stage}, layer={self.layer}"


def topk_sorted(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` largest scores per row, sorted ascending.

    Args:
        scores: ``(B, N)``.
        k: number to keep, ``1 <= k <= N``.

    Returns:
        ``(B, k)`` long.
    """
    idx = scores.topk(k, dim=-1).indices
    return idx.sort(dim=-1).values


def pad_rows(rows: List[torch.Tensor], device: Optional[torch.device] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length index rows, padding with -1.

    Args:
        rows: B tensors of shape ``(K_b,)``, each sorted ascending.

    Returns:
        ``indices (B, max K_b)`` and ``counts (B,)``.
    """
    device = device or (rows[0].device if rows else torch.device("cpu"))
    kmax = max((int(r.numel()) for r in rows), default=0)
    out = torch.full((len(rows), kmax), -1, dtype=torch.long, device=device)
    counts = torch.zeros(len(rows), dtype=torch.long, device=device)
    for b, r in enumerate(rows):
        out[b, : r.numel()] = r.to(device)
        counts[b] = r.numel()
    return out, counts
