"""Visual-token pruning methods behind one interface.

Public entry points (the service, the evaluation and outside checks rely on
them): :func:`list_pruners` and :func:`build_pruner`.
"""

from __future__ import annotations

from typing import Any, List

from ..registry import PRUNERS
from .base import (KeepSpec, PruningContext, Selection, TokenPruner, keep_from_ratio,
                   pad_rows, resolve_keep, topk_sorted)

# Importing the method modules registers them in PRUNERS.
from . import (dart, divprune, fastv, grid, lightvla, oracle, random_pruner,  # noqa: F401,E402
               recon_pruner, sparsevlm, vispruner, vla_pruner)


def is_evaluation_only(name: str) -> bool:
    """True for the ground-truth oracles (:mod:`.oracle`): bounds for the evaluation, never served."""
    cls = PRUNERS.module_dict.get(name)
    return bool(getattr(cls, "evaluation_only", False))


def list_pruners(include_oracles: bool = False) -> List[str]:
    """Names of the registered pruning methods, sorted.

    The evaluation-only ground-truth oracles (``oracle_*``) are left out
    unless ``include_oracles``: this is the list a service may offer.
    """
    return sorted(n for n in PRUNERS.module_dict if include_oracles or not is_evaluation_only(n))


def build_pruner(name: str, **kwargs: Any) -> TokenPruner:
    """Build a registered pruner by name.

    Args:
        name: one of :func:`list_pruners`.
        **kwargs: constructor arguments of that method.

    Raises:
        KeyError: for an unknown name, listing the known ones.
    """
    if name not in PRUNERS.module_dict:
        raise KeyError(f"unknown pruner {name!r}; registered: {', '.join(list_pruners())}")
    return PRUNERS.build(dict(type=name, **kwargs))


__all__ = [
    "KeepSpec", "PruningContext", "Selection", "TokenPruner", "build_pruner", "is_evaluation_only",
    "keep_from_ratio", "list_pruners", "pad_rows", "resolve_keep", "topk_sorted", "PRUNERS",
]
