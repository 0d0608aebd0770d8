"""Closed-loop driving through ``POST /plan``: every episode re-rendered from where the plan took the ego.

Usage::

    python -m fastdrive.sim.closed_loop --server URL|local --dataroot WORLD [--split val] [--scenes S ...]
        [--method M --ratios R ... | --sweep] [--seconds 15] [--starts 1] [--out-json F] [--video OUT.gif|.mp4]

``--server local`` starts ``python -m service`` on 127.0.0.1 for the run and stops it after.
Prints one line per episode and the PDM table (reference rows: log replay, constant velocity,
the unpruned planner, the planner fed another scene's camera; then each method x ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional, Sequence


def _size(text: str):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w < 28 or h < 28:
            raise ValueError
        return w, h
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH of at least 28x28, e.g. 1600x900, got {text!r}") from None


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m fastdrive.sim.closed_loop", description=(
        "Drive a FastDrive world's scenes in closed loop through the planning service (POST /plan) and "
        "score every episode with a PDM-style score (docs/pdm_score.md)."),
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--server", required=True, help="service base URL (http://127.0.0.1:8000), or 'local' to start one")
    p.add_argument("--dataroot", required=True, help="a world made by data_tools.make_world")
    p.add_argument("--split", default="val", choices=("train", "val", "all"), help="scenes to drive (default val)")
    p.add_argument("--scenes", nargs="+", default=None, help="these scene names instead of a split")
    p.add_argument("--method", default=None, help="pruning method of the pruned rows (default: recon)")
    p.add_argument("--ratios", "--ratio", type=float, nargs="+", default=[], help="pruning ratios of the pruned rows")
    p.add_argument("--sweep", action="store_true", help="every served method at 25/50/75%%")
    p.add_argument("--no-references", action="store_true", help="skip the reference rows")
    p.add_argument("--seconds", type=float, default=15.0, help="episode length (default 15)")
    p.add_argument("--starts", type=int, default=1, help="start frames per scene, spread over the scene (default 1: 0 s)")
    p.add_argument("--render-size", type=_size, default=None, help="camera size WxH (default: the world's own)")
    p.add_argument("--api-key", default=os.environ.get("FASTDRIVE_API_KEY"), help="the service's API key")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a plan may take before the episode fails")
    p.add_argument("--out-json", default=None, help="write every episode and the table here")
    p.add_argument("--video", default=None, help="write one episode as .gif or .mp4")
    p.add_argument("--video-row", default=None, help="the row of the video (default: the first pruned row)")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples over scenes")
    args = p.parse_args(argv)
    if args.ratios and not all(0.0 <= r < 1.0 for r in args.ratios):
        p.error("--ratios must be in [0, 1)")
    if args.seconds <= 0 or args.starts < 1:
        p.error("--seconds must be positive and --starts at least 1")
    if args.video and os.path.splitext(args.video)[1].lower() not in (".gif", ".mp4"):
        p.error("--video must end in .gif or .mp4")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    import httpx

    from ...errors import FastDriveError
    from .episode import Camera
    from .replay import ReplayWorld
    from .runner import episodes, format_table, pruning_rows, reference_rows, run_rows, table
    from .video import episode_frames, write_video

    try:
        world = ReplayWorld(args.dataroot)
        scenes = world.split(None if args.split == "all" else args.split, args.scenes)
        specs = episodes(scenes, args.seconds, args.starts, swap_pool=list(world.scenes.values()))
    except (FastDriveError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = None
    url = args.server
    if url == "local":
        from service.process import ServerProcess

        print("starting the planning service on 127.0.0.1 ...", file=sys.stderr, flush=True)
        try:
            server = ServerProcess(["--api-key", args.api_key] if args.api_key else []).start()
        except RuntimeError as exc:
            print(f"error: the service did not start: {exc}", file=sys.stderr)
            return 1
        url = server.url
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=args.timeout) as client:
            try:
                ready = client.get("/readyz")
                served = client.get("/v1/pruners")
            except httpx.HTTPError as exc:
                print(f"error: cannot reach the service at {url}: {exc}", file=sys.stderr)
                return 1
            if ready.status_code != 200 or served.status_code != 200:
                print(f"error: the service at {url} is not ready (readyz {ready.status_code}, "
                      f"pruners {served.status_code}: {served.text[:200]})", file=sys.stderr)
                return 1
            info = ready.json()
            methods = [m["method"] for m in served.json()["methods"]]
            rows = [] if args.no_references else reference_rows()
            if args.sweep:
                rows += pruning_rows(methods, (0.25, 0.5, 0.75))
            elif args.ratios:
                rows += pruning_rows([args.method or "recon"], args.ratios)
            camera = Camera(info.get("cameras", ["CAM_FRONT"]), args.render_size or world.image_size, world.seed)
            video_row = args.video_row or next((r.label for r in rows if r.pruning and r.pruning["method"] != "none"),
                                               "unpruned")
            first = specs[0]
            print(f"# {len(specs)} episodes of {args.seconds:g} s in {len(scenes)} scene(s), {len(rows)} rows; "
                  f"model {info.get('model')}", flush=True)
            t0 = time.perf_counter()
            results = run_rows(rows, specs, client, camera, progress=lambda line: print(line, flush=True),
                               record=lambda row, spec: bool(args.video) and row.label == video_row and spec is first,
                               send_prev_frames=bool(info.get("reads_prev_frames")))
    finally:
        if server is not None:
            server.stop()
    summary = table(results, resamples=args.resamples)
    print()
    print(format_table(summary))
    print(f"\n# {time.perf_counter() - t0:.0f} s; PDMS = NC x DAC x TLC x (5 TTC + 5 EP + 2 C) / 12 (docs/pdm_score.md); "
          "95% intervals: bootstrap over scenes (none with one scene); clean s: seconds before the first at-fault "
          "collision, drivable-area exit or red-light entry")
    if args.video:
        rec = next((r for r in results.get(video_row, []) if r.frames), None)
        if rec is None:
            print(f"# no video: row {video_row!r} recorded no episode", file=sys.stderr)
        else:
            scene = world.scenes[rec.scene]
            roads = [seg.polygon for seg in scene.town.road_segments]
            write_video(episode_frames(rec.frames, scene.route, f"{video_row} {rec.scene}", roads), args.video)
            print(f"# wrote {args.video}")
    if args.out_json:
        os.makedirs(os.path.dirname(os.path.abspath(args.out_json)), exist_ok=True)
        payload = {"args": {k: v for k, v in vars(args).items() if k != "api_key"}, "table": summary,
                   "episodes": {row: [{"scene": r.scene, "start_s": r.start_s, "failure": r.failure,
                                       "cost_ms": r.cost_ms, "pdm": None if r.pdm is None else vars(r.pdm)}
                                      for r in res] for row, res in results.items()}}
        tmp = args.out_json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(payload, f, indent=1, default=float)
        os.replace(tmp, args.out_json)
        print(f"# wrote {args.out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
