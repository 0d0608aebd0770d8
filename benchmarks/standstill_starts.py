"""Does the planner tell "moves off within 3 s" from "keeps waiting" when the ego stands still?

The camera-swap row of ``bench_planner_pruning.py`` showed that the ``start`` samples (ego
stopped, moving off within 3 s) do not read the frame (docs/results.md, issue #10). This
benchmark asks the question directly, on every standstill sample of a split (speed < 0.3 m/s and
no throttle, the acceleration the planner sees at 0, with a full 3 s future):

* the label: the logged ego moves more than ``--go-m`` metres in the next 3 s ("go") or not
  ("wait");
* the score: the planner's own forward distance at 3 s;
* **AUC** of the score for the label (0.5: the planner cannot tell them apart; 1: it ranks every
  go above every wait), with a 95% interval from a bootstrap over scenes;
* the same with the frame (or two-frame clip) of a standstill sample of **another scene**
  (partners drawn with a fixed seed): a planner that reads its camera drops towards 0.5 here,
  one that does not stays where it was. This is the row that lets the benchmark fail;
* the mean predicted and logged 3 s distance of the go and the wait samples.

Usage::

    python benchmarks/standstill_starts.py --world data/fastdrive_world --out-json out.json
    python benchmarks/standstill_starts.py --world data/heldout_seed7 --checkpoint my_planner.pth
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from fastdrive.constants import GO_METRES, STANDSTILL_MAX_ACCEL, STANDSTILL_MAX_SPEED

PROG = "standstill_starts"


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the boolean ``label`` (ties count half); nan without
    both classes."""
    score, label = np.asarray(score, float), np.asarray(label, bool)
    pos, neg = score[label], score[~label]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def scene_bootstrap_auc(score: np.ndarray, label: np.ndarray, scenes: Sequence[str], num_resamples: int = 2000,
                        seed: int = 0) -> List[float]:
    """95% interval ``[low, high]`` of :func:`auc` from resampling scenes with replacement."""
    names = sorted(set(scenes))
    idx = {s: np.flatnonzero(np.asarray(scenes) == s) for s in names}
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(num_resamples):
        pick = np.concatenate([idx[names[j]] for j in rng.integers(0, len(names), len(names))])
        v = auc(score[pick], label[pick])
        if np.isfinite(v):
            vals.append(v)
    if not vals:  # one class only: no AUC to bound
        return [float("nan"), float("nan")]
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]


def standstill_indices(dataset: Any, max_speed: float = STANDSTILL_MAX_SPEED,
                       max_accel: float = STANDSTILL_MAX_ACCEL) -> List[int]:
    """Indices of the samples with the ego at a standstill, no throttle, and a full future."""
    out = []
    for i in range(len(dataset)):
        rec = dataset.get_data_info(i)
        if rec["speed"] < max_speed and rec["accel"] <= max_accel and bool(np.all(rec["gt_valid"])):
            out.append(i)
    return out


def swap_partner(scenes: Sequence[str], seed: int = 0) -> List[int]:
    """For each position, a position of another scene (uniform, fixed seed)."""
    rng = np.random.default_rng(seed)
    scenes = np.asarray(scenes)
    out = []
    for s in scenes:
        other = np.flatnonzero(scenes != s)
        if len(other) == 0:
            raise ValueError("the camera swap needs standstill samples of at least two scenes")
        out.append(int(rng.choice(other)))
    return out


def summarise(score: np.ndarray, label: np.ndarray, logged: np.ndarray, scenes: Sequence[str]) -> Dict[str, Any]:
    return dict(auc=auc(score, label), auc_ci95=scene_bootstrap_auc(score, label, scenes),
                pred_go_m=float(score[label].mean()) if label.any() else float("nan"),
                pred_wait_m=float(score[~label].mean()) if (~label).any() else float("nan"),
                logged_go_m=float(logged[label].mean()) if label.any() else float("nan"),
                logged_wait_m=float(logged[~label].mean()) if (~label).any() else float("nan"))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", required=True, help="FastDrive world / nuScenes dataroot")
    p.add_argument("--version", default="v1.0-fastdrive")
    p.add_argument("--split", default="val")
    p.add_argument("--checkpoint", default=None, help="planner file (default: the shipped one)")
    p.add_argument("--go-m", type=float, default=GO_METRES, help="logged 3 s distance (m) above which a sample is 'go'")
    p.add_argument("--seed", type=int, default=0, help="seed of the swap partners and the bootstrap")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out-json", default=None, help="write the summary and every sample here")
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if not os.path.isdir(os.path.join(args.world, args.version)):
        print(f"{PROG}: error: no {args.version} tables under {args.world}", file=sys.stderr)
        return 2
    if args.checkpoint and not os.path.isfile(args.checkpoint):
        print(f"{PROG}: error: checkpoint not found: {args.checkpoint}", file=sys.stderr)
        return 2
    import torch

    from fastdrive.datasets.planning import PlanningDataset
    from fastdrive.evaluation.pruning_sweep import item_ego_state, item_frames
    from fastdrive.models.driving_vla_io import PlannerCheckpointError
    from fastdrive.planner import EmbeddedPlanner

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        planner = EmbeddedPlanner.from_checkpoint(args.checkpoint)
    except PlannerCheckpointError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    cams = planner.cameras
    try:
        ds = PlanningDataset(args.world, args.version, args.split, cameras=cams,
                             image_size=tuple(planner.model.image_size), prev_frame=planner.reads_prev_frames)
    except (ValueError, FileNotFoundError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    idx = standstill_indices(ds)
    if not idx:
        print(f"{PROG}: error: no standstill sample in the {args.split} split of {args.world}", file=sys.stderr)
        return 2
    scenes = [str(ds.get_data_info(i)["scene_name"]) for i in idx]
    try:
        partners = swap_partner(scenes, args.seed)
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()

    def clip(item: Dict[str, Any]) -> Dict[str, Any]:
        prev = item.get("imgs_prev")
        return dict(frames=item_frames(item, cams), prev_frames=None if prev is None else item_frames(dict(imgs=prev),
                                                                                                      cams))

    items = [ds[i] for i in idx]
    own, swap, logged = [], [], []
    for k, item in enumerate(items):
        ego, cmd = item_ego_state(item), int(item["command"])
        own.append(planner.plan(ego_state=ego, command=cmd, **clip(item)).waypoints[-1, 0])
        swap.append(planner.plan(ego_state=ego, command=cmd, **clip(items[partners[k]])).waypoints[-1, 0])
        logged.append(float(np.asarray(item["gt_traj"])[-1, 0]))
    own_a, swap_a, logged_a = np.array(own), np.array(swap), np.array(logged)
    label = logged_a > args.go_m
    result = dict(world=args.world, split=args.split, checkpoint=args.checkpoint or "shipped",
                  two_frames=planner.reads_prev_frames, samples=len(idx), scenes=len(set(scenes)),
                  go=int(label.sum()), go_m=args.go_m, seconds=round(time.perf_counter() - t0, 1),
                  own=summarise(own_a, label, logged_a, scenes), swap=summarise(swap_a, label, logged_a, scenes))
    print(f"{PROG}: {result['samples']} standstill samples in {result['scenes']} scenes ({result['go']} go, "
          f"logged 3 s distance > {args.go_m:g} m); {'two-frame clip' if result['two_frames'] else 'one frame'}; "
          f"{result['seconds']} s")
    print("| frame | AUC go vs wait [95% CI] | predicted 3 s distance go / wait (m) | logged go / wait (m) |")
    print("|---|---|---|---|")
    for name in ("own", "swap"):
        r = result[name]
        label_txt = "own" if name == "own" else "another scene's (swap)"
        print(f"| {label_txt} | {r['auc']:.3f} [{r['auc_ci95'][0]:.3f}, {r['auc_ci95'][1]:.3f}] | "
              f"{r['pred_go_m']:.2f} / {r['pred_wait_m']:.2f} | {r['logged_go_m']:.2f} / {r['logged_wait_m']:.2f} |")
    if args.out_json:
        samples = [dict(scene=s, logged_m=float(g), own_m=float(o), swap_m=float(w))
                   for s, g, o, w in zip(scenes, logged_a, own_a, swap_a)]
        os.makedirs(os.path.dirname(os.path.abspath(args.out_json)), exist_ok=True)
        with open(args.out_json, "w", encoding="utf-8") as fh:
            json.dump(dict(result, samples=samples), fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
