"""Peak memory of preparing a nuScenes-FG split for ReconPruner training (``ReconFGDataset.prepared``).

Each run is its own process (peak RSS is a per-process high-water mark):

* ``memory``: no ``cache_dir``, the split prepared into RAM;
* ``cache``: with a fresh ``cache_dir`` (memory-mapped files, what the configs use);
* ``reload``: the same cache read back by a second dataset, then every item touched once.

Prints, for each, the peak RSS, the bytes of the prepared result (uint8 images
and masks), the baseline, and ``(peak - baseline) / result`` (baseline: the resident set after the imports):
about 1 when the preparation holds nothing but its result, below 1 when the
result lives in the page cache (file-backed pages leave RSS under memory
pressure), well above 1 when it does not.

Usage::

    python benchmarks/bench_recon_prepare_memory.py \
        --ann-file data/fastdrive_world_extra_seed3_fg/nuscenes_fg_infos_train.json \
        --data-root data/fastdrive_world_extra_seed3 [--limit 1000] [--size 448 252]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Optional, Sequence

CHILD = r"""
import json, resource, sys, time
import torch
from fastdrive.datasets import ReconFGDataset
a = json.loads(sys.argv[1])
base = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])  # kB now, after the imports
ds = ReconFGDataset(ann_file=a["ann"], image_size=tuple(a["size"]),
                    cache_dir=a["cache"], indices=a["limit"], progress=False,
                    data_prefix=dict(img_path=a["root"], mask_path=a["root"] + "/fastdrive_gt/semantic"),
                    fg_classes=list(range(8, 17)))
t = time.perf_counter()
prep = ds.prepared()
if a["touch"]:
    total = sum(int(prep["img"][i, :, ::8, ::8].sum()) for i in range(len(ds)))
seconds = time.perf_counter() - t
nbytes = sum(v.numel() for v in prep.values())
print(json.dumps(dict(items=len(ds), result_bytes=nbytes, seconds=seconds, baseline_kb=base,
                      peak_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))
"""


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_recon_prepare_memory.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--ann-file", required=True, help="nuscenes_fg_infos_<split>.json (data_tools.build_fg)")
    p.add_argument("--data-root", required=True, help="the world (or nuScenes dataroot) the index points into")
    p.add_argument("--limit", type=int, default=1000, help="first N items of the index")
    p.add_argument("--modes", nargs="+", default=["memory", "cache", "reload"],
                   choices=["memory", "cache", "reload"], help="which runs ('reload' needs 'cache')")
    p.add_argument("--size", type=int, nargs=2, default=(448, 252), metavar=("W", "H"), help="host input size")
    return p.parse_args(argv)


def _run(args: argparse.Namespace, cache: Optional[str], touch: bool) -> dict:
    spec = json.dumps(dict(ann=args.ann_file, root=args.data_root, size=list(args.size), cache=cache,
                           limit=args.limit, touch=touch))
    proc = subprocess.run([sys.executable, "-c", CHILD, spec], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: the preparation failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    for path in (args.ann_file, args.data_root):
        if not os.path.exists(path):
            print(f"error: not found: {path}", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="fastdrive-prep-") as cache:
        plan = {"memory": (None, False), "cache": (cache, False), "reload": (cache, True)}
        rows = [(mode, _run(args, *plan[mode])) for mode in ("memory", "cache", "reload") if mode in args.modes]
    print(f"{'mode':<8} {'items':>6} {'result MB':>10} {'baseline MB':>12} {'peak MB':>8} "
          f"{'(peak-base)/result':>19} {'seconds':>8}")
    for name, r in rows:
        ratio = (r["peak_kb"] - r["baseline_kb"]) * 1024 / max(r["result_bytes"], 1)
        print(f"{name:<8} {r['items']:>6} {r['result_bytes'] / 2**20:>10.0f} {r['baseline_kb'] / 1024:>12.0f} "
              f"{r['peak_kb'] / 1024:>8.0f} {ratio:>19.2f} {r['seconds']:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
