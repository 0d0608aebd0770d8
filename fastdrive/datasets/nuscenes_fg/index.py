"""The nuScenes-FG index: one mmengine ``BaseDataset`` annotation dict per split.

Format (OpenMMLab 2.0 annotation file, JSON)::

    {
      "metainfo": {"dataset": "nuscenes-fg", "classes": [...], "palette": [[r, g, b], ...],
                   "split": "train", "version": "v1.0-trainval", "nuscenes_dataroot": "/abs/path",
                   "segmenter": "box", "cameras": [...], "num_shards": 1, "shard_id": 0},
      "data_list": [
        {"idx": 0,                                   # position in the run's image order
         "img_path": "samples/CAM_FRONT/NAME.jpg",   # relative to the nuScenes dataroot
         "mask_path": "samples/CAM_FRONT/NAME.png",  # relative to the nuScenes-FG output dir
         "camera": "CAM_FRONT", "sample_token": ..., "sample_data_token": ..., "timestamp": ...,
         "width": 1600, "height": 900,
         "cam2img": 3x3, "cam2ego": 4x4, "ego2global": 4x4,   # row-major nested lists
         "fg_share": 0.42,                           # foreground pixels / all pixels
         "class_pixels": [n_0, n_1, ...],            # pixels per class id
         "num_prompts": 7},
        ...]
    }

Everything here is pure: building, merging and summarising dicts.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Mapping, Sequence

import numpy as np
from pyquaternion import Quaternion

from .prompts import ImagePrompts

INDEX_PREFIX = "nuscenes_fg_infos"
# metainfo keys that may differ between shards of one run
SHARD_KEYS = ("num_shards", "shard_id")


def mask_path_for(img_path: str) -> str:
    """Mask path (relative) for an image path: ``samples/CAM_X/NAME.jpg`` -> ``samples/CAM_X/NAME.png``."""
    return os.path.splitext(img_path)[0] + ".png"


def index_filename(split: str, shard_id: int = 0, num_shards: int = 1) -> str:
    """File name of a split's index (the final one, or one shard's)."""
    if num_shards == 1:
        return f"{INDEX_PREFIX}_{split}.json"
    return f"{INDEX_PREFIX}_{split}.shard-{shard_id:04d}-of-{num_shards:04d}.json"


def _rigid(translation: Sequence[float], rotation: Quaternion) -> List[List[float]]:
    mat = np.eye(4)
    mat[:3, :3] = rotation.rotation_matrix
    mat[:3, 3] = translation
    return [[float(v) for v in row] for row in mat]


def make_entry(idx: int, prompts: ImagePrompts, class_pixels: Sequence[int]) -> Dict[str, Any]:
    """The ``data_list`` entry of one image.

    Args:
        idx: position of the image in the run's (unsharded) order.
        prompts: the image's prompts (ids, calibration, pose).
        class_pixels: ``(C,)`` pixels per class id of its mask.
    """
    cam = prompts.camera_model
    total = max(1, int(sum(class_pixels)))
    return {
        "idx": int(idx),
        "img_path": prompts.filename,
        "mask_path": mask_path_for(prompts.filename),
        "camera": prompts.camera,
        "sample_token": prompts.sample_token,
        "sample_data_token": prompts.sample_data_token,
        "timestamp": int(prompts.timestamp),
        "width": int(prompts.width),
        "height": int(prompts.height),
        "cam2img": [[float(v) for v in row] for row in cam.intrinsic],
        "cam2ego": _rigid(cam.cam_translation, cam.cam_rotation),
        "ego2global": _rigid(cam.ego_translation, cam.ego_rotation),
        "fg_share": round(1.0 - int(class_pixels[0]) / total, 6),
        "class_pixels": [int(v) for v in class_pixels],
        "num_prompts": len(prompts.objects),
    }


def build_index(metainfo: Mapping[str, Any], entries: Iterable[Mapping[str, Any]]) -> Dict[str, Any]:
    """An annotation dict with ``data_list`` sorted by ``idx``."""
    return {
        "metainfo": dict(metainfo),
        "data_list": sorted((dict(e) for e in entries), key=lambda e: e["idx"]),
    }


def merge_indices(shards: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Merge shard indices of one split into the index a single run would write.

    Raises:
        ValueError: shards of different runs (metainfo differs) or overlapping images.
    """
    if not shards:
        raise ValueError("no shard indices to merge")
    base = {k: v for k, v in shards[0]["metainfo"].items() if k not in SHARD_KEYS}
    for s in shards[1:]:
        other = {k: v for k, v in s["metainfo"].items() if k not in SHARD_KEYS}
        if other != base:
            diff = sorted(k for k in set(base) | set(other) if base.get(k) != other.get(k))
            raise ValueError(f"shard indices come from different runs (metainfo differs in {diff})")
    entries = [e for s in shards for e in s["data_list"]]
    seen = set()
    for e in entries:
        if e["idx"] in seen:
            raise ValueError(f"image idx {e['idx']} ({e['img_path']}) appears in more than one shard")
        seen.add(e["idx"])
    meta = dict(base, num_shards=1, shard_id=0)
    return build_index(meta, entries)


def summarize(
    entries: Sequence[Mapping[str, Any]], failures: Sequence[Mapping[str, Any]], class_names: Sequence[str]
) -> Dict[str, Any]:
    """Run summary: images, per-class pixel share, images with no foreground, failures.

    Args:
        entries: ``data_list`` entries of every split of the run.
        failures: ``{'idx', 'img_path', 'reason'}`` records.
        class_names: names by class id.
    """
    totals = np.zeros(len(class_names), dtype=np.int64)
    no_fg: List[str] = []
    for e in entries:
        totals += np.asarray(e["class_pixels"], dtype=np.int64)
        if e["class_pixels"][0] == sum(e["class_pixels"]):
            no_fg.append(e["img_path"])
    denom = max(1, int(totals.sum()))
    return {
        "images": len(entries),
        "failures": len(failures),
        "class_pixel_share": {n: round(int(t) / denom, 6) for n, t in zip(class_names, totals)},
        "mean_fg_share": round(float(np.mean([e["fg_share"] for e in entries])), 6) if entries else 0.0,
        "images_without_foreground": len(no_fg),
        "images_without_foreground_examples": sorted(no_fg)[:20],
        "failure_list": sorted((dict(f) for f in failures), key=lambda f: f["idx"]),
    }


def class_statistics(
    entries: Sequence[Mapping[str, Any]], class_names: Sequence[str]
) -> List[Dict[str, Any]]:
    """Per-class statistics over index entries.

    Returns:
        One dict per class: ``name``, ``pixel_share`` (of all pixels),
        ``images`` (images containing it), ``mean_share_when_present``.
    """
    counts = np.asarray([e["class_pixels"] for e in entries], dtype=np.int64).reshape(-1, len(class_names))
    sizes = counts.sum(axis=1, keepdims=True).clip(min=1)
    share = counts / sizes
    total = max(1, int(counts.sum()))
    out = []
    for cid, name in enumerate(class_names):
        present = counts[:, cid] > 0
        out.append(
            {
                "name": name,
                "pixel_share": float(counts[:, cid].sum()) / total,
                "images": int(present.sum()),
                "mean_share_when_present": float(share[present, cid].mean()) if present.any() else 0.0,
            }
        )
    return out
