"""Add nuScenes-FG mask paths to mmdet3d's nuScenes info files.

mmdet3d 1.x (info version 1.1, written by ``tools/create_data.py nuscenes``)
stores one dict per keyframe in ``data_list``; each camera is
``info['images'][CAM]`` with ``img_path`` (the image's file name, e.g.
``n015-...__CAM_FRONT__1533151603512404.jpg``, joined at load time with the
dataset's ``data_prefix[CAM]``, normally ``samples/CAM``) and
``sample_data_token``. nuScenes-FG writes the mask of
``samples/CAM/NAME.jpg`` at ``<fg out>/samples/CAM/NAME.png``.

:func:`add_fg_mask_paths` sets ``info['images'][CAM]['fg_mask_path']`` to
that mask path (relative to the nuScenes-FG output directory, like the FG
index's ``mask_path``), matching by ``sample_data_token`` when the FG index
knows it and by file name otherwise. Pure dict work: no mmdet3d, mmcv or
file access here (the CLI, ``data_tools/build_fg.py --mmdet3d-infos``, reads
and writes the pickles).
"""

from __future__ import annotations

import copy
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from .index import mask_path_for

FG_MASK_KEY = "fg_mask_path"


class InfoFormatError(ValueError):
    """The info dict is not an mmdet3d 1.x (``data_list`` + ``images``) info file."""


def mask_lookup(
    index_entries: Iterable[Mapping[str, Any]],
) -> Tuple[Dict[str, str], Dict[Tuple[str, str], str]]:
    """Mask paths of FG index entries, by sample_data token and by ``(camera, file name)``.

    Args:
        index_entries: ``data_list`` entries of nuScenes-FG indices (``index.py``).

    Returns:
        ``(by_token, by_name)``: ``sample_data_token -> mask_path`` and
        ``(camera, image file name) -> mask_path``.
    """
    by_token: Dict[str, str] = {}
    by_name: Dict[Tuple[str, str], str] = {}
    for e in index_entries:
        if e.get("sample_data_token"):
            by_token[str(e["sample_data_token"])] = str(e["mask_path"])
        by_name[(str(e["camera"]), os.path.basename(str(e["img_path"])))] = str(e["mask_path"])
    return by_token, by_name


def add_fg_mask_paths(
    infos: Mapping[str, Any],
    index_entries: Optional[Iterable[Mapping[str, Any]]] = None,
    existing_masks: Optional[Iterable[str]] = None,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Copy of an mmdet3d info dict with each camera's ``fg_mask_path`` added.

    A camera image gets a mask path when the FG index lists it (matched by
    ``sample_data_token``, else by camera and file name) or, without an
    index, when ``existing_masks`` holds ``samples/CAM/NAME.png``. Cameras
    without a mask get ``fg_mask_path = None`` and are counted as missing.

    Args:
        infos: ``{'metainfo': ..., 'data_list': [...]}`` as loaded from mmdet3d's pkl.
        index_entries: FG index entries (``nuscenes_fg_infos_<split>.json`` ``data_list``).
        existing_masks: mask paths relative to the FG output dir (used when no index is given).

    Returns:
        ``(new_infos, report)``; ``report`` has ``images``, ``with_mask``,
        ``missing`` (count) and ``missing_examples`` (up to 10 image names).
        ``new_infos['metainfo']['fg_mask_key']`` records the key name.

    Raises:
        InfoFormatError: ``infos`` is not an mmdet3d 1.x info dict.
    """
    if not isinstance(infos, Mapping) or not isinstance(infos.get("data_list"), list):
        raise InfoFormatError(
            "not an mmdet3d 1.x info file (expected a dict with 'data_list'; convert old infos with "
            "mmdet3d's tools/dataset_converters/update_infos_to_v2.py)"
        )
    by_token, by_name = mask_lookup(index_entries or [])
    existing = set(existing_masks or [])
    out = copy.deepcopy(dict(infos))
    images = with_mask = 0
    missing: List[str] = []
    for i, info in enumerate(out["data_list"]):
        cams = info.get("images") if isinstance(info, dict) else None
        if not isinstance(cams, dict):
            raise InfoFormatError(f"data_list[{i}] has no 'images' dict (mmdet3d 1.x camera infos)")
        for cam, cam_info in cams.items():
            img_path = cam_info.get("img_path")
            if not img_path:
                continue  # camera without an image in this sample
            images += 1
            name = os.path.basename(str(img_path))
            mask = by_token.get(str(cam_info.get("sample_data_token", ""))) or by_name.get((cam, name))
            if mask is None and existing:
                candidate = mask_path_for(f"samples/{cam}/{name}")
                mask = candidate if candidate in existing else None
            cam_info[FG_MASK_KEY] = mask
            if mask is None:
                missing.append(f"samples/{cam}/{name}")
            else:
                with_mask += 1
    out["metainfo"] = dict(out.get("metainfo") or {}, fg_mask_key=FG_MASK_KEY)
    report = {
        "images": images,
        "with_mask": with_mask,
        "missing": len(missing),
        "missing_examples": missing[:10],
    }
    return out, report
