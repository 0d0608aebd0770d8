"""ReconPruner training throughput on this machine: with and without the frozen-feature cache.

Times optimiser steps of a ReconPruner config's model on one batch size,
side by side in one run:

* ``files``: images and masks decoded and resized from the files and the
  frozen host encoding every step (no cache at all);
* ``prepared``: prepared inputs from the dataset cache, the host encoding every step;
* ``cached``: prepared inputs and cached visual tokens (what the shipped config runs).

Prints images/s for each and the ratios to ``files``.

Usage::

    python benchmarks/bench_recon_training.py [--config configs/recon_pruner/recon_pruner_tiny_1xb16-4e_fastdrive-world-fg.py]
                                              [--steps 20] [--batch 16] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional, Sequence

DEFAULT_CONFIG = "configs/recon_pruner/recon_pruner_tiny_1xb16-4e_fastdrive-world-fg.py"


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_recon_training.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=DEFAULT_CONFIG, help="a ReconPrunerTrainer config (its train set is used)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per mode (after 2 warm-up steps)")
    p.add_argument("--batch", type=int, default=16, help="images per step")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    import torch
    from mmengine.config import Config

    from fastdrive.engine import ReconFeatureCacheHook
    from fastdrive.registry import DATASETS, MODELS

    torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, progress=False))
    if dataset.cache_dir is None:
        print("error: the config's dataset has no cache_dir; nothing to compare", file=sys.stderr)
        return 2
    ReconFeatureCacheHook(progress=False).attach(model, dataset)
    prep, tokens = dataset.prepared(), dataset.tokens
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    gen = torch.Generator().manual_seed(0)
    b = args.batch

    def step(mode: str) -> None:
        idx = torch.randint(0, len(dataset), (b,), generator=gen)
        if mode == "files":
            items = [dataset.load_item(int(i), use_cache=False) for i in idx]
            img, fg, tok = torch.stack([x["img"] for x in items]), torch.stack([x["fg"] for x in items]), None
        else:
            img, fg = prep["img"][idx], prep["fg"][idx]
            tok = tokens[idx].float() if mode == "cached" else None
        losses = model(img, fg, tokens=tok, mode="loss")
        opt.zero_grad()
        sum(v for k, v in losses.items() if k.startswith("loss")).backward()
        opt.step()

    rates = {}
    for mode in ("files", "prepared", "cached"):
        for _ in range(2):
            step(mode)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step(mode)
        rates[mode] = args.steps * b / (time.perf_counter() - t0)
    lines: List[str] = [f"{args.config}: batch {b}, {args.steps} steps per mode, torch threads {args.threads}"]
    for mode, rate in rates.items():
        lines.append(f"  {mode:9s} {rate:7.1f} images/s  ({rate / rates['files']:.1f}x files)")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
