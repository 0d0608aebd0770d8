"""``ReconFGDataset``: nuScenes-FG images with binary foreground, at a host VLA's input size.

Each item is what :class:`~fastdrive.models.ReconPrunerTrainer` reads:

* ``img``: ``(3, h, w)`` uint8, the camera image resized as the embedded
  planner resizes its frames (float [0, 1], antialiased bilinear, see
  ``DrivingVLA.resize_images``), stored back as uint8;
* ``fg``: ``(1, h, w)`` uint8, the share (0-255) of foreground pixels under
  each output pixel (area resampling of the binary mask ``class id > 0``, or
  of the ids in ``fg_classes``);
* ``tokens``: ``(N, D)`` float16 frozen visual tokens, once a feature cache
  is attached (:meth:`ReconFGDataset.set_tokens`, done by
  :class:`~fastdrive.engine.ReconFeatureCacheHook`);
* ``meta``: ``{'idx', 'img_path', 'sample_data_token'}``.

With ``cache_dir`` the prepared images and masks of the whole split are
written once to one file there (decoding and resizing full-size frames is
what costs on a CPU) and read back on the next runs.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from fastdrive.registry import DATASETS

from .dataset import NuScenesFGDataset


def prepare_image(path: str, size: Tuple[int, int]) -> torch.Tensor:
    """Image file -> ``(3, h, w)`` uint8 at ``size = (w, h)`` (antialiased bilinear, like the planner)."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 255.0
    w, h = size
    if tuple(x.shape[-2:]) != (h, w):
        x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return (x[0].clamp(0, 1) * 255.0).round().to(torch.uint8)


def prepare_mask(path: str, size: Tuple[int, int], fg_classes: Optional[Sequence[int]] = None) -> torch.Tensor:
    """Class-id (or 0/255) mask file -> ``(1, h, w)`` uint8 foreground share per output pixel."""
    with Image.open(path) as im:
        ids = np.asarray(im)
    if ids.ndim == 3:
        ids = ids[..., 0]
    binary = np.isin(ids, list(fg_classes)) if fg_classes is not None else ids > 0
    x = torch.from_numpy(binary.astype(np.float32))[None, None]
    w, h = size
    x = torch.nn.functional.adaptive_avg_pool2d(x, (h, w)) if tuple(x.shape[-2:]) != (h, w) else x
    return (x[0] * 255.0).round().to(torch.uint8)


@DATASETS.register_module()
class ReconFGDataset(NuScenesFGDataset):
    """nuScenes-FG for ReconPruner training.

    Args:
        ann_file: ``nuscenes_fg_infos_<split>.json`` (``data_tools.build_fg``).
        image_size: ``(width, height)`` of the host VLA's input.
        fg_classes: class ids that count as foreground (default: every id > 0).
        cache_dir: where the prepared split is cached (None: prepare on the fly).
        progress: show a progress bar while the cache is built.
        data_prefix / **kwargs: as :class:`NuScenesFGDataset` (``mask_path``
            may point at another mask root with the same file names, e.g. a
            synthetic world's ground truth ``fastdrive_gt/fg``).
    """

    def __init__(self, ann_file: str = "", image_size: Tuple[int, int] = (448, 252),
                 fg_classes: Optional[Sequence[int]] = None, cache_dir: Optional[str] = None,
                 progress: bool = True, **kwargs: Any) -> None:
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.fg_classes = list(fg_classes) if fg_classes is not None else None
        self.cache_dir = cache_dir
        self.progress = progress
        self._prepared: Optional[Dict[str, torch.Tensor]] = None
        self._tokens: Optional[torch.Tensor] = None
        super().__init__(ann_file=ann_file, **kwargs)

    # ------------------------------------------------------------------ cache
    def cache_key(self) -> str:
        """Hash of what decides the prepared data: the size, the classes, and each item's files
        (path, size, modification time: a rebuilt mask set is a new key)."""
        h = hashlib.sha1(f"{self.image_size}|{self.fg_classes}".encode())
        for i in range(len(self)):
            info = self.get_data_info(i)
            for path in (info["img_path"], info["mask_path"]):
                try:
                    st = os.stat(path)
                    h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode())
                except OSError:  # missing file: reported when the item is read
                    h.update(f"{path}|missing".encode())
        return h.hexdigest()[:16]

    def prepared(self) -> Dict[str, torch.Tensor]:
        """``{'img' (M, 3, h, w), 'fg' (M, 1, h, w)}`` uint8 of every item, built once (cached on disk)."""
        if self._prepared is not None:
            return self._prepared
        path = os.path.join(self.cache_dir, f"recon-inputs-{self.cache_key()}.pt") if self.cache_dir else None
        if path and os.path.isfile(path):
            self._prepared = torch.load(path, map_location="cpu", weights_only=True)
            return self._prepared
        from tqdm import tqdm

        imgs, fgs = [], []
        for i in tqdm(range(len(self)), desc="preparing nuScenes-FG", unit="img", disable=not self.progress):
            info = self.get_data_info(i)
            imgs.append(prepare_image(info["img_path"], self.image_size))
            fgs.append(prepare_mask(info["mask_path"], self.image_size, self.fg_classes))
        self._prepared = {"img": torch.stack(imgs), "fg": torch.stack(fgs)}
        if path:
            os.makedirs(self.cache_dir, exist_ok=True)
            tmp = f"{path}.tmp-{os.getpid()}"
            torch.save(self._prepared, tmp)
            os.replace(tmp, path)
        return self._prepared

    def set_tokens(self, tokens: Optional[torch.Tensor]) -> None:
        """Attach ``(M, N, D)`` cached visual tokens (one row per item, in order), or detach with None."""
        if tokens is not None and tokens.shape[0] != len(self):
            raise ValueError(f"{tokens.shape[0]} cached token rows for {len(self)} items")
        self._tokens = tokens

    @property
    def tokens(self) -> Optional[torch.Tensor]:
        """The attached token cache ``(M, N, D)``, or None."""
        return self._tokens

    # ------------------------------------------------------------------ items
    def load_item(self, idx: int, use_cache: bool = True) -> Dict[str, torch.Tensor]:
        """``{'img', 'fg'}`` of item ``idx`` (from the prepared cache when there is one and ``use_cache``)."""
        if use_cache and (self.cache_dir is not None or self._prepared is not None):
            prep = self.prepared()
            return {"img": prep["img"][idx], "fg": prep["fg"][idx]}
        info = self.get_data_info(idx)
        return {"img": prepare_image(info["img_path"], self.image_size),
                "fg": prepare_mask(info["mask_path"], self.image_size, self.fg_classes)}

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        if not self._fully_initialized:
            self.full_init()
        info = self.get_data_info(idx)
        item: Dict[str, Any] = self.load_item(idx)
        if self._tokens is not None:
            item["tokens"] = self._tokens[idx]
        item["meta"] = {"idx": int(idx), "img_path": info["img_path"],
                        "sample_data_token": info.get("sample_data_token", "")}
        return item
