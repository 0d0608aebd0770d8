"""``PrunedQwen25VL``: a Qwen2.5-VL model and its (optional) pruner as one object."""

from __future__ import annotations

import os
from typing import Any, Optional, Union

import torch
from torch import nn

from ..pruning.base import KeepSpec, TokenPruner
from ._state import PruningRecord
from .adapter import PruningHandle, attach_pruner
from .loading import load_qwen25vl


class PrunedQwen25VL:
    """Calls go to the wrapped ``Qwen2_5_VLForConditionalGeneration``; a pruner
    attached through :func:`attach_pruner` acts on every prefill with images.

    ``PrunedQwen25VL(model)`` (no pruner) is exactly the stock model.
    ``set_pruner`` swaps the method, ``keep`` the budget, per call if needed;
    ``detach()`` returns the untouched model.
    """

    def __init__(self, model: nn.Module, pruner: Optional[TokenPruner] = None, keep: KeepSpec = 1.0,
                 session_id: Optional[str] = None) -> None:
        self.model = model
        self.handle: Optional[PruningHandle] = None
        if pruner is not None:
            self.set_pruner(pruner, keep, session_id)

    @classmethod
    def from_pretrained(cls, checkpoint_dir: Union[str, os.PathLike], pruner: Optional[TokenPruner] = None,
                        keep: KeepSpec = 1.0, dtype: torch.dtype = torch.float32,
                        device: Union[str, torch.device] = "cpu") -> "PrunedQwen25VL":
        """Load a local checkpoint (see :func:`load_qwen25vl`) and attach ``pruner``."""
        return cls(load_qwen25vl(checkpoint_dir, dtype=dtype, device=device), pruner, keep)

    def set_pruner(self, pruner: Optional[TokenPruner], keep: KeepSpec = 1.0,
                   session_id: Optional[str] = None) -> None:
        """Replace the pruner (None: prune nothing, stock behaviour)."""
        if self.handle is not None:
            self.handle.detach()
            self.handle = None
        if pruner is not None:
            self.handle = attach_pruner(self.model, pruner, keep, session_id=session_id)

    @property
    def keep(self) -> Optional[KeepSpec]:
        return self.handle.keep if self.handle is not None else None

    @keep.setter
    def keep(self, value: KeepSpec) -> None:
        if self.handle is None:
            raise ValueError("no pruner attached")
        self.handle.keep = value

    @property
    def last(self) -> Optional[PruningRecord]:
        """Provenance of the last pruned prefill (kept tokens as grid coordinates)."""
        return self.handle.last if self.handle is not None else None

    def __call__(self, **inputs: Any) -> Any:
        return self.model(**inputs)

    forward = __call__

    def generate(self, **inputs: Any) -> torch.Tensor:
        return self.model.generate(**inputs)

    def detach(self) -> nn.Module:
        """Remove the pruner; returns the stock model."""
        self.set_pruner(None)
        return self.model
