"""Synthetic-world generation throughput on this machine.

Measures, with the real generator, renderer, lidar and writer:

1. camera images per second of the full export pipeline (render six cameras
   + lidar, encode JPEG/PNGs, write) at 1600x900 and at a model input size
   (448x252 by default), with the default 2 worker processes;
2. the same for the renderer alone (``render_camera``, one process);
3. the wall time of the default demo world (``make_world`` defaults:
   4 scenes x 40 keyframes x 6 cameras at 1600x900, 2 workers), which must
   stay under 3 minutes on the 2-core reference machine.

Example::

    python benchmarks/bench_world_generation.py            # everything
    python benchmarks/bench_world_generation.py --skip-demo --json out.json

Other processes on the machine slow every figure down; rerun when it is quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEMO_LIMIT_S = 180.0


def _size(text: str) -> Tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def bench_render_only(size: Tuple[int, int], frames: int, seed: int) -> float:
    """``render_camera`` images/s in this process (after one warm-up frame)."""
    from fastdrive.sim.render import render_camera
    from fastdrive.sim.rig import nuscenes_rig
    from fastdrive.sim.scenario import generate_world

    scene = generate_world(1, seed, samples_per_scene=frames + 1)[0]
    rig = nuscenes_rig(size)
    for cam in rig.cameras:  # warm per-camera caches
        render_camera(scene.town, scene.frames[0].objects, scene.frames[0].ego, cam, scene.frames[0].lighting)
    start = time.perf_counter()
    for frame in scene.frames[1:]:
        for cam in rig.cameras:
            render_camera(scene.town, frame.objects, frame.ego, cam, frame.lighting)
    return frames * len(rig.cameras) / (time.perf_counter() - start)


def bench_pipeline(
    size: Tuple[int, int], scenes: int, frames: int, seed: int, workers: int, tmp: Path
) -> Dict[str, float]:
    """Full export of a small world: images/s of the rendering phase and of the whole write."""
    from fastdrive.sim.rig import nuscenes_rig
    from fastdrive.sim.scenario import generate_world
    from fastdrive.sim.writer import write_world

    t0 = time.perf_counter()
    world = generate_world(scenes, seed, samples_per_scene=frames)
    t1 = time.perf_counter()
    out = tmp / f"world_{size[0]}x{size[1]}"
    summary = write_world(
        world, out, nuscenes_rig(size), seed, workers=workers, overwrite=True, progress=False
    )
    t2 = time.perf_counter()
    shutil.rmtree(out, ignore_errors=True)
    return {
        "images": summary.num_images,
        "generate_s": t1 - t0,
        "write_s": t2 - t1,
        "images_per_s": summary.num_images / (t2 - t1),
    }


def bench_demo(tmp: Path, workers: int) -> Dict[str, float]:
    """Wall time of ``python -m data_tools.make_world`` with its defaults (the demo world)."""
    import subprocess

    out = tmp / "demo"
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [
        sys.executable,
        "-m",
        "data_tools.make_world",
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--quiet",
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=str(repo), env=env, stdout=subprocess.PIPE)
    wall = time.perf_counter() - start
    n_images = sum(1 for _ in (out / "samples").glob("CAM_*/*.jpg"))
    shutil.rmtree(out, ignore_errors=True)
    return {"wall_s": wall, "images": n_images, "images_per_s": n_images / wall}


def main(argv: List[str] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model-size", type=_size, default=(448, 252), help="model input size WxH (default 448x252)"
    )
    p.add_argument(
        "--frames",
        type=int,
        default=12,
        help="keyframes per throughput run (x6 cameras; each worker's first frame warms its caches)",
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-demo", action="store_true", help="skip the default demo world run")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = p.parse_args(argv)

    results: Dict[str, object] = {"cpu_count": os.cpu_count(), "load_avg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench_world_") as d:
        tmp = Path(d)
        for size in ((1600, 900), tuple(args.model_size)):
            key = f"{size[0]}x{size[1]}"
            render = bench_render_only(size, args.frames, args.seed)
            pipe = bench_pipeline(size, 1, args.frames, args.seed, args.workers, tmp)
            results[key] = {"render_only_images_per_s_1proc": render, "pipeline": pipe}
            print(
                f"{key}: render_camera {render:.2f} img/s (1 process); full export "
                f"{pipe['images_per_s']:.2f} img/s ({args.workers} workers, {pipe['images']} images, "
                f"world generation {pipe['generate_s']:.1f} s)",
                flush=True,
            )
        if not args.skip_demo:
            demo = bench_demo(tmp, args.workers)
            results["demo"] = demo
            verdict = "OK" if demo["wall_s"] < DEMO_LIMIT_S else "OVER the 3-minute target"
            print(
                f"demo world (4 scenes x 40 keyframes x 6 cameras, 1600x900, {args.workers} workers): "
                f"{demo['wall_s']:.1f} s wall, {demo['images']} images, {demo['images_per_s']:.2f} img/s -> "
                f"{verdict}",
                flush=True,
            )
    results["load_avg_after"] = os.getloadavg()
    print(f"load average before/after: {results['load_avg_before']} / {results['load_avg_after']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
