"""Open-loop table of the embedded driving VLA: every pruner x pruning ratio (issue 5).

Usage::

    python benchmarks/bench_planner_pruning.py --world DIR [--version v1.0-fastdrive] [--split val]
        [--checkpoint PATH] [--methods M ...] [--ratios 0 0.25 0.5 0.75] [--limit N]
        [--pairing config|sample] [--image-size W H] [--threads T]
        [--out-md PATH] [--out-png PATH]

Rows: method x ratio; columns: L2 at 1/2/3 s and average (m), collision and
intersection (%, mean over 1/2/3 s), visual tokens kept, model latency
(vision + LLM prefill + head, ms) and the pruner's own time, each relative to
the unpruned model (L2 as a ratio, rates as a difference in percentage
points, tokens as a share, latency as a ratio to the unpruned calls paired
with that configuration in the same loop). Writes a markdown table for
``docs/results.md`` and a PNG with L2 and latency against the share of
tokens kept. See :mod:`fastdrive.evaluation.pruning_sweep` for the protocol.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastdrive.evaluation.pruning_sweep import L2_KEYS, RATE_KEYS, ConfigResult, SweepResult  # noqa: E402

PROG = "bench_planner_pruning"
HEADER = ("method", "ratio", "L2_1s", "L2_2s", "L2_3s", "L2_avg", "collision", "intersection", "tokens_kept",
          "fg_recall", "latency_ms", "pruner_ms")
MARKERS = "osD^vP*Xph<>"


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _fmt(x: float, digits: int = 3) -> str:
    return "-" if x is None or x != x else f"{x:.{digits}f}"


def table_rows(result: SweepResult) -> List[List[str]]:
    """The printed / markdown table: the unpruned row, every (method, ratio), constant velocity.

    Each cell holds the value and, in parentheses, its relation to the
    unpruned run: L2 as a ratio (``0.93x``), collision / intersection as a
    difference in percentage points, tokens kept as a share, latency as a
    ratio to the paired unpruned calls.
    """
    out = []

    def add(row: ConfigResult, name: str) -> None:
        if row.error:
            out.append([name, f"{row.ratio:.2f}", f"error: {row.error}"] + [""] * (len(HEADER) - 3))
            return
        m, rel = row.metrics, result.relative(row)
        cells = [f"{_fmt(m.get(k, float('nan')))} ({_fmt(rel[k + '_rel'], 2)}x)" for k in L2_KEYS]
        cells += [f"{_fmt(m.get(k, float('nan')), 2)} ({rel[k + '_delta']:+.2f})" for k in RATE_KEYS]
        cells += [f"{_fmt(row.tokens_kept, 1)} ({_fmt(rel['tokens_share'], 2)})", _fmt(row.fg_recall, 2),
                  f"{_fmt(row.latency_ms, 1)} ({_fmt(rel['latency_rel'], 2)}x)", _fmt(row.pruner_ms, 2)]
        out.append([name, f"{row.ratio:.2f}", *cells])

    add(result.unpruned, "unpruned")
    for row in result.rows:
        if row.ratio > 0.0:
            add(row, row.method)
    refs = [("constant_velocity", result.constant_velocity)]
    if result.blind is not None:
        refs.append(("camera blanked (grey)", result.blind))
    for name, m in refs:
        ref_row = [name, "-", *(_fmt(m.get(k, float("nan"))) for k in L2_KEYS),
                   *(_fmt(m.get(k, float("nan")), 2) for k in RATE_KEYS)]
        out.append(ref_row + ["-"] * (len(HEADER) - len(ref_row)))
    return out


def world_fg_masks(world: str, camera: str):
    """Record -> ``(H, W)`` bool ground-truth foreground of ``camera`` in a FastDrive world
    (:func:`fastdrive.sim.ground_truth.load_fg_mask`), None where the world has none."""
    from fastdrive.sim.ground_truth import load_fg_mask

    return lambda record: load_fg_mask(world, record["cams"][camera]["img_path"])


def format_text(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) if i < len(r) else 0 for r in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [HEADER, *rows]]
    return "\n".join(lines)


def format_markdown(rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_plot(result: SweepResult, path: str, title: str) -> None:
    """Two panels against the share of tokens kept: L2 avg and latency relative to unpruned."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_l2, ax_lat) = plt.subplots(1, 2, figsize=(12, 5.4))
    base = result.unpruned
    methods = list(dict.fromkeys(r.method for r in result.rows))
    for i, method in enumerate(methods):
        pts = sorted((r.keep_share, r.metrics["L2_avg"], r.latency_rel) for r in result.rows
                     if r.method == method and not r.error)
        if not pts:
            continue
        xs, l2, lat = zip(*pts)
        color = plt.get_cmap("tab10")(i) if i < 10 else plt.get_cmap("tab20")((2 * i - 19) % 20)
        style = dict(marker=MARKERS[i % len(MARKERS)], ms=5, color=color, label=method)
        ax_l2.plot(xs, l2, **style)
        ax_lat.plot(xs, lat, **style)
    ax_l2.plot([1.0], [base.metrics["L2_avg"]], marker="*", ms=14, color="k", ls="none", label="unpruned")
    ax_lat.plot([1.0], [1.0], marker="*", ms=14, color="k", ls="none", label="unpruned")
    cv = result.constant_velocity.get("L2_avg")
    if cv is not None:
        ax_l2.axhline(cv, color="grey", ls="--", lw=1, label="constant velocity")
    if result.blind is not None:
        ax_l2.axhline(result.blind["L2_avg"], color="tab:red", ls="-.", lw=1, label="camera blanked")
    ax_lat.plot([0.0, 1.0], [0.0, 1.0], color="grey", ls=":", lw=1, label="proportional to tokens")
    ax_l2.set(xlabel="share of visual tokens kept", ylabel="L2 avg (m)", title="open-loop L2")
    ax_lat.set(xlabel="share of visual tokens kept", ylabel="model latency / paired unpruned",
               title=f"prefill latency (unpruned {base.latency_ms:.1f} ms)")
    for ax in (ax_l2, ax_lat):
        ax.set_xlim(0.0, 1.05)
        ax.grid(alpha=0.3)
    ax_lat.set_ylim(bottom=0.0)
    handles, labels = ax_l2.get_legend_handles_labels()
    h2, l2s = ax_lat.get_legend_handles_labels()
    handles, labels = handles + h2[-1:], labels + l2s[-1:]
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.06 + 0.04 * ((len(labels) - 1) // 8), 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_markdown(args: argparse.Namespace, result: SweepResult, rows: Sequence[Sequence[str]]) -> None:
    """The command, a caption and the table, ready to paste into ``docs/results.md``."""
    argv = sys.argv[1:] if args.argv is None else args.argv
    cmd = "python benchmarks/bench_planner_pruning.py " + " ".join(argv)
    base = result.unpruned
    caption = (
        f"{result.num_samples} {args.split} samples ({result.num_scenes} scenes), {base.num_visual} visual "
        f"tokens unpruned, unpruned model latency {base.latency_ms:.1f} ms, pairing '{args.pairing}', "
        f"load average at start {args.load:.2f}. L2 in m, collision / intersection in % (mean over "
        f"1/2/3 s), latency = vision + LLM prefill + head in ms (pruner included; pruner_ms its own "
        f"share). In parentheses, against the unpruned model: L2 ratio, rate difference in percentage "
        f"points, share of tokens kept, latency ratio to the unpruned calls paired with that row."
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out_md)), exist_ok=True)
    with open(args.out_md, "w", encoding="utf-8") as fh:
        fh.write(f"```bash\n{cmd}\n```\n\n{caption}\n\n{format_markdown(rows)}")


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    from fastdrive.planner import DEFAULT_CHECKPOINT

    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    ap.add_argument("--world", required=True, help="dataroot of a FastDrive world (or real nuScenes)")
    ap.add_argument("--version", default="v1.0-fastdrive")
    ap.add_argument("--split", default="val", choices=("train", "val"))
    ap.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="exported driving-VLA file")
    ap.add_argument("--methods", nargs="+", default=None, help="pruners (default: every registered one)")
    ap.add_argument("--ratios", nargs="+", type=float, default=[0.0, 0.25, 0.5, 0.75])
    ap.add_argument("--limit", type=int, default=None, help="plan only the first N scored samples")
    ap.add_argument("--pairing", default="config", choices=("config", "sample"),
                    help="unpruned reference call before every pruned call, or once per sample")
    ap.add_argument("--image-size", nargs=2, type=int, metavar=("W", "H"), default=None,
                    help="size images are loaded at (default: the model's input size)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out-md", default=None, help="write the markdown table here")
    ap.add_argument("--out-png", default=None, help="write the plot here")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    import torch

    from fastdrive.datasets.planning import PlanningDataset
    from fastdrive.evaluation.pruning_sweep import ordered_indices, run_pruning_sweep
    from fastdrive.models.driving_vla_io import PlannerCheckpointError
    from fastdrive.planner import EmbeddedPlanner
    from fastdrive.pruning import list_pruners

    if not os.path.isdir(os.path.join(args.world, args.version)):
        raise CliError(f"no {args.version} tables under {args.world} "
                       "(make a world with python -m data_tools.make_world)")
    if not os.path.isfile(args.checkpoint):
        raise CliError(f"planner checkpoint not found: {args.checkpoint} "
                       "(train / export one, or pass --checkpoint)")
    methods = args.methods or list_pruners()
    unknown = [m for m in methods if m not in list_pruners()]
    if unknown:
        raise CliError(f"unknown pruner(s) {', '.join(unknown)}; registered: {', '.join(list_pruners())}")
    bad = [r for r in args.ratios if not 0.0 <= r < 1.0]
    if bad:
        raise CliError(f"ratios must be in [0, 1), got {bad}")
    if args.limit is not None and args.limit < 1:
        raise CliError("--limit must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        planner = EmbeddedPlanner.from_checkpoint(args.checkpoint, device=args.device)
    except PlannerCheckpointError as exc:
        raise CliError(str(exc)) from None
    size = tuple(args.image_size) if args.image_size else tuple(planner.model.image_size)
    t0 = time.perf_counter()
    ds = PlanningDataset(args.world, args.version, args.split, cameras=planner.cameras, image_size=size)
    total = len(ordered_indices(ds, args.limit))
    if total == 0:
        raise CliError(f"no {args.split} sample with all 6 future poses under {args.world}")
    print(f"{PROG}: {args.world} ({args.version}, {args.split}): {len(ds)} samples, {total} to plan; "
          f"checkpoint {args.checkpoint}; {len(methods)} methods x ratios "
          f"{sorted(set(args.ratios) | {0.0})}; "
          f"pairing {args.pairing}; images {size[0]}x{size[1]}; torch threads {torch.get_num_threads()}; "
          f"load average {args.load:.2f}", flush=True)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="sample", desc="planning", file=sys.stderr)
    try:
        result = run_pruning_sweep(planner, ds, methods, args.ratios, limit=args.limit, pairing=args.pairing,
                                   progress=bar.update if bar is not None else None,
                                   fg_mask=world_fg_masks(args.world, planner.cameras[0]), blind=True)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    rows = table_rows(result)
    print(format_text(rows))
    print(f"{result.num_samples} samples from {result.num_scenes} scenes, "
          f"{int(result.unpruned.metrics.get('num_collision_excluded', 0))} excluded from collision; "
          f"{result.unpruned.num_visual} visual tokens unpruned; wall {wall:.1f} s")
    if args.out_md:
        write_markdown(args, result, rows)
        print(f"wrote {args.out_md}")
    if args.out_png:
        title = (f"{os.path.basename(args.checkpoint)} on {args.world} ({args.split}, "
                 f"{result.num_samples} samples)")
        write_plot(result, args.out_png, title)
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
