"""Which scenes belong to train / val, for real nuScenes versions and FastDrive worlds."""

from __future__ import annotations

from typing import Dict, List

# Real nuScenes versions: our split name -> the devkit's split name.
REAL_SPLITS: Dict[str, Dict[str, str]] = {
    "v1.0-mini": {"train": "mini_train", "val": "mini_val"},
    "v1.0-trainval": {"train": "train", "val": "val"},
    "v1.0-test": {"test": "test"},
}
SPLIT_CHOICES = ("train", "val", "all")


def scene_splits(dataroot: str, version: str) -> Dict[str, List[str]]:
    """Split name (``train``, ``val``, ...) -> scene names.

    Real versions use ``nuscenes.utils.splits.create_splits_scenes``; any
    other version is taken to be a FastDrive world and read with
    ``fastdrive.sim.splits.create_splits_scenes`` (its ``fastdrive_*``
    aliases are dropped).
    """
    if version in REAL_SPLITS:
        from nuscenes.utils.splits import create_splits_scenes

        devkit = create_splits_scenes()
        return {ours: list(devkit[theirs]) for ours, theirs in REAL_SPLITS[version].items()}
    from fastdrive.sim.splits import create_splits_scenes as sim_splits

    raw = sim_splits(dataroot, version)
    return {k: list(v) for k, v in raw.items() if not k.startswith("fastdrive_")}


def split_of_scenes(splits: Dict[str, List[str]], scene_names: List[str]) -> Dict[str, str]:
    """Scene name -> split name for ``scene_names`` (``'other'`` when no split lists it).

    Splits are tried in the order train, val, then the rest alphabetically, so
    a scene listed twice gets the first.
    """
    order = [s for s in ("train", "val") if s in splits] + sorted(
        s for s in splits if s not in ("train", "val")
    )
    members = {s: set(splits[s]) for s in order}
    out: Dict[str, str] = {}
    for name in scene_names:
        out[name] = next((s for s in order if name in members[s]), "other")
    return out
