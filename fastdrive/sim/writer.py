"""Write a synthetic world to disk as a nuScenes dataroot, atomically and in parallel.

Layout of ``out_dir`` (``<version>`` defaults to ``v1.0-fastdrive``)::

    <version>/{attribute,...,visibility}.json   the 13 nuScenes tables
    <version>/splits.json                       {"train": [scene names], "val": [...]}
    samples/CAM_*/<name>.jpg                    camera images
    samples/LIDAR_TOP/<name>.pcd.bin            float32 (x, y, z, intensity, ring), lidar frame
    maps/<token>.png                            basemap (semantic prior) of each location
    maps/expansion/<location>.json              map expansion (NuScenesMap)
    fastdrive_gt/fg/samples/CAM_*/<name>.png    0 / 255 foreground mask
    fastdrive_gt/semantic/samples/CAM_*/<name>.png  semantic ids (types.SEMANTIC_CLASSES)
    fastdrive_gt/semantic_classes.json          ids, names, foreground flags
    fastdrive_gt/world.json                     seed, image size, export offsets, scene splits/events
    fastdrive_gt/ego_states.json                per sample token: command, speed, accel, yaw rate, lights
    fastdrive_gt/instance/...                   optional: uint16 annotation-id PNGs + index.json

Everything is first written into a hidden temporary directory beside
``out_dir`` and renamed into place at the very end, so an interrupted run
never leaves a dataset that looks complete. Output is byte-identical for the
same scenes and seed, whatever the number of workers.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image

from fastdrive.sim.frame_sensors import render_frame
from fastdrive.sim.ground_truth import GT_DIR, gt_mask_path
from fastdrive.sim.map_expansion import build_map_expansion, export_offset, rasterize_basemap
from fastdrive.sim.nuscenes_export import (
    FrameStats,
    SamplePlan,
    build_tables,
    make_token,
    plan_world,
    splits_of,
)
from fastdrive.sim.rig import Rig
from fastdrive.sim.types import FOREGROUND_IDS, SEMANTIC_CLASSES, SceneLog

DEFAULT_VERSION = "v1.0-fastdrive"
JPEG_QUALITY = 90
PNG_COMPRESS_LEVEL = 3


class OutputExistsError(FileExistsError):
    """The output directory exists, is not empty and overwriting was not allowed."""


@dataclass
class WorldSummary:
    """What :func:`write_world` produced."""

    out_dir: Path
    version: str
    num_scenes: int
    num_samples: int
    num_images: int
    num_annotations: int


def check_output(out_dir: Path, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` if ``out_dir`` must not be written."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"output path {out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise OutputExistsError(f"output directory {out_dir} is not empty (use --overwrite to replace it)")


def _json_dump(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(obj, list):  # one record per line, like the nuScenes tables
        text = "[\n" + ",\n".join(json.dumps(r, sort_keys=True) for r in obj) + "\n]\n"
    else:
        text = json.dumps(obj, sort_keys=True) + "\n"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _save_png(path: Path, array: np.ndarray) -> None:
    img = Image.fromarray(np.ascontiguousarray(array))  # uint8 -> 'L', uint16 -> 'I;16'
    img.save(path, format="PNG", compress_level=PNG_COMPRESS_LEVEL)


# Worker state: set in the parent before the pool forks, read by the workers.
_STATE: Dict[str, object] = {}


def _render_one(i: int) -> tuple:
    """Render keyframe ``i`` of the plan, write its files, return ``(i, FrameStats)``."""
    scenes: Sequence[SceneLog] = _STATE["scenes"]  # type: ignore[assignment]
    plan: SamplePlan = _STATE["plans"][i]  # type: ignore[index]
    rig: Rig = _STATE["rig"]  # type: ignore[assignment]
    root: Path = _STATE["root"]  # type: ignore[assignment]
    scene = scenes[plan.scene_idx]
    out = render_frame(
        scene.town,
        scene.frames[plan.frame_idx],
        rig,
        plan.anns,
        int(_STATE["seed"]),
        (scene.name, plan.frame_idx),
        annotation_ids=bool(_STATE["instance_masks"]),
    )
    for cam in out.cameras:
        rel = plan.data[cam.name][1]
        Image.fromarray(cam.rgb).save(root / rel, format="JPEG", quality=JPEG_QUALITY, subsampling=2)
        _save_png(Path(gt_mask_path(root, rel, "fg")), cam.foreground)
        _save_png(Path(gt_mask_path(root, rel, "semantic")), cam.semantic)
        if _STATE["instance_masks"]:
            _save_png(Path(gt_mask_path(root, rel, "instance")), cam.annotation_ids)
    lidar_rel = plan.data[rig.lidar.name][1]
    (root / lidar_rel).write_bytes(np.ascontiguousarray(out.lidar, dtype="<f4").tobytes())
    return i, out.stats


def _ignore_sigint() -> None:
    """Pool initializer: Ctrl-C is handled by the parent, which terminates the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _make_dirs(root: Path, rig: Rig, version: str, instance_masks: bool) -> None:
    (root / version).mkdir(parents=True)
    (root / "maps" / "expansion").mkdir(parents=True)
    for cam in rig.cameras:
        (root / "samples" / cam.name).mkdir(parents=True)
        for kind in ("fg", "semantic") + (("instance",) if instance_masks else ()):
            (root / GT_DIR / kind / "samples" / cam.name).mkdir(parents=True, exist_ok=True)
    (root / "samples" / rig.lidar.name).mkdir(parents=True)


def _write_maps(root: Path, scenes: Sequence[SceneLog], tables: Dict[str, List[dict]], seed: int) -> None:
    towns = {}
    for s in scenes:
        towns.setdefault(s.town.name, s.town)
    token_of = {make_token(seed, "map", loc): loc for loc in towns}
    for rec in tables["map"]:
        town = towns[token_of[rec["token"]]]
        Image.fromarray(rasterize_basemap(town)).save(
            root / rec["filename"], format="PNG", compress_level=PNG_COMPRESS_LEVEL
        )
        _json_dump(root / "maps" / "expansion" / f"{town.name}.json", build_map_expansion(town, seed))


def _write_metadata(
    root: Path,
    scenes: Sequence[SceneLog],
    rig: Rig,
    version: str,
    seed: int,
    plans: Sequence[SamplePlan],
    instance_masks: bool,
    ann_tokens: set,
) -> None:
    _json_dump(root / version / "splits.json", splits_of(scenes))
    _json_dump(
        root / GT_DIR / "semantic_classes.json",
        {
            "classes": [
                {"id": i, "name": n, "foreground": i in FOREGROUND_IDS}
                for i, n in enumerate(SEMANTIC_CLASSES)
            ],
            "foreground_ids": list(FOREGROUND_IDS),
            "fg_mask_values": {"background": 0, "foreground": 255},
        },
    )
    offsets = {}
    for s in scenes:
        offsets[s.town.name] = list(export_offset(s.town))
    _json_dump(
        root / GT_DIR / "world.json",
        {
            "version": version,
            "seed": int(seed),
            "image_size": [int(rig.cameras[0].width), int(rig.cameras[0].height)],
            "export_offset": offsets,
            "num_scenes": len(scenes),
            "samples_per_scene": len(scenes[0].frames) if scenes else 0,
            "scenes": {
                s.name: {"split": s.split, "location": s.town.name, "events": list(s.events)} for s in scenes
            },
            "note": "nuScenes global xy = simulator town xy + export_offset[location]",
        },
    )
    states = {}
    for p in plans:
        f = scenes[p.scene_idx].frames[p.frame_idx]
        states[p.token] = {
            "scene": scenes[p.scene_idx].name,
            "frame": p.frame_idx,
            "timestamp": int(f.timestamp),
            "command": f.command,
            "speed": float(f.ego.speed),
            "accel": float(f.ego.accel),
            "yaw_rate": float(f.ego.yaw_rate),
            "lights": {k: str(v) for k, v in sorted(f.lights.items())},
        }
    _json_dump(root / GT_DIR / "ego_states.json", states)
    if instance_masks:
        _json_dump(
            root / GT_DIR / "instance" / "index.json",
            {p.token: [a.token if a.token in ann_tokens else "" for a in p.anns] for p in plans},
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(out_dir: Path) -> List[Path]:
    """Delete temp dirs beside ``out_dir`` left by killed runs (their process is gone).

    Returns the removed paths.
    """
    out_dir = Path(out_dir)
    removed = []
    if not out_dir.parent.is_dir():
        return removed
    for kind in ("tmp", "old"):
        for path in out_dir.parent.glob(f".{out_dir.name}.{kind}-*"):
            pid = path.name.rsplit("-", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def _promote(tmp: Path, out_dir: Path) -> None:
    """Move the finished ``tmp`` tree to ``out_dir`` (replacing an existing one)."""
    if out_dir.is_dir():
        if any(out_dir.iterdir()):
            old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
            return
        out_dir.rmdir()
    tmp.rename(out_dir)


def write_world(
    scenes: Sequence[SceneLog],
    out_dir: Path,
    rig: Rig,
    seed: int,
    version: str = DEFAULT_VERSION,
    workers: int = 2,
    overwrite: bool = False,
    progress: bool = True,
    instance_masks: bool = False,
) -> WorldSummary:
    """Render and export ``scenes`` as a nuScenes dataroot at ``out_dir``.

    Args:
        scenes: scene logs (at most one town per nuScenes location name).
        out_dir: the dataroot to create.
        rig: sensor rig (image size = its cameras' size).
        seed: world seed (tokens, noise seeds).
        version: the nuScenes version folder name.
        workers: rendering processes (1: render in this process).
        overwrite: replace a non-empty ``out_dir``.
        progress: show a tqdm bar (images/s, ETA) on stderr.
        instance_masks: also write ``fastdrive_gt/instance`` (uint16 PNG,
            ``k + 1`` = k-th annotation of the sample in ``index.json``).

    Raises:
        OutputExistsError: ``out_dir`` is not empty and ``overwrite`` is False.
        ValueError: two different towns share a location name.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    towns: Dict[str, object] = {}
    for scene in scenes:
        if towns.setdefault(scene.town.name, scene.town) is not scene.town:
            raise ValueError(
                f"scenes use two different towns named {scene.town.name!r}; one town per location"
            )
    check_output(out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out_dir)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    plans = plan_world(scenes, seed, rig)
    done = False
    try:
        _make_dirs(tmp, rig, version, instance_masks)
        _STATE.update(scenes=scenes, plans=plans, rig=rig, root=tmp, seed=seed, instance_masks=instance_masks)
        stats: List[Optional[FrameStats]] = [None] * len(plans)
        n_cam = len(rig.cameras)
        bar = tqdm(
            total=len(plans) * n_cam, unit="img", desc="rendering", disable=not progress, smoothing=0.1
        )
        try:
            workers = max(1, min(int(workers), len(plans)))
            if workers == 1:
                for i in range(len(plans)):
                    _, stats[i] = _render_one(i)
                    bar.update(n_cam)
            else:
                with mp.get_context("fork").Pool(workers, initializer=_ignore_sigint) as pool:
                    for i, st in pool.imap_unordered(_render_one, range(len(plans)), chunksize=1):
                        stats[i] = st
                        bar.update(n_cam)
        finally:
            bar.close()
            _STATE.clear()
        tables = build_tables(scenes, plans, stats, rig, seed)  # type: ignore[arg-type]
        for name, records in tables.items():
            _json_dump(tmp / version / f"{name}.json", records)
        _write_maps(tmp, scenes, tables, seed)
        _write_metadata(
            tmp,
            scenes,
            rig,
            version,
            seed,
            plans,
            instance_masks,
            {a["token"] for a in tables["sample_annotation"]},
        )
        check_output(out_dir, overwrite)
        _promote(tmp, out_dir)
        done = True
        return WorldSummary(
            out_dir, version, len(scenes), len(plans), len(plans) * n_cam, len(tables["sample_annotation"])
        )
    finally:
        if not done:
            shutil.rmtree(tmp, ignore_errors=True)
