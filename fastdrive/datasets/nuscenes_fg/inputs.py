"""Inputs of a build: checking the dataroot, loading tables and maps, planning and sharding the images.

Everything that can fail on bad input fails here, before any image is
touched, with a :class:`BuildError` whose message says what is wrong.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

from fastdrive.sim.rig import CAMERA_NAMES as CAMERAS  # the six nuScenes cameras, in order

from .splits import split_of_scenes

REQUIRED_TABLES = (
    "scene",
    "sample",
    "sample_data",
    "sample_annotation",
    "calibrated_sensor",
    "ego_pose",
    "sensor",
    "log",
    "category",
    "instance",
    "map",
)


class BuildError(Exception):
    """Bad input found before any work (missing dataroot, version, map, ...); the message says what."""


@dataclass
class WorkItem:
    """One camera image to process: ``idx`` is its position in the run's order."""

    idx: int
    split: str
    sample_data_token: str
    img_path: str


@dataclass
class BuildOptions:
    """What to build (mirrors the CLI)."""

    dataroot: str
    version: str
    out: str
    split: str = "all"
    cameras: Sequence[str] = CAMERAS
    num_shards: int = 1
    shard_id: int = 0
    workers: int = 0
    limit: Optional[int] = None


def shard_slice(items: Sequence[Any], num_shards: int, shard_id: int) -> List[Any]:
    """Round-robin shard ``shard_id`` of ``items`` (every ``num_shards``-th from ``shard_id``)."""
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise BuildError(f"bad sharding: shard id {shard_id} of {num_shards} shards")
    return list(items[shard_id::num_shards])


def shard_tag(shard_id: int, num_shards: int) -> str:
    """``shard-IIII-of-NNNN``."""
    return f"shard-{shard_id:04d}-of-{num_shards:04d}"


# ----------------------------------------------------------------- checking
def check_dataroot(dataroot: str, version: str) -> None:
    """Raise :class:`BuildError` unless ``dataroot/version`` holds the nuScenes tables."""
    if not os.path.isdir(dataroot):
        raise BuildError(f"dataroot not found: {dataroot}")
    table_dir = os.path.join(dataroot, version)
    if not os.path.isdir(table_dir):
        found = sorted(
            d for d in os.listdir(dataroot) if os.path.isfile(os.path.join(dataroot, d, "sample.json"))
        )
        hint = f" (versions there: {', '.join(found)})" if found else ""
        raise BuildError(f"version {version!r} not found under {dataroot}{hint}")
    missing = [t for t in REQUIRED_TABLES if not os.path.isfile(os.path.join(table_dir, f"{t}.json"))]
    if missing:
        raise BuildError(f"{table_dir} lacks nuScenes tables: {', '.join(m + '.json' for m in missing)}")


def load_nuscenes(dataroot: str, version: str):
    """``NuScenes`` for a checked dataroot; any loading failure becomes a :class:`BuildError`."""
    check_dataroot(dataroot, version)
    from nuscenes.nuscenes import NuScenes

    try:
        return NuScenes(version=version, dataroot=dataroot, verbose=False)
    except Exception as exc:  # noqa: BLE001 - the devkit raises assorted errors on bad tables
        raise BuildError(
            f"nuscenes-devkit cannot load {version} from {dataroot}: {type(exc).__name__}: {exc}"
        ) from None


def load_maps(nusc, dataroot: str, locations: Sequence[str]) -> Dict[str, Any]:
    """``NuScenesMap`` per location; :class:`BuildError` if a map expansion file is missing or broken."""
    from nuscenes.map_expansion.map_api import NuScenesMap

    maps: Dict[str, Any] = {}
    for loc in sorted(set(locations)):
        path = os.path.join(dataroot, "maps", "expansion", f"{loc}.json")
        if not os.path.isfile(path):
            raise BuildError(
                f"map expansion missing for location {loc!r}: {path} (install the nuScenes map "
                f"expansion pack into {os.path.join(dataroot, 'maps')})"
            )
        try:
            maps[loc] = NuScenesMap(dataroot=dataroot, map_name=loc)
        except Exception as exc:  # noqa: BLE001
            raise BuildError(f"cannot load map {path}: {type(exc).__name__}: {exc}") from None
    return maps


def plan_items(nusc, splits: Mapping[str, List[str]], split: str, cameras: Sequence[str]) -> List[WorkItem]:
    """Every camera image of the selected split(s), in scene / time / camera order.

    Raises:
        BuildError: unknown camera, or no scene in the requested split.
    """
    channels = {s["channel"] for s in nusc.sensor}
    bad = [c for c in cameras if c not in channels]
    if bad:
        raise BuildError(
            f"unknown camera(s) {', '.join(bad)}; this dataset has {', '.join(sorted(channels))}"
        )
    scenes = list(nusc.scene)
    scene_split = split_of_scenes(dict(splits), [s["name"] for s in scenes])
    chosen = [s for s in scenes if split == "all" or scene_split[s["name"]] == split]
    if not chosen:
        raise BuildError(f"no scene of {nusc.version} is in split {split!r}")
    items: List[WorkItem] = []
    for scene in chosen:
        token = scene["first_sample_token"]
        while token:
            sample = nusc.get("sample", token)
            for cam in cameras:
                sd_token = sample["data"].get(cam)
                if sd_token:
                    sd = nusc.get("sample_data", sd_token)
                    items.append(WorkItem(len(items), scene_split[scene["name"]], sd_token, sd["filename"]))
            token = sample["next"]
    return items
