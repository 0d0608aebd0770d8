"""Qwen2.5-VL integration: the removable pruning adapter, loading, a tiny test model.

Public API:
    :func:`install_adapter` / :class:`PruningAdapter` (per-call pruning through
    a context variable: ``with adapter.pruning(pruner, keep) as call``),
    :func:`attach_pruner` / :class:`PruningHandle` (``handle.detach()``),
    :class:`PrunedQwen25VL` (a thin wrapper owning a handle),
    :class:`PruningRecord` (which tokens were kept, as grid coordinates),
    :func:`load_qwen25vl` (local checkpoint directory only),
    :func:`tiny_qwen25vl_config`, :func:`build_tiny_qwen25vl`,
    :func:`synthetic_image_inputs`.
"""

from .adapter import PruningAdapter, PruningCall, PruningHandle, attach_pruner, install_adapter
from ._state import PruningRecord
from .loading import CheckpointError, check_qwen25vl_dir, load_qwen25vl
from .tiny import build_tiny_qwen25vl, random_prompt, synthetic_image_inputs, tiny_qwen25vl_config
from .wrapper import PrunedQwen25VL

__all__ = [
    "PrunedQwen25VL",
    "PruningAdapter",
    "PruningCall",
    "PruningHandle",
    "install_adapter",
    "PruningRecord",
    "attach_pruner",
    "CheckpointError",
    "check_qwen25vl_dir",
    "load_qwen25vl",
    "build_tiny_qwen25vl",
    "random_prompt",
    "synthetic_image_inputs",
    "tiny_qwen25vl_config",
]
