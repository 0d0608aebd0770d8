"""Evaluate a checkpoint with mmengine (what ``mim test fastdrive`` runs).

Example::

    mim test fastdrive CONFIG --checkpoint work_dirs/x/epoch_4.pth --gpus 0
"""

from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Evaluate a FastDrive checkpoint.")
    parser.add_argument("config", help="path of the config file")
    parser.add_argument("checkpoint", nargs="?", help="checkpoint file")
    parser.add_argument("--checkpoint", dest="checkpoint_opt", help="checkpoint file (mim style)")
    parser.add_argument("--work-dir", help="where logs and metrics go")
    parser.add_argument("--gpus", type=int, default=None, help="number of GPUs (0 = CPU)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None)
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data-root", metavar="DIR",
                        help="dataroot for every dataloader of the config (e.g. another world)")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    repo_root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    if osp.isdir(osp.join(repo_root, "fastdrive")) and repo_root not in sys.path:
        sys.path.insert(0, repo_root)

    from fastdrive.tools._common import hide_gpus_if_cpu, load_config

    hide_gpus_if_cpu(args)
    from mmengine.runner import Runner

    from fastdrive.engine import register_checkpoint_safe_globals

    register_checkpoint_safe_globals()
    checkpoint = args.checkpoint_opt or args.checkpoint
    if not osp.isfile(args.config):
        print(f"error: config file not found: {args.config}", file=sys.stderr)
        return 2
    if not checkpoint or not osp.isfile(checkpoint):
        print(f"error: checkpoint not found: {checkpoint}", file=sys.stderr)
        return 2
    cfg = load_config(args)
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    print(metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
