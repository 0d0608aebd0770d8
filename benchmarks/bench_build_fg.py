"""Benchmark the nuScenes-FG builder: box-mode throughput and SAM cost per image / per box.

Box mode: camera images per second of the whole build loop (prompts from the
devkit and the map, image check, mask fill, PNG write, journal) on a
generated 1600x900 world, in-process and with ``--workers`` processes; the
rate is taken between the first and the last finished image (steady state),
and end to end including loading the tables and maps.

SAM: ``set_image`` seconds per image and ``predict_torch`` seconds per box,
with a tiny random SAM (always) and a random ``vit_b`` (``--vit-b``; slow on CPU).

Example::

    python benchmarks/bench_build_fg.py                      # generates a 2 x 4 world at 1600x900
    python benchmarks/bench_build_fg.py --dataroot outputs/world --vit-b
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


class _Clock:
    """tqdm stand-in recording when each image finished."""

    def __init__(self, **_: object) -> None:
        self.times: List[float] = []

    def update(self, n: int = 1) -> None:
        self.times.extend([time.perf_counter()] * n)

    def close(self) -> None:
        pass


def _world(args: argparse.Namespace, tmp: str) -> str:
    if args.dataroot:
        return args.dataroot
    root = os.path.join(tmp, "world")
    cmd = [
        sys.executable,
        "-m",
        "data_tools.make_world",
        "--out",
        root,
        "--scenes",
        str(args.scenes),
        "--seed",
        "1",
        "--samples-per-scene",
        str(args.samples),
        "--image-size",
        args.image_size,
        "--quiet",
    ]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    print(
        f"generated {root} ({args.scenes} scenes x {args.samples} keyframes x 6 cameras "
        f"at {args.image_size}) "
        f"in {time.perf_counter() - t:.1f} s"
    )
    return root


def bench_box(dataroot: str, version: str, workers: int, tmp: str, classes) -> None:
    from fastdrive.datasets.nuscenes_fg import BoxSegmenter, BuildOptions, run_build

    clocks: List[_Clock] = []

    def progress(**kw: object) -> _Clock:
        clocks.append(_Clock(**kw))
        return clocks[-1]

    out = tempfile.mkdtemp(dir=tmp, prefix=f"box_w{workers}_")
    t0 = time.perf_counter()
    summary = run_build(
        BuildOptions(dataroot, version, out, workers=workers), classes, BoxSegmenter, progress
    )
    total = time.perf_counter() - t0
    times = clocks[0].times
    n = summary["images"]
    steady = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
    print(
        f"box mode, workers={workers}: {n} images, {steady:.1f} images/s steady state, "
        f"{n / total:.1f} images/s end to end ({total:.1f} s incl. loading tables and maps)"
    )


def _sample_images(dataroot: str, version: str, classes, count: int):
    from PIL import Image

    from fastdrive.datasets.nuscenes_fg.builder import load_maps, load_nuscenes
    from fastdrive.datasets.nuscenes_fg.prompts import PromptExtractor

    nusc = load_nuscenes(dataroot, version)
    maps = load_maps(nusc, dataroot, [nusc.get("log", s["log_token"])["location"] for s in nusc.scene])
    ex = PromptExtractor(nusc, maps, classes)
    cams = [sd for sd in nusc.sample_data if sd["is_key_frame"] and sd["filename"].startswith("samples/CAM_")]
    out = []
    for sd in cams:
        p = ex(sd["token"])
        if p.objects:
            out.append((np.asarray(Image.open(os.path.join(dataroot, sd["filename"])).convert("RGB")), p))
        if len(out) == count:
            break
    return out


def bench_sam(name: str, model, samples, repeats: int) -> None:
    import torch

    from fastdrive.datasets.nuscenes_fg import SamSegmenter

    torch.set_grad_enabled(False)
    seg = SamSegmenter(model, device="cpu")
    image, prompts = samples[0]
    seg.set_image(image)  # warm-up
    seg.predict_boxes(np.stack([o.box for o in prompts.objects]))
    set_times, box_times, boxes = [], [], 0
    for image, prompts in samples[:repeats]:
        t = time.perf_counter()
        seg.set_image(image)
        set_times.append(time.perf_counter() - t)
        b = np.stack([o.box for o in prompts.objects])
        t = time.perf_counter()
        seg.predict_boxes(b)
        box_times.append(time.perf_counter() - t)
        boxes += len(b)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    h, w = samples[0][0].shape[:2]
    print(
        f"SAM {name} ({params:.2f} M params, CPU, {torch.get_num_threads()} threads, {w}x{h} images): "
        f"set_image {np.mean(set_times):.3f} s/image, "
        f"predict_torch {sum(box_times) / boxes * 1000:.1f} ms/box "
        f"({boxes} boxes over {len(set_times)} images, batched per image)"
    )


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataroot", help="existing world (default: generate one)")
    p.add_argument("--version", default="v1.0-fastdrive")
    p.add_argument("--scenes", type=int, default=2)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--image-size", default="1600x900")
    p.add_argument("--workers", default="0,2", help="comma-separated worker counts for box mode")
    p.add_argument("--sam-images", type=int, default=4, help="images for the SAM timings")
    p.add_argument("--vit-b", action="store_true", help="also time a random vit_b SAM (minutes on CPU)")
    args = p.parse_args(argv)

    from mmengine.config import Config

    from fastdrive.datasets.nuscenes_fg import FGClasses, build_sam_from_config, tiny_sam_config
    from fastdrive.datasets.nuscenes_fg.sam_models import preset_config

    classes = FGClasses.from_config(
        Config.fromfile(os.path.join(ROOT, "configs/nuscenes_fg/fg_classes.py")).to_dict()
    )
    print(f"machine: {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        dataroot = _world(args, tmp)
        for w in (int(x) for x in args.workers.split(",")):
            bench_box(dataroot, args.version, w, tmp, classes)
        samples = _sample_images(dataroot, args.version, classes, args.sam_images)
        if not samples:
            print("no image with object prompts; SAM timings skipped")
            return 0
        bench_sam("tiny", build_sam_from_config(tiny_sam_config()), samples, args.sam_images)
        if args.vit_b:
            bench_sam("vit_b (random weights)", build_sam_from_config(preset_config("vit_b")), samples, 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
