"""Token-selection table of a pruning sweep: each method against ReconPruner, at equal budgets.

Reads the JSON of ``benchmarks/bench_planner_pruning.py --out-json`` and
prints, per pruning ratio, one row per method that keeps the ratio's budget
(mean keep share within 5% of ``1 - ratio``; adaptive methods are listed
apart): mean instance coverage, foreground precision and object precision
over images, each with the paired 95% scene-bootstrap interval of
``reference - method`` (``reference``: recon by default). ``*`` marks an
interval that excludes 0.

Usage::

    python benchmarks/selection_table.py docs/bench/issue11/planner_pruning_seed1val.json [--reference recon]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence
from fastdrive.evaluation.selection_intervals import diff_text

METRICS = ("instance_coverage", "fg_precision", "object_precision")


def _cell(mean: float, iv: Optional[Mapping[str, Any]]) -> str:
    if iv is None:
        return f"{mean:.3f}"
    text, excludes = diff_text(iv)
    return f"{mean:.3f} ({text}{'*' if excludes else ''})"


def table(data: Mapping[str, Any], reference: str = "recon", tolerance: float = 0.05) -> List[str]:
    """Markdown lines of the table (see the module docstring)."""
    sel, tokens = data.get("selection") or {}, data.get("token_metrics") or {}
    lines = [f"| ratio | method | keep | " + " | ".join(f"{m} ({reference} - method)" for m in METRICS) + " |",
             "|" + "---|" * (3 + len(METRICS))]
    for ratio, per_metric in sel.items():
        budget = 1.0 - float(ratio)
        means: Dict[str, Dict[str, float]] = {}
        for metric in METRICS:
            for m, x in per_metric.get(metric, {}).get("ranking", []):
                means.setdefault(m, {})[metric] = x
        off = []
        for m in sorted(means, key=lambda k: -means[k].get("fg_precision", 0.0)):
            keep = float(tokens.get(f"{m}@{float(ratio):g}", {}).get("keep_ratio", budget))
            if abs(keep / budget - 1.0) > tolerance:
                off.append(f"{m} ({keep:.0%})")
                continue
            cells = []
            for metric in METRICS:
                iv = None if m == reference else per_metric.get(metric, {}).get("reference_minus", {}).get(m)
                cells.append(_cell(means[m].get(metric, float("nan")), iv))
            lines.append(f"| {float(ratio):.2f} | {m} | {keep:.0%} | " + " | ".join(cells) + " |")
        if off:
            lines.append(f"| {float(ratio):.2f} | off budget, not compared: {', '.join(off)} | | | | |")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/selection_table.py", description=__doc__.split("\n\n")[0])
    p.add_argument("sweep_json", help="JSON written by bench_planner_pruning.py --out-json")
    p.add_argument("--reference", default="recon", help="method compared with every other (default: recon)")
    args = p.parse_args(argv)
    try:
        with open(args.sweep_json, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.sweep_json}: {exc}", file=sys.stderr)
        return 2
    if not data.get("selection"):
        print(f"error: {args.sweep_json} has no token-selection data (a world without ground truth?)",
              file=sys.stderr)
        return 2
    print("\n".join(table(data, args.reference)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
