"""The foreground class definition of nuScenes-FG, built from a config dict.

The mapping from nuScenes categories to foreground classes lives in a config
(``configs/nuscenes_fg/fg_classes.py``), never in code: :class:`FGClasses`
reads that config (as a plain mapping) and answers "which class id does this
annotation get?".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple


class FGConfigError(ValueError):
    """The foreground class config is malformed."""


@dataclass(frozen=True)
class FGClasses:
    """Foreground classes and the category mapping.

    Attributes:
        names: class names by id; ``names[0]`` is ``'background'``.
        palette: RGB colour per class id.
        category_map: nuScenes category prefix -> class id (longest prefix wins).
        min_visibility: skip annotations with a nuScenes visibility level below it.
        road: ``{'class_id', 'layers', 'max_range'}`` for the map road prompt.
        traffic_light: ``{'class_id', 'height', 'max_range', 'parts': [{'size_wl', 'z'}, ...]}``.
        synthetic_gt: class name -> ground-truth semantic names (quality checks only).
    """

    names: Tuple[str, ...]
    palette: Tuple[Tuple[int, int, int], ...]
    category_map: Dict[str, int]
    min_visibility: int = 1
    road: Dict[str, Any] = field(default_factory=dict)
    traffic_light: Dict[str, Any] = field(default_factory=dict)
    synthetic_gt: Dict[str, List[str]] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes including background."""
        return len(self.names)

    def class_id(self, name: str) -> int:
        """Id of the class called ``name`` (``FGConfigError`` if unknown)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise FGConfigError(f"unknown class name {name!r}; classes are {list(self.names)}") from None

    def category_to_class(self, category: str) -> Optional[int]:
        """Class id for a nuScenes category name, or None if it is not foreground."""
        best: Optional[Tuple[int, int]] = None
        for prefix, cid in self.category_map.items():
            if category == prefix or category.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), cid)
        return None if best is None else best[1]

    def metainfo(self) -> Dict[str, Any]:
        """``{'classes': names, 'palette': [[r, g, b], ...]}`` for an mmengine index."""
        return {"classes": list(self.names), "palette": [list(c) for c in self.palette]}

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "FGClasses":
        """Build from the config mapping (e.g. ``mmengine.Config.fromfile(...)``)."""
        entries = cfg.get("classes")
        if not entries:
            raise FGConfigError("config has no 'classes' list")
        entries = sorted((dict(e) for e in entries), key=lambda e: int(e["id"]))
        ids = [int(e["id"]) for e in entries]
        if ids != list(range(len(ids))):
            raise FGConfigError(f"class ids must be 0..{len(ids) - 1} without gaps, got {ids}")
        if len(ids) > 255:
            raise FGConfigError("at most 255 classes fit a uint8 mask")
        names = tuple(str(e["name"]) for e in entries)
        if names[0] != "background":
            raise FGConfigError(f"class 0 must be 'background', got {names[0]!r}")
        palette = tuple(tuple(int(v) for v in e.get("color", (0, 0, 0))) for e in entries)
        base = cls(names=names, palette=palette, category_map={})  # type: ignore[arg-type]
        cat_map = {str(k): base.class_id(str(v)) for k, v in dict(cfg.get("category_map", {})).items()}
        road = dict(cfg.get("road", {}))
        road_out: Dict[str, Any] = {}
        if road:
            road_out = {
                "class_id": base.class_id(road.get("class_name", "road")),
                "layers": list(road.get("layers", ["drivable_area"])),
                "max_range": float(road.get("max_range", 120.0)),
            }
        light = dict(cfg.get("traffic_light", {}))
        light_out: Dict[str, Any] = {}
        if light:
            parts = [dict(p) for p in light.get("parts", [dict(size_wl=(0.45, 0.45), z=(0.0, 1.0))])]
            for part in parts:
                z = tuple(float(v) for v in part.get("z", (0.0, 1.0)))
                if not 0.0 <= z[0] < z[1] <= 1.0:
                    raise FGConfigError(f"traffic_light part z must satisfy 0 <= lo < hi <= 1, got {z}")
                part["z"], part["size_wl"] = z, tuple(float(v) for v in part["size_wl"])
            light_out = {
                "class_id": base.class_id(light.get("class_name", "traffic_sign")),
                "height": float(light.get("height", 5.2)),
                "max_range": float(light.get("max_range", 80.0)),
                "parts": parts,
            }
        gt = {str(k): [str(x) for x in v] for k, v in dict(cfg.get("synthetic_gt", {})).items()}
        for k in gt:
            base.class_id(k)
        return cls(
            names=names,
            palette=palette,  # type: ignore[arg-type]
            category_map=cat_map,
            min_visibility=int(cfg.get("min_visibility", 1)),
            road=road_out,
            traffic_light=light_out,
            synthetic_gt=gt,
        )


def palette_array(palette: Sequence[Sequence[int]]) -> "np.ndarray":  # noqa: F821
    """``(C, 3)`` uint8 palette array (for colouring class-id masks)."""
    import numpy as np

    return np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
