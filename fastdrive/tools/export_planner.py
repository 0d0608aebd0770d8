"""Export a trained driving-VLA checkpoint to the small file the planner and the service load.

Example::

    python -m fastdrive.tools.export_planner \\
        configs/planner/driving_vla_qwen25vl-small-aux_1xb16-16e_fastdrive-world.py \\
        work_dirs/driving_vla_qwen25vl-small-aux_1xb16-16e_fastdrive-world/epoch_16.pth \\
        --out fastdrive/checkpoints/driving_vla_qwen25vl-small-aux_fastdrive-world.pth
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fastdrive.tools.export_planner",
        description="Turn an mmengine checkpoint of a DrivingVLA config into a standalone planner file "
        "(float16 weights + constructor arguments, loadable with weights_only=True).")
    parser.add_argument("config", help="the training config (configs/planner/...)")
    parser.add_argument("checkpoint", help="mmengine checkpoint (.pth) written by mim train")
    parser.add_argument("--out", required=True, help="output file (.pth)")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights (twice the size)")
    parser.add_argument("--meta", default=None, metavar="JSON",
                        help="extra provenance stored in the file, as a JSON object")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    for path, what in ((args.config, "config"), (args.checkpoint, "checkpoint")):
        if not os.path.isfile(path):
            print(f"error: {what} not found: {path}", file=sys.stderr)
            return 2
    try:
        meta = json.loads(args.meta) if args.meta else {}
    except json.JSONDecodeError as exc:
        print(f"error: --meta is not valid JSON: {exc}", file=sys.stderr)
        return 2
    import torch
    from mmengine.config import Config

    from fastdrive.engine import register_checkpoint_safe_globals
    from fastdrive.models import DrivingVLA
    from fastdrive.models.driving_vla_io import export_driving_vla
    from fastdrive.registry import MODELS

    register_checkpoint_safe_globals()
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    if not isinstance(model, DrivingVLA):
        print(f"error: {args.config} does not build a DrivingVLA (got {type(model).__name__})", file=sys.stderr)
        return 2
    try:
        ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise ValueError("no state_dict inside")
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        print(f"error: cannot load {args.checkpoint} into the config's model: {str(exc).splitlines()[0]}",
              file=sys.stderr)
        return 2
    info = dict(config=os.path.basename(args.config), source_checkpoint=os.path.basename(args.checkpoint),
                epoch=(ckpt.get("meta") or {}).get("epoch"), iter=(ckpt.get("meta") or {}).get("iter"), **meta)
    size = export_driving_vla(model, args.out, meta=info, half=not args.float32)
    print(f"wrote {args.out} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
