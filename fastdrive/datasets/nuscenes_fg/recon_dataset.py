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
written once to two files there (decoding and resizing full-size frames is
what costs on a CPU) and memory-mapped on the next runs.
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


def _map(path: str, shape: Tuple[int, ...], writable: bool) -> torch.Tensor:
    """uint8 tensor of ``shape`` backed by the file ``path`` (created when ``writable``; read-only maps
    are private and copy-on-write, so nothing a caller does to them reaches the file)."""
    numel = int(np.prod(shape))
    if not writable and os.path.getsize(path) != numel:
        raise ValueError(f"{path} holds {os.path.getsize(path)} bytes, expected {numel} for {shape}; "
                         "delete it to rebuild the cache")
    return torch.from_file(path, shared=writable, size=numel, dtype=torch.uint8).view(shape)


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

    progress_every = 64  # items between two records of the preparation's progress (resume points)

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
        """``{'img' (M, 3, h, w), 'fg' (M, 1, h, w)}`` uint8 of every item, built once (cached on disk).

        Memory stays at the size of the result, whatever the number of images:
        items are written into tensors allocated once (no per-item list, no
        ``stack`` copy). With ``cache_dir`` those tensors are files mapped into
        memory (``recon-inputs-<key>.{img,fg}.u8``): a split larger than RAM
        (real nuScenes: 34k CAM_FRONT frames are 15 GB at 448x252) is paged in
        and out by the OS, and an interrupted preparation resumes where it
        stopped (``*.partial`` files and a ``.progress`` count).
        """
        if self._prepared is not None:
            return self._prepared
        m = len(self)
        w, h = self.image_size
        shapes = {"img": (m, 3, h, w), "fg": (m, 1, h, w)}
        if not self.cache_dir or m == 0:
            self._prepared = {k: torch.empty(shape, dtype=torch.uint8) for k, shape in shapes.items()}
            self._fill(self._prepared, 0)
            return self._prepared
        stem = os.path.join(self.cache_dir, f"recon-inputs-{self.cache_key()}")
        final = {k: f"{stem}.{k}.u8" for k in shapes}
        if all(os.path.isfile(p) for p in final.values()):
            self._prepared = {k: _map(final[k], shapes[k], writable=False) for k in shapes}
            return self._prepared
        os.makedirs(self.cache_dir, exist_ok=True)
        progress_file = f"{stem}.progress"
        done = 0
        if os.path.isfile(progress_file) and all(os.path.isfile(p + ".partial") for p in final.values()):
            with open(progress_file) as f:
                done = min(int(f.read().strip() or 0), m)
        out = {k: _map(final[k] + ".partial", shapes[k], writable=True) for k in shapes}
        self._fill(out, done, progress_file)
        del out  # unmap (the shared mapping has written everything to the files)
        for k in shapes:
            os.replace(final[k] + ".partial", final[k])
        os.remove(progress_file)
        self._prepared = {k: _map(final[k], shapes[k], writable=False) for k in shapes}
        return self._prepared

    def _fill(self, out: Dict[str, torch.Tensor], start: int, progress_file: Optional[str] = None) -> None:
        """Prepare items ``start..M-1`` into ``out`` in place; every ``progress_every`` items record the count."""
        from tqdm import tqdm

        m = len(self)
        bar = tqdm(total=m, initial=start, desc="preparing nuScenes-FG", unit="img", disable=not self.progress)
        for i in range(start, m):
            info = self.get_data_info(i)
            out["img"][i] = prepare_image(info["img_path"], self.image_size)
            out["fg"][i] = prepare_mask(info["mask_path"], self.image_size, self.fg_classes)
            bar.update(1)
            if progress_file and ((i + 1) % self.progress_every == 0 or i + 1 == m):
                tmp = f"{progress_file}.tmp"
                with open(tmp, "w") as f:
                    f.write(str(i + 1))
                os.replace(tmp, progress_file)
        bar.close()

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
