"""``LoadFGMask``: load the nuScenes-FG masks of a (multi-view) sample.

Works in both worlds without mmcv or mmdet3d: it reads PNGs with PIL and is
a plain callable, so it runs in mmengine's ``Compose`` (FastDrive datasets)
and in mmdet3d's pipelines (``NuScenesDataset`` with camera infos that
``python -m data_tools.build_fg --mmdet3d-infos`` augmented with
``images[CAM]['fg_mask_path']``).

In an mmdet3d config (the type is scoped because mmdet3d's registry does not
search its siblings)::

    custom_imports = dict(imports=['fastdrive.datasets.transforms'])
    pipeline = [
        dict(type='LoadMultiViewImageFromFiles', to_float32=True, num_views=6),
        dict(type='fastdrive.LoadFGMask', mask_root='data/nuscenes_fg'),
        ...
    ]
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from PIL import Image

from fastdrive.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadFGMask:
    """Load per-camera class-id masks (0 = background) into ``results['fg_masks']``.

    Reads, in order of preference:

    * multi-view (mmdet3d): ``results['images'][CAM]['fg_mask_path']`` for
      every camera of ``results['images']`` (its order, which is the order
      mmdet3d's ``LoadMultiViewImageFromFiles`` stacks ``results['img']`` in),
      or only ``cameras`` in that order when given;
    * single view (``NuScenesFGDataset``): ``results['mask_path']``.

    Adds ``fg_masks``: list of ``(H, W)`` uint8 arrays (class ids, or 0/1 with
    ``binary=True``), one per view; ``fg_mask_paths``: the files read; and
    ``fg_mask_shapes``: ``[(H, W), ...]``.

    Args:
        mask_root: folder relative mask paths are joined to (the nuScenes-FG
            output directory); absolute paths are used as they are.
        cameras: camera channels to load, in order (default: all of ``results['images']``).
        binary: map every foreground class id to 1.
        missing: ``'error'`` raises when a view has no mask path or file;
            ``'zeros'`` gives an all-background mask of the view's image size
            (``results['img'][i]`` or ``images[CAM]['height'/'width']``).
    """

    def __init__(
        self,
        mask_root: str = "",
        cameras: Optional[Sequence[str]] = None,
        binary: bool = False,
        missing: str = "error",
    ) -> None:
        if missing not in ("error", "zeros"):
            raise ValueError(f"missing must be 'error' or 'zeros', got {missing!r}")
        self.mask_root = mask_root
        self.cameras = list(cameras) if cameras is not None else None
        self.binary = bool(binary)
        self.missing = missing

    def _path(self, rel: Optional[str]) -> Optional[str]:
        if not rel:
            return None
        return rel if os.path.isabs(rel) else os.path.join(self.mask_root, rel)

    def _read(self, path: Optional[str], view: str, fallback_hw: Optional[tuple]) -> np.ndarray:
        if path is not None and os.path.isfile(path):
            with Image.open(path) as im:
                mask = np.asarray(im)
            if mask.ndim != 2:
                raise ValueError(f"{path}: expected a single-channel mask, got shape {mask.shape}")
            mask = mask.astype(np.uint8, copy=False)
            return (mask > 0).astype(np.uint8) if self.binary else mask
        if self.missing == "zeros" and fallback_hw is not None:
            return np.zeros(fallback_hw, dtype=np.uint8)
        what = "no fg_mask_path" if path is None else f"mask file not found: {path}"
        raise FileNotFoundError(
            f"LoadFGMask: {view}: {what} (run python -m data_tools.build_fg --mmdet3d-infos on the info file)"
        )

    @staticmethod
    def _image_hw(results: Dict[str, Any], i: int, cam_info: Dict[str, Any]) -> Optional[tuple]:
        imgs = results.get("img")
        if isinstance(imgs, (list, tuple)) and i < len(imgs):
            return tuple(np.asarray(imgs[i]).shape[:2])
        if "height" in cam_info and "width" in cam_info:
            return int(cam_info["height"]), int(cam_info["width"])
        return None

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        """Add ``fg_masks``, ``fg_mask_paths`` and ``fg_mask_shapes`` to ``results`` (in place)."""
        masks: List[np.ndarray] = []
        paths: List[Optional[str]] = []
        images = results.get("images")
        if isinstance(images, dict) and images:
            cams = self.cameras if self.cameras is not None else list(images)
            for i, cam in enumerate(cams):
                if cam not in images:
                    raise KeyError(f"LoadFGMask: camera {cam} not in this sample ({sorted(images)})")
                path = self._path(images[cam].get("fg_mask_path"))
                masks.append(self._read(path, cam, self._image_hw(results, i, images[cam])))
                paths.append(path)
        elif results.get("mask_path"):
            path = self._path(results["mask_path"])
            masks.append(
                self._read(path, str(results.get("img_path", "image")), self._image_hw(results, 0, {}))
            )
            paths.append(path)
        else:
            raise KeyError("LoadFGMask: results have neither 'images' (multi-view) nor 'mask_path'")
        results["fg_masks"] = masks
        results["fg_mask_paths"] = paths
        results["fg_mask_shapes"] = [m.shape for m in masks]
        return results

    __call__ = transform

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(mask_root={self.mask_root!r}, cameras={self.cameras}, "
            f"binary={self.binary}, missing={self.missing!r})"
        )
