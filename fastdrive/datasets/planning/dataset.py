"""``PlanningDataset``: open-loop planning samples of a nuScenes dataroot (FastDrive world or real)."""

from __future__ import annotations

import os
import pickle
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from PIL import Image

from fastdrive.registry import DATASETS

from .samples import DEFAULT_CAMERAS, build_records

CACHE_FORMAT = 1


class PlanningMeta:
    """Read-only view of a planning record that collate functions pass through untouched.

    mmengine's ``pseudo_collate`` transposes dicts and lists (and fails on
    lists of unequal length, such as per-step box lists); this wrapper is
    neither, so a collated batch holds ``batch['meta']`` as a list of
    ``PlanningMeta``, one per sample. Supports ``meta[key]``, ``key in meta``,
    ``meta.get``, ``meta.keys()`` and ``dict(meta)``.
    """

    __slots__ = ("record",)

    def __init__(self, record: Dict[str, Any]) -> None:
        self.record = record

    def __getitem__(self, key: str) -> Any:
        return self.record[key]

    def __contains__(self, key: object) -> bool:
        return key in self.record

    def get(self, key: str, default: Any = None) -> Any:
        return self.record.get(key, default)

    def keys(self):
        return self.record.keys()

    def __repr__(self) -> str:
        return f"PlanningMeta(sample_token={self.record.get('sample_token')!r})"


def split_scene_names(data_root: str, version: str, split: str) -> List[str]:
    """Scene names of ``split`` ('train' | 'val') for a FastDrive or a real nuScenes version.

    FastDrive worlds (``<version>/splits.json`` present) use
    :func:`fastdrive.sim.splits.create_splits_scenes`; ``v1.0-mini`` uses the
    devkit's ``mini_train`` / ``mini_val``; other real versions ``train`` / ``val``.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if os.path.isfile(os.path.join(data_root, version, "splits.json")):
        from fastdrive.sim.splits import create_splits_scenes

        return list(create_splits_scenes(data_root, version)[split])
    from nuscenes.utils.splits import create_splits_scenes as devkit_splits

    key = f"mini_{split}" if version.endswith("mini") else split
    return list(devkit_splits()[key])


def link_previous_keyframes(records: List[dict], max_gap_s: float = 0.75) -> List[dict]:
    """Copies of ``records`` with ``prev_cams``: the ``cams`` of the previous keyframe of the same
    scene (by timestamp, at most ``max_gap_s`` earlier), or None for a scene's first keyframe."""
    by_scene: Dict[str, List[dict]] = {}
    for rec in records:
        by_scene.setdefault(str(rec["scene_token"]), []).append(rec)
    prev_of: Dict[str, Optional[dict]] = {}
    for recs in by_scene.values():
        recs = sorted(recs, key=lambda r: int(r["timestamp"]))
        for before, rec in zip([None] + recs[:-1], recs):
            ok = before is not None and 0 < int(rec["timestamp"]) - int(before["timestamp"]) <= max_gap_s * 1e6
            prev_of[str(rec["sample_token"])] = before["cams"] if ok else None  # type: ignore[index]
    return [dict(rec, prev_cams=prev_of[str(rec["sample_token"])]) for rec in records]


@DATASETS.register_module()
class PlanningDataset(BaseDataset):
    """Open-loop planning samples (6 waypoints at 0.5 s in the ego frame).

    Args:
        data_root: nuScenes dataroot (holds ``<version>/``, ``samples/``, ``maps/``).
        version: table folder, e.g. ``'v1.0-fastdrive'`` or ``'v1.0-mini'``.
        split: ``'train'`` or ``'val'`` (scenes of the split).
        cameras: camera channels to load, in order.
        image_size: model input ``(width, height)``; images are resized to it
            (intrinsics scaled accordingly); None keeps the file size.
        cache_file: pickle of the records; read when it matches
            ``(version, split, cameras)``, else built and written there.
        load_images: False skips image decoding (metrics-only use).
        map_radius: half side (m) of the cached drivable-area patch.
        full_future_only: keep only samples with all 6 future poses (the
            evaluation skips the others anyway; training can mask them).
        cache_images: keep decoded, resized images in memory (uint8) after
            their first load, so later epochs skip JPEG decoding (per
            dataloader worker; about ``3 * W * H`` bytes per image).
        token_grid: ``(h, w)`` visual-token grid of the model; when given,
            items carry ``token_sem``, the share of each semantic class in
            each token cell of the first camera, from the world's ground
            truth (``fastdrive_gt/semantic``; zeros where a dataroot has
            none, e.g. real nuScenes). Targets of an auxiliary perception head.
        num_semantic: number of semantic classes ``C`` (17 in a FastDrive world).
        prev_frame: items also carry ``imgs_prev``, the same cameras at the
            previous keyframe of the scene (0.5 s earlier), for a planner that
            reads a two-frame clip; the first keyframe of a scene gets its own
            frames (a still).
        **kwargs: passed to ``mmengine.dataset.BaseDataset`` (``pipeline``,
            ``indices``, ``test_mode``, ``lazy_init``, ...).

    An item (``dataset[i]``) is a dict:

    * ``imgs``: float32 ``(num_cams, 3, H, W)`` in [0, 1];
    * ``ego_state``: float32 ``(3,)`` ``[speed m/s, accel m/s^2, yaw rate rad/s]``;
    * ``command``: int64 scalar, index into ``fastdrive.sim.types.COMMANDS``
      (``('left', 'right', 'straight')``);
    * ``past_traj``: float32 ``(4, 2)`` (t = -2 ... -0.5 s, ego frame);
    * ``gt_traj``: float32 ``(6, 2)``; ``gt_valid``: bool ``(6,)``;
    * ``cam_intrinsics``: float32 ``(num_cams, 3, 3)`` for the resized images;
    * ``meta``: the planning record (see ``samples.py``: sample token,
      ``future_boxes``, ``drivable_wkt``, camera calibration, ...) wrapped
      in :class:`PlanningMeta` so that collating keeps one record per sample.
    """

    METAINFO: Dict[str, Any] = {"commands": ("left", "right", "straight")}

    def __init__(
        self,
        data_root: str,
        version: str = "v1.0-fastdrive",
        split: str = "train",
        cameras: Sequence[str] = DEFAULT_CAMERAS,
        image_size: Optional[Tuple[int, int]] = None,
        cache_file: Optional[str] = None,
        load_images: bool = True,
        map_radius: float = 60.0,
        full_future_only: bool = False,
        cache_images: bool = False,
        token_grid: Optional[Tuple[int, int]] = None,
        num_semantic: int = 17,
        prev_frame: bool = False,
        **kwargs: Any,
    ) -> None:
        self.version = version
        self.split = split
        self.cameras = tuple(cameras)
        self.image_size = tuple(image_size) if image_size is not None else None
        self.cache_file = cache_file
        self.load_images = load_images
        self.map_radius = float(map_radius)
        self.full_future_only = bool(full_future_only)
        self.cache_images = bool(cache_images)
        self._image_cache: Dict[str, Tuple[torch.Tensor, Tuple[int, int]]] = {}
        self.token_grid = (int(token_grid[0]), int(token_grid[1])) if token_grid is not None else None
        self.num_semantic = int(num_semantic)
        self._sem_cache: Dict[str, torch.Tensor] = {}
        self.prev_frame = bool(prev_frame)
        super().__init__(data_root=data_root, **kwargs)

    # ------------------------------------------------------------------ records
    def _cache_key(self) -> tuple:
        return (CACHE_FORMAT, self.version, self.split, self.cameras, self.map_radius)

    def load_data_list(self) -> List[dict]:
        """Planning records of the split, from ``cache_file`` when it matches."""
        if self.cache_file and os.path.isfile(self.cache_file):
            with open(self.cache_file, "rb") as fh:
                cached = pickle.load(fh)
            if cached.get("key") == self._cache_key():
                return cached["records"]
        from nuscenes import NuScenes

        if not os.path.isdir(os.path.join(self.data_root, self.version)):
            raise FileNotFoundError(f"no nuScenes tables at {os.path.join(self.data_root, self.version)}")
        nusc = NuScenes(version=self.version, dataroot=self.data_root, verbose=False)
        scenes = split_scene_names(self.data_root, self.version, self.split)
        records = build_records(nusc, scenes, self.cameras, self.map_radius)
        if self.cache_file:
            os.makedirs(os.path.dirname(os.path.abspath(self.cache_file)), exist_ok=True)
            tmp = f"{self.cache_file}.tmp-{os.getpid()}"
            with open(tmp, "wb") as fh:
                pickle.dump({"key": self._cache_key(), "records": records}, fh, protocol=4)
            os.replace(tmp, self.cache_file)
        return records

    def filter_data(self) -> List[dict]:
        """Link each record to its previous keyframe (``prev_frame``); drop samples without a
        complete future when ``full_future_only``."""
        records = link_previous_keyframes(self.data_list) if self.prev_frame else self.data_list
        if not self.full_future_only:
            return records
        return [r for r in records if bool(np.all(r["gt_valid"]))]

    # ------------------------------------------------------------------- items
    def _load_image(self, cam_info: dict) -> Tuple[torch.Tensor, np.ndarray]:
        """``(3, H, W)`` float image in [0, 1] and its ``(3, 3)`` intrinsics after resizing."""
        k = np.array(cam_info["cam_intrinsic"], np.float64)
        w0, h0 = int(cam_info["width"]), int(cam_info["height"])
        size = self.image_size or (w0, h0)
        if not self.load_images:
            img = torch.zeros(3, size[1], size[0])
        else:
            path = os.path.join(self.data_root, cam_info["img_path"])
            cached = self._image_cache.get(path)
            if cached is None:
                with Image.open(path) as im:
                    im = im.convert("RGB")
                    orig = im.size
                    if im.size != tuple(size):
                        im = im.resize(tuple(size), Image.BILINEAR)
                    arr = torch.from_numpy(np.array(im, dtype=np.uint8)).permute(2, 0, 1).contiguous()
                cached = (arr, orig)
                if self.cache_images:
                    self._image_cache[path] = cached
            arr, (w0, h0) = cached
            img = arr.float() / 255.0
        k[0] *= size[0] / w0
        k[1] *= size[1] / h0
        return img, k

    def _token_semantics(self, cam_info: dict) -> torch.Tensor:
        """``(h * w, C)`` float32 class shares per token cell (zeros without a semantic mask)."""
        from fastdrive.evaluation.token_metrics import token_class_shares
        from fastdrive.sim.ground_truth import load_semantic_mask

        assert self.token_grid is not None
        key = cam_info["img_path"]
        cached = self._sem_cache.get(key)
        if cached is None:
            sem = load_semantic_mask(self.data_root, key)
            if sem is not None:
                cached = torch.from_numpy(token_class_shares(sem, self.token_grid, self.num_semantic)).half()
            else:
                cached = torch.zeros(self.token_grid[0] * self.token_grid[1], self.num_semantic, dtype=torch.float16)
            if self.cache_images:
                self._sem_cache[key] = cached
        return cached.float()

    def prepare_data(self, idx: int) -> Any:
        """Tensors of sample ``idx`` (see the class docstring), then the pipeline."""
        rec = self.get_data_info(idx)
        imgs, ks = zip(*(self._load_image(rec["cams"][c]) for c in self.cameras))
        item = {
            "imgs": torch.stack(imgs),
            "cam_intrinsics": torch.from_numpy(np.stack(ks)).float(),
            "ego_state": torch.tensor([rec["speed"], rec["accel"], rec["yaw_rate"]], dtype=torch.float32),
            "command": torch.tensor(rec["command_index"], dtype=torch.long),
            "past_traj": torch.from_numpy(np.asarray(rec["past_traj"], np.float32)),
            "gt_traj": torch.from_numpy(np.asarray(rec["gt_traj"], np.float32)),
            "gt_valid": torch.from_numpy(np.asarray(rec["gt_valid"], bool)),
            "meta": PlanningMeta(rec),
        }
        if self.prev_frame:
            prev = rec.get("prev_cams") or rec["cams"]
            item["imgs_prev"] = torch.stack([self._load_image(prev[c])[0] for c in self.cameras])
        if self.token_grid is not None:
            item["token_sem"] = self._token_semantics(rec["cams"][self.cameras[0]])
        return self.pipeline(item)
