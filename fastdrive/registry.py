"""The one registry module of FastDrive.

``MODELS``, ``DATASETS``, ``DATA_SAMPLERS``, ``TRANSFORMS``, ``METRICS`` and
``HOOKS`` are children of mmengine's root registries, so that mmengine's
``Runner`` builds our models, datasets, transforms and metrics from config
dicts (``type='ReconPrunerTrainer'``) and falls back to mmengine's own
components (optimizers, hooks, schedulers) by the same name lookup. They are
created on first access (PEP 562), so importing this module, and the
pruners that register here, does not load mmengine.

``PRUNERS`` has no mmengine parent: pruners are FastDrive's own concept,
built by name by the service, the evaluation and the trainers, and the
planner core imports them without the training stack. It is a
:class:`NameRegistry`, with the part of mmengine's interface the project
uses (``register_module``, ``module_dict``, ``get``, ``build``).
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Callable, Dict, Mapping, Optional

_MMENGINE_PARENTS = {
    "MODELS": ("MODELS", "model", "fastdrive.models"),
    "DATASETS": ("DATASETS", "dataset", "fastdrive.datasets"),
    "DATA_SAMPLERS": ("DATA_SAMPLERS", "data sampler", "fastdrive.datasets"),
    "TRANSFORMS": ("TRANSFORMS", "transform", "fastdrive.datasets"),
    "METRICS": ("METRICS", "metric", "fastdrive.evaluation"),
    "HOOKS": ("HOOKS", "hook", "fastdrive.engine"),
}


class NameRegistry:
    """Classes by name, built from ``dict(type=name, **kwargs)``.

    Args:
        name: what the registry holds (for messages).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.module_dict: Dict[str, type] = {}

    def register_module(self, name: Optional[str] = None, force: bool = False) -> Callable[[type], type]:
        """Class decorator registering the class under ``name`` (default: its own name)."""
        def deco(cls: type) -> type:
            key = name or cls.__name__
            if key in self.module_dict and not force:
                raise KeyError(f"{key!r} is already registered in {self.name}")
            self.module_dict[key] = cls
            return cls
        return deco

    def get(self, key: str) -> Optional[type]:
        return self.module_dict.get(key)

    def build(self, cfg: Mapping[str, Any]) -> Any:
        """Instantiate ``cfg['type']`` with the other keys as keyword arguments."""
        args = copy.copy(dict(cfg))
        key = args.pop("type")
        cls = key if isinstance(key, type) else self.module_dict.get(key)
        if cls is None:
            raise KeyError(f"{key!r} is not in the {self.name} registry; known: {', '.join(sorted(self.module_dict))}")
        return cls(**args)

    def __contains__(self, key: str) -> bool:
        return key in self.module_dict

    def __repr__(self) -> str:
        return f"NameRegistry({self.name!r}, {sorted(self.module_dict)})"


PRUNERS = NameRegistry("pruner")
_LOCK = threading.Lock()


def __getattr__(name: str) -> Any:
    """Create an mmengine-backed registry on first access (imports mmengine then)."""
    if name not in _MMENGINE_PARENTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from mmengine import registry as mm_registry

    with _LOCK:
        if name not in globals():  # another thread may have been first
            parent_name, label, location = _MMENGINE_PARENTS[name]
            globals()[name] = mm_registry.Registry(label, parent=getattr(mm_registry, parent_name),
                                                   locations=[location])
    return globals()[name]


__all__ = ["MODELS", "DATASETS", "DATA_SAMPLERS", "TRANSFORMS", "METRICS", "HOOKS", "PRUNERS", "NameRegistry"]
