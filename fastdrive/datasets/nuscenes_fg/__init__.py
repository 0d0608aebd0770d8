"""nuScenes-FG: foreground-mask dataset built from nuScenes 3D boxes and the HD map.

Public API (imported lazily, so ``import fastdrive.datasets`` stays light and
registers :class:`NuScenesFGDataset` without loading the devkit or torch):

    FGClasses                 class definition from ``configs/nuscenes_fg/fg_classes.py``
    PromptExtractor           prompts of a camera image (boxes, traffic lights, road)
    BoxSegmenter, SamSegmenter, build_segmenter
    compose_mask              per-class id mask, nearer objects win
    BuildOptions, run_build, merge_shards, BuildError
    load_sam, SamCheckpointError, tiny_sam_config, build_sam_from_config
    NuScenesFGDataset         mmengine dataset over the written index
"""

from __future__ import annotations

import importlib
from typing import Any

from .dataset import NuScenesFGDataset

_LAZY = {
    "CAMERAS": "inputs",
    "BuildError": "inputs",
    "BuildOptions": "inputs",
    "merge_shards": "outputs",
    "run_build": "builder",
    "FGClasses": "classes",
    "FGConfigError": "classes",
    "ObjectMask": "compose",
    "compose_mask": "compose",
    "ImagePrompts": "prompts",
    "ObjectPrompt": "prompts",
    "PromptExtractor": "prompts",
    "SamCheckpointError": "sam_models",
    "build_sam_from_config": "sam_models",
    "load_sam": "sam_models",
    "tiny_sam_config": "sam_models",
    "BoxSegmenter": "segmenters",
    "SamSegmenter": "segmenters",
    "build_segmenter": "segmenters",
}

__all__ = ["NuScenesFGDataset", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
