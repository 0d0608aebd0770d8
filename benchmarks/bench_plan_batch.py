"""Per-sample cost of ``EmbeddedPlanner.plan_batch`` alone (no HTTP), batch 1 against batch 16.

Shows how much a batch can save on this machine before any serving overhead: prints ms per sample
and samples/s at each batch size and torch thread count, and the batch/single throughput ratio.
``--patch-embed both`` also runs every cell with the vision tower's stock ``Conv3d`` patch
embedding (same weights) beside the shipped one-matmul :class:`~fastdrive.models.patch_linear.PatchLinear`,
and prints their throughput ratio.

Usage::

    python benchmarks/bench_plan_batch.py [--method recon --ratio 0.5] [--batches 1 16] [--threads 1 2] [--seconds 3]
        [--patch-embed linear|conv|both]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_plan_batch.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--method", default="recon")
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--seconds", type=float, default=3.0, help="timed seconds per cell (after one warm-up call)")
    p.add_argument("--patch-embed", choices=("linear", "conv", "both"), default="linear",
                   help="patch embedding of the vision tower: the shipped matmul, the stock Conv3d, or both side by side")
    args = p.parse_args(argv)
    import numpy as np
    import torch

    from fastdrive.planner import EgoState, EmbeddedPlanner, PlanRequest, PruningSpec

    planner = EmbeddedPlanner.from_checkpoint(methods=[args.method])
    frame = np.random.default_rng(0).integers(0, 255, (225, 400, 3), dtype=np.uint8)
    spec = PruningSpec(args.method, args.ratio)
    embed = planner.model.vlm.model.visual.patch_embed
    linear = embed.proj
    variants = {"linear": linear, "conv": linear.to_conv()}
    names = ["linear", "conv"] if args.patch_embed == "both" else [args.patch_embed]
    for threads in args.threads:
        torch.set_num_threads(threads)
        rates = {}
        for name in names:
            embed.proj = variants[name]
            for b in args.batches:
                reqs = [PlanRequest(frame, EgoState(5.0), "left", spec) for _ in range(b)]
                planner.plan_batch(reqs)
                t0, n = time.perf_counter(), 0
                while time.perf_counter() - t0 < args.seconds:
                    planner.plan_batch(reqs)
                    n += 1
                per = (time.perf_counter() - t0) / (n * b)
                rates[name, b] = 1.0 / per
                print(f"threads {threads}  patch {name:<6}  batch {b:>3}: {1000 * per:6.1f} ms/sample  "
                      f"{rates[name, b]:6.1f} samples/s", flush=True)
            lo, hi = min(args.batches), max(args.batches)
            print(f"threads {threads}  patch {name:<6}  batch {hi} / batch {lo} throughput: "
                  f"{rates[name, hi] / rates[name, lo]:.2f}x")
        if len(names) == 2:
            for b in args.batches:
                print(f"threads {threads}  batch {b:>3}: linear / conv throughput "
                      f"{rates['linear', b] / rates['conv', b]:.2f}x")
        embed.proj = linear
    return 0


if __name__ == "__main__":
    sys.exit(main())
