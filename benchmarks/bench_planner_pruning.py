"""Open-loop table of the embedded driving VLA: every pruner x pruning ratio, with proof it can tell them apart.

Usage::

    python benchmarks/bench_planner_pruning.py --world DIR [--version v1.0-fastdrive] [--split val]
        [--checkpoint PATH] [--methods M ...] [--no-oracles] [--ratios 0 0.25 0.5 0.75] [--limit N]
        [--pairing config|sample] [--no-swap] [--grey] [--recon-weights FILE] [--swap-seed S] [--resamples R]
        [--image-size W H] [--threads T] [--out-json PATH] [--out-md PATH] [--out-png PATH]
    python benchmarks/bench_planner_pruning.py --from-json PATH [--out-md PATH] [--out-png PATH]

Rows: unpruned; the reference rows that bound the benchmark (constant
velocity, camera swap: each sample planned with another scene's frame, and
optionally a grey frame); every method x ratio, including the ground-truth
oracles ``oracle_fg`` / ``oracle_obj`` / ``oracle_bg`` (on a FastDrive world).
Columns: L2 avg and its ratio to unpruned with a paired 95% interval from a
bootstrap over scenes, the same on the *critical* samples (the future departs
from constant velocity because of something in view), the collision rate and
its difference in percentage points with its interval, intersection,
tokens kept, object-level token metrics (instance coverage, foreground
precision and recall, road recall), latency and the pruner's own time. A
second table gives L2 per event subset (pedestrian, lead, red light, start,
turn, cruise, and ``critical_moving``: the critical samples that are not
starts). ``--out-json`` keeps every row, subset and interval.
See :mod:`fastdrive.evaluation.pruning_sweep` and :mod:`fastdrive.evaluation.sweep_report`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import planner_pruning_report as report  # noqa: E402

PROG = "bench_planner_pruning"
ORACLES = ("oracle_fg", "oracle_obj", "oracle_bg")


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def world_masks(world: str, camera: str, kind: str):
    """Record -> ``(H, W)`` ground-truth mask of ``camera`` (``kind`` 'fg': bool, 'semantic': ids), or None."""
    from fastdrive.sim.ground_truth import load_fg_mask, load_semantic_mask

    load = load_fg_mask if kind == "fg" else load_semantic_mask
    return lambda record: load(world, record["cams"][camera]["img_path"])


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    from fastdrive.planner import DEFAULT_CHECKPOINT

    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    ap.add_argument("--world", help="dataroot of a FastDrive world (or real nuScenes)")
    ap.add_argument("--from-json", metavar="PATH", help="redraw tables / plot from a saved --out-json")
    ap.add_argument("--version", default="v1.0-fastdrive")
    ap.add_argument("--split", default="val", choices=("train", "val"))
    ap.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="exported driving-VLA file")
    ap.add_argument("--methods", nargs="+", default=None, help="pruners (default: every registered one)")
    ap.add_argument("--no-oracles", action="store_true", help="skip the ground-truth oracle rows")
    ap.add_argument("--ratios", nargs="+", type=float, default=[0.0, 0.25, 0.5, 0.75])
    ap.add_argument("--limit", type=int, default=None, help="plan only the first N scored samples")
    ap.add_argument("--pairing", default="config", choices=("config", "sample"),
                    help="unpruned reference call before every pruned call, or once per sample")
    ap.add_argument("--no-swap", action="store_true", help="skip the camera-swap reference row")
    ap.add_argument("--swap-seed", type=int, default=0, help="seed of the camera-swap partners")
    ap.add_argument("--grey", action="store_true", help="add the (out-of-distribution) grey-frame row")
    ap.add_argument("--recon-weights", default=None, metavar="FILE",
                    help="ReconPruner weights for the 'recon' rows (default: the shipped ones)")
    ap.add_argument("--option", action="append", default=[], metavar="METHOD.KEY=VALUE",
                    help="a constructor argument of one method's pruner, e.g. recon.peaks_first=true "
                         "(value read as JSON, else as a string; repeatable)")
    ap.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples over scenes")
    ap.add_argument("--image-size", nargs=2, type=int, metavar=("W", "H"), default=None,
                    help="size images are loaded at (default: the model's input size)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out-json", default=None, help="write every row, subset and interval here")
    ap.add_argument("--out-md", default=None, help="write the markdown tables here")
    ap.add_argument("--out-png", default=None, help="write the plot here")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if not args.world and not args.from_json:
        ap.error("one of --world or --from-json is required")
    return args


def parse_options(items: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """``['recon.peaks_first=true']`` -> ``{'recon': {'peaks_first': True}}``; :class:`CliError` on a malformed item."""
    out: Dict[str, Dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        method, dot, name = key.partition(".")
        if not sep or not dot or not method or not name:
            raise CliError(f"--option {item!r}: expected METHOD.KEY=VALUE, e.g. recon.peaks_first=true")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(method, {})[name] = value
    return out


def measure(args: argparse.Namespace) -> dict:
    """Plan the sweep and return its JSON data (written to ``--out-json`` when given)."""
    import tempfile

    import torch

    from fastdrive.datasets.planning import PlanningDataset
    from fastdrive.evaluation.event_tags import tag_records
    from fastdrive.evaluation.pruning_sweep import ordered_indices, run_pruning_sweep
    from fastdrive.evaluation.selection_intervals import selection_intervals
    from fastdrive.evaluation.sweep_report import sweep_to_json, sweep_token_metrics
    from fastdrive.models.driving_vla_io import PlannerCheckpointError
    from fastdrive.planner import EmbeddedPlanner
    from fastdrive.pruning import list_pruners

    if not os.path.isdir(os.path.join(args.world, args.version)):
        raise CliError(f"no {args.version} tables under {args.world} "
                       "(make a world with python -m data_tools.make_world)")
    if not os.path.isfile(args.checkpoint):
        raise CliError(f"planner checkpoint not found: {args.checkpoint} (train / export one, or pass --checkpoint)")
    methods = list(args.methods or list_pruners())
    known = list_pruners(include_oracles=True)
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise CliError(f"unknown pruner(s) {', '.join(unknown)}; registered: {', '.join(known)}")
    has_gt = os.path.isdir(os.path.join(args.world, "fastdrive_gt", "semantic"))
    if not args.no_oracles and has_gt:
        methods += [o for o in ORACLES if o not in methods]
    if any(m in ORACLES for m in methods) and not has_gt:
        raise CliError(f"the oracle pruners need a FastDrive world's ground truth (no fastdrive_gt under {args.world})")
    bad = [r for r in args.ratios if not 0.0 <= r < 1.0]
    if bad:
        raise CliError(f"ratios must be in [0, 1), got {bad}")
    if args.recon_weights and not os.path.isfile(args.recon_weights):
        raise CliError(f"--recon-weights not found: {args.recon_weights}")
    if args.limit is not None and args.limit < 1:
        raise CliError("--limit must be at least 1")
    options = parse_options(args.option)
    if args.recon_weights:
        options.setdefault("recon", {})["weights"] = args.recon_weights
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        planner = EmbeddedPlanner.from_checkpoint(args.checkpoint, device=args.device)
    except PlannerCheckpointError as exc:
        raise CliError(str(exc)) from None
    size = tuple(args.image_size) if args.image_size else tuple(planner.model.image_size)
    t0 = time.perf_counter()
    ds = PlanningDataset(args.world, args.version, args.split, cameras=planner.cameras, image_size=size,
                         prev_frame=planner.reads_prev_frames)
    total = len(ordered_indices(ds, args.limit))
    if total == 0:
        raise CliError(f"no {args.split} sample with all 6 future poses under {args.world}")
    print(f"{PROG}: {args.world} ({args.version}, {args.split}): {len(ds)} samples, {total} to plan; "
          f"checkpoint {args.checkpoint}; {len(methods)} methods x ratios {sorted(set(args.ratios) | {0.0})}; "
          f"pairing {args.pairing}; images {size[0]}x{size[1]}; torch threads {torch.get_num_threads()}; "
          f"load average {args.load:.2f}", flush=True)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="sample", desc="planning", file=sys.stderr)
    cam = planner.cameras[0]
    try:
        result = run_pruning_sweep(planner, ds, methods, args.ratios, options=options, limit=args.limit,
                                   pairing=args.pairing,
                                   progress=bar.update if bar is not None else None,
                                   fg_mask=world_masks(args.world, cam, "fg"), blind=args.grey,
                                   swap=not args.no_swap, swap_seed=args.swap_seed,
                                   semantic=world_masks(args.world, cam, "semantic") if has_gt else None)
    finally:
        if bar is not None:
            bar.close()
    per_image: dict = {}
    tokens = sweep_token_metrics(result, args.world, cam, per_sample=per_image)
    selection = selection_intervals(per_image, per_image.get("_scenes", []), excluded=ORACLES,
                                    num_resamples=args.resamples) if per_image.get("_scenes") else {}
    tags = tag_records(result.records, args.world)
    argv = sys.argv[1:] if args.argv is None else args.argv
    meta = dict(command="python benchmarks/bench_planner_pruning.py " + " ".join(argv), world=args.world,
                split=args.split, checkpoint=os.path.basename(args.checkpoint), pairing=args.pairing,
                load_average=args.load, wall_s=round(time.perf_counter() - t0, 1), swap_seed=args.swap_seed,
                torch_threads=torch.get_num_threads(), image_size=list(size))
    path = args.out_json or os.path.join(tempfile.mkdtemp(prefix="fastdrive-sweep-"), "sweep.json")
    return sweep_to_json(result, tags, path, tokens, meta, num_resamples=args.resamples, selection=selection)


def run(args: argparse.Namespace) -> int:
    from fastdrive.evaluation.selection_intervals import selection_lines

    if args.from_json:
        try:
            with open(args.from_json, "r", encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read {args.from_json}: {exc}") from None
    else:
        data = measure(args)
        if args.out_json:
            print(f"wrote {args.out_json}")
    rows = report.main_rows(data)
    print(report.format_text(report.MAIN_HEADER, rows))
    ratios = sorted({r["ratio"] for r in data["rows"] if r["ratio"] > 0})
    top = ratios[-1] if ratios else None
    subs = report.subset_rows(data, top)
    print()
    print(report.format_text(subs[0], subs[1:]))
    meta = data.get("meta", {})
    for line in report.diagnostics_lines(data):
        print(line)
    if data.get("selection"):
        print("\ntoken selection (mean over images; best - next best, paired 95% scene bootstrap):")
        for line in selection_lines(data["selection"]):
            print("  " + line)
    print(f"{data['num_samples']} samples from {data['num_scenes']} scenes; subsets {data['subsets']}; "
          f"wall {meta.get('wall_s', '-')} s")
    caption = (
        f"{data['num_samples']} {meta.get('split', '')} samples ({data['num_scenes']} scenes) of "
        f"`{meta.get('world', '')}`, checkpoint `{meta.get('checkpoint', '')}`, pairing "
        f"'{meta.get('pairing', '')}'. L2 in m; collision / intersection in % (mean over 1/2/3 s). Intervals: "
        f"paired 95% bootstrap over scenes against the unpruned model (ratio for L2, difference in percentage "
        f"points for rates); `*` marks an interval that excludes no change. Token metrics pooled over samples: "
        f"obj coverage = share of object instances with a kept token on them, fg precision = share of kept "
        f"tokens that are mostly foreground, recalls = share of foreground / road tokens kept.")
    if args.out_md:
        os.makedirs(os.path.dirname(os.path.abspath(args.out_md)), exist_ok=True)
        with open(args.out_md, "w", encoding="utf-8") as fh:
            fh.write(report.markdown_report(data, meta.get("command", ""), caption, top))
        print(f"wrote {args.out_md}")
    if args.out_png:
        title = f"{meta.get('checkpoint', '')} on {meta.get('world', '')} ({meta.get('split', '')}, " \
                f"{data['num_samples']} samples)"
        report.write_plot(data, args.out_png, title)
        print(f"wrote {args.out_png}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    args.argv = None if argv is None else list(argv)
    args.load = os.getloadavg()[0]
    try:
        return run(args)
    except CliError as exc:
        lines = str(exc).strip().splitlines() or [""]
        print(f"{PROG}: error: {lines[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
