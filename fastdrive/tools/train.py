"""Train a FastDrive model with mmengine (what ``mim train fastdrive`` runs).

Examples::

    mim train fastdrive configs/toy/toy_regressor_1xb16-4e_synthetic.py --gpus 0
    python fastdrive/tools/train.py CONFIG --work-dir work_dirs/x --resume
    mim train fastdrive CONFIG --launcher pytorch --gpus 8
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train a FastDrive model from an mmengine config "
        "(pure-Python configs under configs/).")
    parser.add_argument("config", help="path of the config file")
    parser.add_argument("--work-dir", help="where logs and checkpoints go "
                        "(default: work_dirs/<config name>)")
    parser.add_argument("--resume", nargs="?", const="auto", default=None,
                        help="resume training: without a value, from the latest checkpoint "
                        "in the work dir; with a path, from that checkpoint")
    parser.add_argument("--load-from", help="initialise weights from a checkpoint (no resume)")
    parser.add_argument("--amp", action="store_true", help="mixed-precision training")
    parser.add_argument("--gpus", type=int, default=None,
                        help="number of GPUs (mim passes this; 0 or --device cpu trains on CPU)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None,
                        help="force a device (mim passes --device cpu for --gpus 0)")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config entries, e.g. train_cfg.max_epochs=2")
    parser.add_argument("--data-root", metavar="DIR",
                        help="dataroot for every dataloader of the config (e.g. another world)")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"],
                        default="none", help="job launcher")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    # Make the repository importable when the script runs from a checkout.
    repo_root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    if osp.isdir(osp.join(repo_root, "fastdrive")) and repo_root not in sys.path:
        sys.path.insert(0, repo_root)

    from fastdrive.tools._common import hide_gpus_if_cpu, load_config

    hide_gpus_if_cpu(args)
    from mmengine.runner import Runner

    from fastdrive.engine import register_checkpoint_safe_globals

    register_checkpoint_safe_globals()
    cfg = load_config(args)
    if cfg is None:
        print(f"error: config file not found: {args.config}", file=sys.stderr)
        return 2
    if args.load_from:
        cfg.load_from = args.load_from
    if args.resume == "auto":
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.amp:
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.setdefault("loss_scale", "dynamic")

    runner = Runner.from_cfg(cfg)
    runner.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
