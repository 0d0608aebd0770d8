"""Table of ReconPruner training runs from their mmengine work dirs (the ablations of issue 11).

Reads each run's ``vis_data/scalars.json`` (written by mmengine's
LocalVisBackend) and prints, per run: the last validation metrics
(``recon/*``: token precision and foreground recall at each pruning ratio,
the share of tokens the training mask keeps), the largest training
gradient norm and the final training losses.

Usage::

    for c in configs/recon_pruner/ablations/*.py; do mim train fastdrive $c --gpus 0; done
    python benchmarks/recon_ablation_table.py work_dirs/recon_pruner_tiny-*_1xb16-2e_fastdrive-world-fg
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
from typing import Dict, List, Optional, Sequence

COLUMNS = ("recon/precision@0.25", "recon/precision@0.5", "recon/precision@0.75", "recon/fg_recall@0.5",
           "recon/fg_recall@0.75", "recon/pos_share")


def read_run(work_dir: str) -> Optional[Dict[str, float]]:
    """Last validation metrics, max grad norm and last losses of the newest run under ``work_dir``."""
    files = sorted(glob.glob(os.path.join(work_dir, "*", "vis_data", "scalars.json")))
    if not files:
        return None
    out: Dict[str, float] = {"max_grad_norm": 0.0}
    with open(files[-1], encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if "grad_norm" in rec and math.isfinite(rec["grad_norm"]):
                out["max_grad_norm"] = max(out["max_grad_norm"], rec["grad_norm"])
            for k in ("loss", "pos_share"):
                if k in rec and "recon/precision@0.5" not in rec:
                    out[f"train_{k}"] = rec[k]
            if "recon/precision@0.5" in rec:
                out.update({k: v for k, v in rec.items() if k.startswith("recon/")})
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/recon_ablation_table.py", description=__doc__.split("\n\n")[0])
    p.add_argument("work_dirs", nargs="+", help="mmengine work dirs of ReconPrunerTrainer runs")
    args = p.parse_args(argv)
    header = ["run", *[c.split("/")[1] for c in COLUMNS], "train pos_share", "train loss", "max grad norm"]
    rows: List[List[str]] = []
    for wd in args.work_dirs:
        run = read_run(wd)
        if run is None:
            print(f"warning: no scalars.json under {wd}", file=sys.stderr)
            continue
        name = os.path.basename(wd.rstrip("/"))
        rows.append([name, *[f"{run[c]:.3f}" if c in run else "-" for c in COLUMNS],
                     f"{run.get('train_pos_share', float('nan')):.3f}", f"{run.get('train_loss', float('nan')):.4f}",
                     f"{run['max_grad_norm']:.3g}"])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0 if rows else 2


if __name__ == "__main__":
    raise SystemExit(main())
