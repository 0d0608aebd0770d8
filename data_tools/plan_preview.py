"""Show the driving VLA planning on a FastDrive world (or nuScenes), unpruned and pruned, as one PNG.

Every scored sample of the split (all 6 future poses known) is planned once
per pruning ratio with the embedded driving VLA (``--method`` at each of
``--ratios``; 0 = unpruned), and a table of the open-loop metrics over all
of them is printed: per ratio L2 at 1/2/3 s and their average (m),
collision and intersection rates (%, DESIGN.md section 6), visual tokens
kept and mean model time (vision + LLM + head, pruner included, ms).

A camera-swap line follows: every sample planned again with the frame of a
sample from another scene (from the other split when the split holds one
scene). A planner that reads its camera plans clearly worse with it.

``--num`` of those samples, spread evenly over the split, are drawn, one
row each: the CAM_FRONT image with the tokens pruned at the highest ratio
dimmed, the logged future (green, white halo) and each ratio's plan
projected onto the ground; and a bird's-eye view in the ego frame (x
forward = up, y left = left) with the drivable area (grey), the other
agents now (filled) and 0.5 s later (dotted), the ego box, the logged
future and each plan with its L2 (mean over the 3 s horizon) in the legend.

Example::

    python -m data_tools.plan_preview --dataroot outputs/world --out outputs/plan_preview.png
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from data_tools._cli import EXIT_BAD_INPUT, OneLineErrorParser, find_version

PROG = "plan_preview"
ROW_INCHES = 3.6  # height of one sample row
DPI = 120
LOGGED_RGB = (40, 200, 70)
LOGGED_HALO = (255, 255, 255)
PLAN_RGB = ((31, 119, 255), (255, 140, 20), (230, 40, 60), (170, 80, 230), (140, 86, 75), (240, 100, 200))
TABLE_HEADER = ("ratio", "method", "L2_1s", "L2_2s", "L2_3s", "L2_avg", "collision%", "intersection%",
                "tokens_kept", "model_ms")


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    p = OneLineErrorParser(prog="python -m data_tools.plan_preview", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog="Plans every scored sample of the split at every ratio (the table), draws "
                           "--num of them (the PNG). Bad input: one line on stderr, exit code 2, no PNG.")
    p.add_argument("--dataroot", required=True,
                   help="FastDrive world (python -m data_tools.make_world) or nuScenes dataroot")
    p.add_argument("--version", default=None, help="table folder (default: the only v* folder in --dataroot)")
    p.add_argument("--split", choices=("val", "train"), default="val",
                   help="scenes to use (default: %(default)s)")
    p.add_argument("--checkpoint", default=None, metavar="FILE",
                   help="exported driving-VLA file (default: the planner shipped with FastDrive)")
    p.add_argument("--method", default="recon", help="pruner name (fastdrive.pruning.list_pruners; "
                   "default: %(default)s)")
    p.add_argument("--ratios", nargs="+", type=float, default=[0.0, 0.5, 0.75], metavar="P",
                   help="pruning ratios, share of visual tokens removed, in [0, 1); 0 = unpruned "
                   "(default: 0 0.5 0.75)")
    p.add_argument("--num", type=int, default=6, metavar="N",
                   help="samples to draw, spread evenly over the scored ones (default: %(default)s)")
    p.add_argument("--out", required=True, metavar="PNG", help="output PNG (written atomically)")
    p.add_argument("--threads", type=int, default=1, metavar="T",
                   help="torch CPU threads (default: %(default)s: the small model gains little from more, "
                   "and on a busy machine extra threads oversubscribe the cores; 0 = torch's default)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def check_args(args: argparse.Namespace) -> List[float]:
    """Validate the cheap arguments before loading anything; returns the ratios (deduplicated, in order)."""
    from fastdrive.planner import PruningSpec
    from fastdrive.pruning import list_pruners

    if not args.out.lower().endswith(".png"):
        raise ValueError(f"--out must be a .png path, got {args.out!r}")
    if args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}")
    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0, got {args.threads}")
    if args.method not in list_pruners():
        raise ValueError(f"unknown --method {args.method!r}; choose one of: {', '.join(list_pruners())}")
    ratios: List[float] = []
    for r in args.ratios:
        PruningSpec(args.method, r)  # raises on a ratio outside [0, 1)
        if r not in ratios:
            ratios.append(float(r))
    if not os.path.isdir(args.dataroot):
        raise ValueError(f"dataroot not found: {args.dataroot}")
    args.version = args.version or find_version(args.dataroot)
    if not os.path.isdir(os.path.join(args.dataroot, args.version)):
        raise ValueError(f"version folder not found: {os.path.join(args.dataroot, args.version)}")
    if args.checkpoint is not None and not os.path.isfile(args.checkpoint):
        raise ValueError(f"planner checkpoint not found: {args.checkpoint}")
    return ratios


def choose(num_scored: int, num: int) -> List[int]:
    """Positions of ``num`` samples spread evenly over ``num_scored`` (first and last included)."""
    return sorted({int(round(x)) for x in np.linspace(0, num_scored - 1, min(num, num_scored))})


def plan_split(planner: Any, ds: Any, method: str, ratios: Sequence[float], draw: Sequence[int],
               num_scored: int, progress: bool = True, swap_source: Any = None
               ) -> Tuple[List[Dict[str, Any]], List[Tuple[Mapping[str, Any], list]]]:
    """Plan every scored sample at every ratio; score them; keep the drawn samples' plans.

    Every sample is also planned with the CAM_FRONT frame of a sample from
    another scene (the camera-swap row, last in the table: if it plans as
    well as the own frame, the planner does not read its camera); the other
    scenes come from ``swap_source`` when given (e.g. the train split when the
    split holds one scene).

    ``num_scored`` (the length of ``ordered_indices(ds)``, which the caller
    has already computed to choose ``draw``) sizes the progress bar.

    One :func:`~fastdrive.evaluation.pruning_sweep.run_pruning_sweep` with
    ``pairing='sample'`` (the unpruned plan is computed once per sample).

    Returns:
        ``(table, drawn)``: one row per ratio (``metrics`` of
        :class:`PlanningAccumulator`, mean ``tokens_kept``, ``model_ms``,
        ``num_visual``) and, per drawn position, ``(record, trajectories)``
        in the order of ``ratios``.

    Raises:
        ValueError: the pruner cannot run on this planner.
    """
    from tqdm import tqdm

    from fastdrive.evaluation.pruning_sweep import run_pruning_sweep

    from fastdrive.planner.types import PruningSpec

    wanted, drawn = set(draw), []
    keys = [("none", 0.0) if r == 0 else (method, float(r)) for r in ratios]
    active = [r for r in ratios if r > 0]
    if active and hasattr(planner, "pool"):  # fail before planning, with the pruner's own message
        planner.pool.pruner(PruningSpec(method, active[0]))

    def keep(pos: int, record: Mapping[str, Any], plans: Mapping[Tuple[str, float], Any]) -> None:
        if pos in wanted and all(k in plans for k in keys):
            drawn.append((record, [plans[k] for k in keys]))

    with tqdm(total=num_scored, unit="sample", desc="planning", file=sys.stderr,
              disable=not progress) as bar:
        result = run_pruning_sweep(planner, ds, [method], ratios, pairing="sample", use_map=True,
                                   progress=bar.update, on_sample=keep, swap=True, swap_source=swap_source)
    table = []
    for r in ratios:
        row = result.row(method, r)
        if row.error:
            raise ValueError(f"{method} at {r:g}: {row.error}")
        table.append(dict(ratio=r, method=method if r > 0 else "-", metrics=row.metrics,
                          tokens_kept=row.tokens_kept, model_ms=row.latency_ms,
                          num_visual=row.num_visual or result.unpruned.num_visual))
    if result.swap is not None:
        table.append(dict(ratio=float("nan"), method="camera swap", metrics=result.swap.metrics,
                          tokens_kept=result.swap.tokens_kept, model_ms=result.swap.latency_ms,
                          num_visual=result.swap.num_visual))
    return table, drawn


def format_table(table: Sequence[Mapping[str, Any]]) -> str:
    """The printed table: one line per ratio under :data:`TABLE_HEADER` (L2 m, rates %)."""
    nan = float("nan")
    lines = [TABLE_HEADER]
    for row in table:
        m = row["metrics"]
        lines.append(("-" if row["ratio"] != row["ratio"] else f"{row['ratio']:.2f}", row["method"],
                      *(f"{m.get(k, nan):.3f}" for k in ("L2_1s", "L2_2s", "L2_3s", "L2_avg")),
                      *(f"{m.get(k, nan):.2f}" for k in ("collision_avg", "intersection_avg")),
                      f"{row['tokens_kept']:.1f}/{row['num_visual']}", f"{row['model_ms']:.1f}"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(TABLE_HEADER))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def _sample_l2(waypoints: np.ndarray, record: Mapping[str, Any]) -> Dict[str, float]:
    """Open-loop metrics of one plan (the accumulator over one sample)."""
    from fastdrive.evaluation.open_loop import add_sample
    from fastdrive.evaluation.planning_metrics import PlanningAccumulator

    acc = PlanningAccumulator()
    add_sample(acc, waypoints, record)
    return acc.compute()


def _label(ratio: float, method: str) -> str:
    return "unpruned" if ratio == 0 else f"{method} {100 * ratio:.0f}%"


def camera_panel(dataroot: str, record: Mapping[str, Any], trajs: Sequence[Any], ratios: Sequence[float],
                 cam_name: str) -> np.ndarray:
    """``(H, W, 3)`` uint8: the camera image (file size), pruned tokens of the highest ratio dimmed,
    the logged future and every plan projected onto the ground."""
    from PIL import Image

    from fastdrive.evaluation.token_overlay import overlay_kept_tokens
    from fastdrive.evaluation.trajectory_overlay import OverlayLine, draw_trajectories

    cam = record["cams"][cam_name]
    with Image.open(os.path.join(dataroot, cam["img_path"])) as im:
        image = np.asarray(im.convert("RGB"))
    top = trajs[int(np.argmax(ratios))]
    if top.kept_tokens is not None:
        image = overlay_kept_tokens(image, top.kept_mask(0), alpha=0.75)
    width = max(2, int(round(image.shape[1] / 300)))
    lines = [OverlayLine(np.asarray(record["gt_traj"]), LOGGED_RGB, halo=LOGGED_HALO, width=width + 1)]
    # earlier (less pruned) plans drawn wider, so that identical plans stay visible under later ones
    lines += [OverlayLine(t.waypoints, PLAN_RGB[i % len(PLAN_RGB)], halo=(0, 0, 0),
                          width=max(1, width + len(trajs) - 1 - i))
              for i, t in enumerate(trajs)]
    return draw_trajectories(image, cam, lines)


def bev_panel(ax: Any, record: Mapping[str, Any], trajs: Sequence[Any], ratios: Sequence[float],
              method: str) -> None:
    """Bird's-eye view in the ego frame on a matplotlib ``ax`` (plot x = -y left, plot y = x forward)."""
    from fastdrive.datasets.planning._drivable import from_wkt
    from fastdrive.evaluation.planning_metrics import EGO_CENTER_OFFSET, EGO_LENGTH, EGO_WIDTH, box_polygon

    def fill(poly: Any, **kw: Any) -> None:
        x, y = poly.exterior.xy
        ax.fill(-np.asarray(y), np.asarray(x), **kw)

    area = from_wkt(record.get("drivable_wkt", "") or "")
    for poly in getattr(area, "geoms", [area]):
        if poly.is_empty:
            continue
        fill(poly, color="#d4d4d4", lw=0, zorder=0)
        for hole in poly.interiors:
            ax.fill(-np.asarray(hole.xy[1]), np.asarray(hole.xy[0]), color="white", lw=0, zorder=0)
    now = np.asarray(record.get("boxes_now", np.zeros((0, 5))), np.float64).reshape(-1, 5)
    soon = np.asarray(record["future_boxes"][0], np.float64).reshape(-1, 5)
    for x, y, length, w, yaw in now:
        fill(box_polygon(x, y, yaw, length, w), facecolor="#9a9a9a", edgecolor="#404040", lw=0.8, zorder=1)
    for x, y, length, w, yaw in soon:
        fill(box_polygon(x, y, yaw, length, w), facecolor="none", edgecolor="#404040", lw=0.8, ls=":",
             zorder=1)
    fill(box_polygon(EGO_CENTER_OFFSET, 0.0, 0.0, EGO_LENGTH, EGO_WIDTH), facecolor="black", zorder=2)

    def path(wp: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        wp = np.concatenate([np.zeros((1, 2)), np.asarray(wp, np.float64)[:, :2]])
        return -wp[:, 1], wp[:, 0]

    gt = np.asarray(record["gt_traj"], np.float64)
    ax.plot(*path(gt), "-o", color=np.array(LOGGED_RGB) / 255, ms=3.5, lw=2.0 + 0.7 * len(trajs),
            label="logged", zorder=3)
    reach = [np.abs(gt).max()]
    for i, (traj, ratio) in enumerate(zip(trajs, ratios)):
        m = _sample_l2(traj.waypoints, record)
        tag = f"{_label(ratio, method)}: L2 {m['L2_avg']:.2f} m"
        tag += " (collides)" if m.get("collision_avg", 0.0) > 0 else ""
        colour = np.array(PLAN_RGB[i % len(PLAN_RGB)]) / 255
        wider = len(trajs) - 1 - i
        ax.plot(*path(traj.waypoints), "-o", color=colour, ms=2.0 + 0.8 * wider, lw=1.2 + 0.7 * wider,
                label=tag, zorder=4 + i)
        reach.append(np.abs(traj.waypoints).max())
    far = float(np.clip(max(reach) + 8.0, 20.0, 80.0))
    ax.set_xlim(-(far + 6.0) / 2, (far + 6.0) / 2)
    ax.set_ylim(-6.0, far)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    ax.set_xlabel("-y (m, left <- -> right)", fontsize=7)
    ax.set_ylabel("x (m, forward)", fontsize=7)
    ax.legend(loc="upper left", fontsize=6.5, framealpha=0.85)


def render(dataroot: str, drawn: Sequence[Tuple[Mapping[str, Any], list]], ratios: Sequence[float],
           method: str, cam_name: str) -> Any:
    """The matplotlib ``Figure``: one row (camera, bird's-eye) per drawn sample, ``ROW_INCHES`` tall each."""
    from matplotlib.figure import Figure

    panels = [camera_panel(dataroot, rec, trajs, ratios, cam_name) for rec, trajs in drawn]
    aspect = max(p.shape[1] / p.shape[0] for p in panels)
    fig = Figure(figsize=(ROW_INCHES * (aspect + 1.0) * 0.92 + 0.3, ROW_INCHES * len(drawn)), dpi=DPI)
    subfigs = np.atleast_1d(fig.subfigures(len(drawn), 1))
    top = max(ratios)
    for sub, (rec, trajs), panel in zip(subfigs, drawn, panels):
        ax_cam, ax_bev = sub.subplots(1, 2, gridspec_kw=dict(width_ratios=[aspect, 1.0], wspace=0.2))
        ax_cam.imshow(panel)
        ax_cam.set_axis_off()
        dim = f"dimmed = pruned at {100 * top:.0f}% ({method})" if top > 0 else "no pruning"
        ax_cam.set_title(f"{cam_name}: {dim}; green = logged", fontsize=8)
        bev_panel(ax_bev, rec, trajs, ratios, method)
        sub.suptitle(f"{rec['scene_name']}  sample {rec['sample_token'][:8]} (#{rec['_pos']})  "
                     f"command: {rec['command']}  speed {float(rec['speed']):.1f} m/s", fontsize=9.5)
    return fig


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input)."""
    args = build_parser().parse_args(argv)
    tmp = None
    try:
        from fastdrive.models.driving_vla_io import PlannerCheckpointError

        try:
            ratios = check_args(args)
            if args.threads > 0:
                import torch

                torch.set_num_threads(args.threads)
            from fastdrive.datasets.planning import PlanningDataset
            from fastdrive.evaluation.pruning_sweep import ordered_indices
            from fastdrive.planner import EmbeddedPlanner

            planner = EmbeddedPlanner.from_checkpoint(args.checkpoint)
            ds = PlanningDataset(args.dataroot, args.version, args.split, cameras=planner.cameras,
                                 image_size=tuple(planner.model.image_size), prev_frame=planner.reads_prev_frames)
            order = ordered_indices(ds)
            num_scored = len(order)
            if num_scored == 0:
                raise ValueError(f"no sample of split {args.split!r} has all 6 future poses")
            draw = choose(num_scored, args.num)
            swap_source = None
            if len({s for _, s in order}) < 2:  # one scene: swap with the other split's frames
                other = "train" if args.split == "val" else "val"
                swap_source = PlanningDataset(args.dataroot, args.version, other, cameras=planner.cameras,
                                              image_size=tuple(planner.model.image_size),
                                              prev_frame=planner.reads_prev_frames)
            table, drawn = plan_split(planner, ds, args.method, ratios, draw, num_scored,
                                      progress=not args.quiet, swap_source=swap_source)
            drawn = [({**dict(rec), "_pos": pos}, trajs) for pos, (rec, trajs) in zip(draw, drawn)]
            fig = render(args.dataroot, drawn, ratios, args.method, planner.cameras[0])
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            tmp = f"{args.out}.tmp-{os.getpid()}.png"
            fig.savefig(tmp, format="png", dpi=DPI)
            os.replace(tmp, args.out)
            tmp = None
        except (ValueError, KeyError, OSError, PlannerCheckpointError) as err:
            msg = err.args[0] if isinstance(err, KeyError) and err.args else err
            text = str(msg).splitlines()[0] if str(msg).strip() else type(err).__name__
            sys.stderr.write(f"{PROG}: error: {text}\n")
            return EXIT_BAD_INPUT
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    grid = "x".join(str(g) for g in planner.model.grid_hw[::-1])
    print(f"{args.split}: {num_scored} scored samples, {args.method} on {planner.cameras[0]} "
          f"({grid} = {table[0]['num_visual']} visual tokens)")
    print(format_table(table))
    if table[-1]["method"] == "camera swap":
        own, swapped = table[0]["metrics"]["L2_avg"], table[-1]["metrics"]["L2_avg"]
        verdict = "the plan reads the camera" if swapped > 1.1 * own else \
            "warning: the plan barely depends on the camera"
        print(f"camera swap: planned with another scene's frame, L2 avg {swapped:.3f} m = {swapped / own:.2f}x "
              f"the own frame's {own:.3f} m ({verdict})")
    print(f"wrote {args.out} ({len(drawn)} rows: {planner.cameras[0]} + bird's-eye view per sample)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
