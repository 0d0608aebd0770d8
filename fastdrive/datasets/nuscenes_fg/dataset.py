"""``NuScenesFGDataset``: the nuScenes-FG index as an mmengine dataset."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

from mmengine.dataset import BaseDataset

from fastdrive.registry import DATASETS


@DATASETS.register_module()
class NuScenesFGDataset(BaseDataset):
    """Camera images with their nuScenes-FG class-id masks.

    Each item (before the pipeline) is the index entry (see ``index.py``) with
    absolute ``img_path`` and ``mask_path`` (also as ``seg_map_path``, the key
    mmseg-style transforms read) and ``sample_idx``.

    Args:
        ann_file: ``nuscenes_fg_infos_<split>.json`` written by ``data_tools.build_fg``.
        data_prefix: ``img_path``: the nuScenes dataroot (default: the
            ``nuscenes_dataroot`` recorded in the index); ``mask_path``: the
            nuScenes-FG output directory (default: the folder of ``ann_file``).
        **kwargs: the rest of ``mmengine.dataset.BaseDataset``'s arguments.
    """

    METAINFO: Dict[str, Any] = {}

    def __init__(self, ann_file: str = "", data_prefix: Optional[dict] = None, **kwargs: Any) -> None:
        super().__init__(ann_file=ann_file, data_prefix=dict(data_prefix or {}), **kwargs)

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """Make the entry's paths absolute."""
        info = dict(raw_data_info)
        img_root = self.data_prefix.get("img_path") or self._metainfo.get("nuscenes_dataroot", "")
        mask_root = self.data_prefix.get("mask_path") or os.path.dirname(os.path.abspath(self.ann_file))
        info["img_path"] = os.path.join(img_root, info["img_path"])
        info["mask_path"] = os.path.join(mask_root, info["mask_path"])
        info["seg_map_path"] = info["mask_path"]
        info["sample_idx"] = info.get("idx", 0)
        return info
