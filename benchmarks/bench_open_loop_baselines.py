"""Open-loop metrics of the baseline planners on the val split of a world.

Usage::

    python benchmarks/bench_open_loop_baselines.py --world DIR [--version v1.0-fastdrive] [--split val]

Prints L2 (1/2/3 s, avg, metres), collision and intersection rates (%) of
the constant-velocity planner, plus the logged (ground-truth) trajectory as a
consistency row (it must score 0 everywhere).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastdrive.datasets.planning import PlanningDataset, constant_velocity_planner  # noqa: E402
from fastdrive.evaluation.open_loop import evaluate_open_loop  # noqa: E402

COLUMNS = ("L2_1s", "L2_2s", "L2_3s", "L2_avg", "collision_avg", "intersection_avg")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world", required=True, help="dataroot of a FastDrive world (or real nuScenes)")
    ap.add_argument("--version", default="v1.0-fastdrive")
    ap.add_argument("--split", default="val", choices=("train", "val"))
    args = ap.parse_args(argv)
    if not os.path.isdir(os.path.join(args.world, args.version)):
        ap.error(f"no {args.version} tables under {args.world}")
    t0 = time.perf_counter()
    ds = PlanningDataset(args.world, args.version, args.split, load_images=False)
    t_build = time.perf_counter() - t0
    rows = {
        "constant_velocity": evaluate_open_loop(constant_velocity_planner, ds),
        "logged (sanity)": evaluate_open_loop(lambda it: it["meta"]["gt_traj"], ds),
    }
    any_row = next(iter(rows.values()))
    print(
        f"world {args.world} ({args.version}, {args.split}): {len(ds)} samples, "
        f"{int(any_row['num_samples'])} scored, {int(any_row['num_skipped'])} without 6 future poses, "
        f"{int(any_row['num_collision_excluded'])} excluded from collision; records built in {t_build:.1f} s"
    )
    print(f"{'planner':<20}" + "".join(f"{c:>18}" for c in COLUMNS))
    for name, m in rows.items():
        print(f"{name:<20}" + "".join(f"{m.get(c, float('nan')):>18.3f}" for c in COLUMNS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
