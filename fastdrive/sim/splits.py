"""Train / val scene splits of a FastDrive world, in the spirit of ``nuscenes.utils.splits``.

The writer stores the split of every scene twice: in
``<dataroot>/<version>/splits.json`` (the file nuscenes-devkit's
``get_scenes_of_custom_split`` reads) and as a ``split=<name>`` tag at the
start of each ``scene.description``. :func:`create_splits_scenes` reads the
file and falls back to the descriptions.

Note: ``train`` / ``val`` are *predefined* split names in the devkit
(``get_scenes_of_split('train', nusc)`` returns the real nuScenes scene
list), so the file also carries ``fastdrive_train`` / ``fastdrive_val``
aliases, which the devkit resolves through ``splits.json``.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Iterable, List, Tuple

SPLIT_TAG = "split="
CUSTOM_PREFIX = "fastdrive_"


def split_from_description(description: str) -> str:
    """The split tag of a scene description (``'split=val; ...'`` -> ``'val'``); '' if absent."""
    for part in description.split(";"):
        part = part.strip()
        if part.startswith(SPLIT_TAG):
            return part.split("=", 1)[1].strip()
    return ""


def splits_from_scenes(scenes: Iterable[Tuple[str, str]]) -> Dict[str, List[str]]:
    """``{'train': [...], 'val': [...], 'fastdrive_train': [...], 'fastdrive_val': [...]}``
    from ``(scene name, split)`` pairs, names in the given order."""
    out: Dict[str, List[str]] = {"train": [], "val": []}
    for name, split in scenes:
        out.setdefault(split, []).append(name)
    for split in list(out):
        out[CUSTOM_PREFIX + split] = list(out[split])
    return out


def create_splits_scenes(dataroot: str, version: str) -> Dict[str, List[str]]:
    """Mapping split name -> scene names of a FastDrive dataroot.

    Args:
        dataroot: the dataset root (holds ``<version>/``).
        version: the version folder, e.g. ``v1.0-fastdrive``.

    Returns:
        ``train`` and ``val`` (plus ``fastdrive_*`` aliases and any other split
        found), read from ``<version>/splits.json`` when present, else from
        the ``split=`` tags of ``<version>/scene.json``.

    Raises:
        FileNotFoundError: neither file exists.
    """
    table_dir = os.path.join(dataroot, version)
    path = os.path.join(table_dir, "splits.json")
    if os.path.isfile(path):
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
        pairs = [(n, s) for s, names in data.items() if not s.startswith(CUSTOM_PREFIX) for n in names]
        return splits_from_scenes(pairs)
    scene_path = os.path.join(table_dir, "scene.json")
    if not os.path.isfile(scene_path):
        raise FileNotFoundError(f"no splits.json or scene.json under {table_dir}")
    with open(scene_path, "r", encoding="utf-8") as fh:
        scenes = json.load(fh)
    return splits_from_scenes(
        (s["name"], split_from_description(s.get("description", "")) or "train") for s in scenes
    )
