"""Throughput of the camera rasteriser and the lidar ray caster.

Prints camera images per second at 1600x900 and at a model-sized resolution
(default 448x252) for one and for two worker processes, plus lidar sweeps
per second. Each worker warms its caches (camera rays, ground textures) on
one frame first; only the frames after that are timed.

Usage::

    python -m benchmarks.bench_render [--world generated|toy] [--frames 8] [--sizes 1600x900 448x252]
                                      [--procs 1 2] [--preview out.png]

``--preview`` also writes a 3x2 contact sheet of the six cameras (top:
FRONT_LEFT, FRONT, FRONT_RIGHT; bottom: BACK_LEFT, BACK, BACK_RIGHT) with the
semantic mask blended in the lower half of each tile.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from typing import List, Tuple

import numpy as np


def _scene(world: str, frames: int):
    """(town, [(objects, ego, lighting)]) for ``frames`` keyframes."""
    if world == "generated":
        from fastdrive.sim.scenario import generate_world

        log = generate_world(1, seed=0, samples_per_scene=frames + 1)[0]
        return log.town, [(f.objects, f.ego, f.lighting or None) for f in log.frames]
    from fastdrive.sim.render.toy import TOY_LIGHTING, toy_ego, toy_objects, toy_town
    from fastdrive.sim.types import EgoState

    town, objs, ego = toy_town(), toy_objects(), toy_ego()
    poses = [EgoState(ego.x + 2.0 * i, ego.y, ego.yaw, ego.speed) for i in range(frames + 1)]
    return town, [(objs, pose, TOY_LIGHTING) for pose in poses]


def _worker(args: Tuple[str, int, Tuple[int, int], int]) -> Tuple[int, float, float, int, float]:
    """Render all six cameras of ``frames`` frames.

    Returns (images, wall seconds, lidar wall seconds, sweeps, camera CPU seconds of this process).
    """
    world, frames, size, offset = args
    from fastdrive.sim.lidar import raycast_lidar
    from fastdrive.sim.render import render_camera
    from fastdrive.sim.rig import nuscenes_rig

    rig = nuscenes_rig(size)
    town, items = _scene(world, frames)
    objs, ego, light = items[0]
    for cam in rig.cameras:  # warm-up: per-camera rays, ground textures
        render_camera(town, objs, ego, cam, light, noise_seed=0)
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for k, (objs, ego, light) in enumerate(items[1:]):
        for cam in rig.cameras:
            render_camera(town, objs, ego, cam, light, noise_seed=offset + k)
            n += 1
    t_cam, cpu_cam = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    for k, (objs, ego, _) in enumerate(items[1:]):
        raycast_lidar(town, objs, ego, rig.lidar, seed=k)
    return n, t_cam, time.perf_counter() - t0, len(items) - 1, cpu_cam


def _preview(world: str, path: str) -> None:
    import cv2

    from fastdrive.sim.render import render_camera
    from fastdrive.sim.rig import nuscenes_rig

    rig = nuscenes_rig((1600, 900))
    town, items = _scene(world, 1)
    objs, ego, light = items[-1]
    palette = np.random.default_rng(7).integers(40, 255, size=(256, 3)).astype(np.uint8)
    tiles: List[np.ndarray] = []
    for cam in rig.cameras:
        img = render_camera(town, objs, ego, cam, light)
        tile = img.rgb.copy()
        lower = slice(450, 900)
        tile[lower] = (0.5 * tile[lower] + 0.5 * palette[img.semantic[lower]]).astype(np.uint8)
        tiles.append(cv2.resize(tile, (800, 450), interpolation=cv2.INTER_AREA))
    order = [5, 0, 1, 4, 3, 2]
    sheet = np.vstack([np.hstack([tiles[i] for i in order[:3]]), np.hstack([tiles[i] for i in order[3:]])])
    cv2.imwrite(path, sheet[:, :, ::-1])
    print(f"preview written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", choices=("generated", "toy"), default="generated")
    parser.add_argument("--frames", type=int, default=8, help="timed keyframes per worker (x6 cameras)")
    parser.add_argument("--sizes", nargs="+", default=["1600x900", "448x252"])
    parser.add_argument("--procs", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--preview", default=None, help="also write a six-camera PNG here")
    args = parser.parse_args()
    if args.preview:
        _preview(args.world, args.preview)
    print(f"world={args.world} frames/worker={args.frames} cpu_count={mp.cpu_count()}")
    print("images/s: all workers together (wall clock); ms/image: per worker, wall and CPU time")
    print(f"{'size':>10} {'procs':>5} {'images/s':>9} {'ms/image':>9} {'CPU ms/image':>13} {'lidar sweeps/s':>15}")
    ctx = mp.get_context("spawn")
    for size_s in args.sizes:
        w, h = (int(v) for v in size_s.lower().split("x"))
        for procs in args.procs:
            jobs = [(args.world, args.frames, (w, h), 1000 * i) for i in range(procs)]
            if procs == 1:
                results = [_worker(jobs[0])]
            else:
                with ctx.Pool(procs) as pool:
                    results = pool.map(_worker, jobs)
            images = sum(r[0] for r in results)
            wall = max(r[1] for r in results)
            per = np.mean([r[1] / r[0] for r in results]) * 1000
            cpu = np.mean([r[4] / r[0] for r in results]) * 1000
            sweeps = sum(r[3] for r in results) / max(r[2] for r in results)
            print(f"{size_s:>10} {procs:>5} {images / wall:>9.1f} {per:>9.1f} {cpu:>13.1f} {sweeps:>15.1f}")


if __name__ == "__main__":
    main()
