"""Time of a pruned decoder layer after two methods, alternating: same token count, same work?

Usage::

    python benchmarks/bench_pruned_prefill_pair.py [--methods random vispruner] [--layers 1] [--rounds 2]
        [--repeats 3] [--ratio 0.75]

Both methods keep the same number of tokens, so every decoder layer after
them does the same work; this checks whether a method makes those layers
slower (layout, allocator, cache or mask effects) or whether a gap in
``bench_pruning_latency.py`` is run-to-run noise. Every layer is timed with
hooks; a pre-LLM method's pruned layers are all layers, an in-LLM method's
are those after its layer ``K`` (layer ``K`` itself also runs the pruner and
the gathers; ``--layers`` must leave at least one after it). Real
Qwen2.5-VL-3B LLM widths, 3249 visual + 62 text tokens, float32, CPU (see
``bench_pruning_latency.py``).
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
from latency_parts import LayerTimer  # noqa: E402

from fastdrive.pruning import keep_from_ratio  # noqa: E402
from fastdrive.vla import attach_pruner  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", nargs=2, default=["random", "vispruner"], help="two methods")
    ap.add_argument("--layers", type=int, default=1, help="LLM layers at 3B width (default 1)")
    ap.add_argument("--rounds", type=int, default=2, help="alternations of the two methods (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="prefills per method per round (default 3)")
    ap.add_argument("--ratio", type=float, default=0.75, help="pruning ratio (default 0.75)")
    args = ap.parse_args(argv)
    model = lat.build_model(args.layers, torch.float32, "cpu", 0)
    inputs = lat.build_inputs(model, 3249, 62, "cpu", 0)
    pruners = {name: lat.make_pruner(name, args.layers, model)[0] for name in args.methods}
    first = {}
    for name, pruner in pruners.items():
        first[name] = int(pruner.layer) + 1 if pruner.stage == "in_llm" else 0
        if first[name] >= args.layers:
            ap.error(f"{name} prunes before layer {pruner.layer}: use --layers {first[name] + 1} or more")
    times = {m: [] for m in args.methods}
    per_layer = {m: [] for m in args.methods}
    with LayerTimer(lat.decoder_layers(model)) as timer:
        for r in range(args.rounds):
            for name, pruner in pruners.items():
                with attach_pruner(model, pruner, keep_from_ratio(args.ratio), session_id="pair") as handle:
                    for _ in range(args.repeats):
                        lat.warm_state(handle, pruner, 3249, "cpu")  # temporal methods: a full window
                        out = lat.run_once(model, inputs, 0, "cpu", timer)
                        layers = out["layers"][first[name]:]
                        times[name].append(sum(layers) / len(layers))
                        per_layer[name].append(layers)
                    kept = int(handle.last.num_kept[0])
                print(f"round {r} {name:>10}: kept {kept}, s per pruned layer (layers {first[name]}-"
                      f"{args.layers - 1}) {', '.join(f'{t:.3f}' for t in times[name][-args.repeats:])}",
                      flush=True)
    for name in args.methods:
        cols = list(zip(*per_layer[name]))
        print(f"{name:>10}: median s by layer " + ", ".join(
            f"{first[name] + i}: {statistics.median(c):.3f}" for i, c in enumerate(cols)))
    a, b = args.methods
    ma, mb = statistics.median(times[a]), statistics.median(times[b])
    print(f"median: {a} {ma:.3f} s, {b} {mb:.3f} s, ratio {b}/{a} = {mb / ma:.3f} "
          f"(s per pruned layer; {args.layers} layer(s), {args.rounds} x {args.repeats} prefills each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
