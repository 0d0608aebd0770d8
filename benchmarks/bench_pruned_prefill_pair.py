"""Pruned-LLM prefill time of two pre-LLM methods, alternating, the pruner's own time taken out.

Usage::

    python benchmarks/bench_pruned_prefill_pair.py [--methods random vispruner] [--layers 1] [--rounds 2]
        [--repeats 3] [--ratio 0.75]

Both methods keep the same number of tokens, so the LLM does the same work
after them; this checks whether a method makes the *pruned* prefill slower
(layout, allocator, cache effects) or whether a gap in
``bench_pruning_latency.py`` is run-to-run noise. Real Qwen2.5-VL-3B LLM widths,
3249 visual + 62 text tokens, float32, CPU (see ``bench_pruning_latency.py``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench_pruning_latency as lat  # noqa: E402

from fastdrive.pruning import build_pruner, keep_from_ratio  # noqa: E402
from fastdrive.vla import attach_pruner  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", nargs=2, default=["random", "vispruner"], help="two pre-LLM methods")
    ap.add_argument("--layers", type=int, default=1, help="LLM layers at 3B width (default 1)")
    ap.add_argument("--rounds", type=int, default=2, help="alternations of the two methods (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="prefills per method per round (default 3)")
    ap.add_argument("--ratio", type=float, default=0.75, help="pruning ratio (default 0.75)")
    args = ap.parse_args(argv)
    model = lat.build_model(args.layers, torch.float32, "cpu", 0)
    inputs = lat.build_inputs(model, 3249, 62, "cpu", 0)
    times = {m: [] for m in args.methods}
    for r in range(args.rounds):
        for name in args.methods:
            pruner = build_pruner(name).eval()
            if pruner.stage != "pre_llm":
                ap.error(f"{name} is not a pre-LLM method")
            with attach_pruner(model, pruner, keep_from_ratio(args.ratio)) as handle:
                for _ in range(args.repeats):
                    out = lat.run_once(model, inputs, 0, "cpu")
                    times[name].append(out["prefill"] - handle.last.pruner_seconds)
                kept = int(handle.last.num_kept[0])
            print(f"round {r} {name:>10}: kept {kept}, pruned prefill without the pruner "
                  f"{', '.join(f'{t:.3f}' for t in times[name][-args.repeats:])} s", flush=True)
    a, b = args.methods
    ma, mb = statistics.median(times[a]), statistics.median(times[b])
    print(f"median: {a} {ma:.3f} s, {b} {mb:.3f} s, ratio {b}/{a} = {mb / ma:.3f} "
          f"({args.layers} layer(s), {args.rounds} x {args.repeats} prefills each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
