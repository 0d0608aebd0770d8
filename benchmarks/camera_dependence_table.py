"""One line per (planner, world) from saved sweeps: does the planner read its camera, can the table tell pruners apart?

Usage::

    python benchmarks/camera_dependence_table.py LABEL=SWEEP.json [LABEL=SWEEP.json ...] [--ratio 0.75] [--out-md F]

Each JSON is a ``bench_planner_pruning.py --out-json`` run (any methods; the
useful minimum is ``--methods random --ratios 0 0.75`` on a FastDrive world,
which adds the oracles and the camera swap). Columns: own-frame L2 avg, camera
swap (all samples and critical ones) as a ratio with its paired 95% interval,
the collision-rate change under the swap, grey frame, constant velocity, the
oracle range at ``--ratio`` (``oracle_bg`` over the better of ``oracle_fg`` /
``oracle_obj``) and where ``random`` falls in it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, List, Mapping, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import planner_pruning_report as report  # noqa: E402

HEADER = ("planner / world", "samples", "L2 own (m)", "swap L2 [95% CI]", "swap L2 critical [95% CI]",
          "swap collision Δpp [95% CI]", "grey L2", "const. vel. L2", "oracle_bg / best oracle", "random in range")


def _ref(data: Mapping[str, Any], method: str) -> Optional[Mapping[str, Any]]:
    return next((r for r in data["rows"] if r["method"] == method and not r.get("error")), None)


def line(label: str, data: Mapping[str, Any], ratio: float) -> List[str]:
    own = _ref(data, "none")["subsets"]["all"]["metrics"]["L2_avg"]  # type: ignore[index]
    swap, grey, cv = _ref(data, "camera_swap"), _ref(data, "blind"), _ref(data, "constant_velocity")

    def vs(row: Optional[Mapping[str, Any]], subset: str, key: str) -> Optional[Mapping[str, Any]]:
        return None if row is None else row["subsets"].get(subset, {}).get("vs_unpruned", {}).get(key)

    rng = data.get("oracle_range", {}).get(f"{ratio:g}", {}).get("all")
    pos = None if not rng else rng.get("random_position")
    return [label, str(data["num_samples"]), f"{own:.3f}", report.fmt_interval(vs(swap, "all", "L2_avg"), "ratio"),
            report.fmt_interval(vs(swap, "critical", "L2_avg"), "ratio"), report.fmt_interval(vs(swap, "all", "collision_avg"), "diff"),
            report.fmt_interval(vs(grey, "all", "L2_avg"), "ratio"), report.fmt_interval(vs(cv, "all", "L2_avg"), "ratio"),
            "-" if not rng else f"{report.fmt_interval(rng['bg_vs_best'], 'ratio')} ({rng['best']})",
            "-" if pos is None else f"{pos:.2f}"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", metavar="LABEL=SWEEP.json")
    ap.add_argument("--ratio", type=float, default=0.75, help="pruning ratio of the oracle range")
    ap.add_argument("--out-md", default=None)
    args = ap.parse_args(argv)
    rows = []
    for spec in args.runs:
        label, _, path = spec.rpartition("=")
        try:
            with open(path, "r", encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            print(f"camera_dependence_table: error: cannot read {path}: {exc}", file=sys.stderr)
            return 2
        rows.append(line(label or os.path.basename(path), data, args.ratio))
    print(report.format_text(HEADER, rows))
    if args.out_md:
        with open(args.out_md, "w", encoding="utf-8") as fh:
            fh.write(report.format_markdown(HEADER, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
