"""Redraw the closed-loop PDM table from the JSON of a run, without driving again.

Usage::

    python benchmarks/closed_loop_table.py RUN.json [RUN2.json ...] [--rows unpruned "recon 50%" ...]
                                           [--resamples 2000]

``RUN.json`` is what ``python -m fastdrive.sim.closed_loop ... --out-json RUN.json`` wrote. Several
files are concatenated row by row (e.g. runs over different scenes of one world).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Dict, List, Optional, Sequence


_INFRACTION = re.compile(r"(?:\(at fault\)|left the drivable area|entered a red-light zone)")
_AT = re.compile(r"at t=([-\d.]+) s")


def _first_infraction(events: Sequence[str], start_s: float) -> Optional[float]:
    """For runs written before ``first_infraction_s`` existed: the earliest infraction time in the events."""
    times = [float(_AT.search(e).group(1)) - start_s for e in events if _INFRACTION.search(e) and _AT.search(e)]
    return min(times) if times else None


def load(paths: Sequence[str]):
    from fastdrive.sim.closed_loop.episode import EpisodeResult
    from fastdrive.sim.closed_loop.pdm import PDMResult

    results: Dict[str, List[EpisodeResult]] = {}
    seconds = None
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        seconds = run.get("args", {}).get("seconds", seconds or 15.0)
        for row, episodes in run["episodes"].items():
            for e in episodes:
                pdm = None
                if e["pdm"] is not None:
                    fields = dict(e["pdm"])
                    if "first_infraction_s" not in fields:
                        fields["first_infraction_s"] = _first_infraction(fields["events"], float(e["start_s"]))
                    pdm = PDMResult(**fields)
                steps = int(round(float(seconds) / 0.1)) if pdm is not None else 0
                results.setdefault(row, []).append(EpisodeResult(row, e["scene"], e["start_s"], pdm, e["failure"],
                                                                 steps, e.get("cost_ms") or {}))
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/closed_loop_table.py", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="JSON files written by --out-json")
    p.add_argument("--rows", nargs="+", default=None, help="only these rows, in this order")
    p.add_argument("--resamples", type=int, default=2000)
    args = p.parse_args(argv)
    from fastdrive.sim.closed_loop.runner import format_table, table

    try:
        results = load(args.runs)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: cannot read the runs: {exc}", file=sys.stderr)
        return 2
    if args.rows:
        missing = [r for r in args.rows if r not in results]
        if missing:
            print(f"error: no row(s) {missing}; the runs have {sorted(results)}", file=sys.stderr)
            return 2
        results = {r: results[r] for r in args.rows + (["unpruned"] if "unpruned" in results else [])}
        results = dict(sorted(results.items(), key=lambda kv: (args.rows + ["unpruned"]).index(kv[0])))
    print(format_table(table(results, resamples=args.resamples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
