"""Export a trained driving-VLA checkpoint to the small file the planner and the service load.

Example::

    python -m fastdrive.tools.export_planner \\
        configs/planner/driving_vla_qwen25vl-small-throttle-x2_1xb16-8e_fastdrive-world.py \\
        work_dirs/driving_vla_qwen25vl-small-throttle-x2_1xb16-8e_fastdrive-world/epoch_8.pth \\
        --out fastdrive/checkpoints/driving_vla_qwen25vl-small-throttle-x2_fastdrive-world.pth
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fastdrive.tools.export_planner",
        description="Turn an mmengine checkpoint of a DrivingVLA config into a standalone planner file "
        "(float16 weights + constructor arguments, loadable with weights_only=True).")
    parser.add_argument("config", help="the training config (configs/planner/...); the model is built from "
                        "the config the run stored in its checkpoint (with its --cfg-options), and a note "
                        "lists where this file differs")
    parser.add_argument("checkpoint", help="mmengine checkpoint (.pth) written by mim train")
    parser.add_argument("--out", required=True, help="output file (.pth)")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights (twice the size)")
    parser.add_argument("--meta", default=None, metavar="JSON",
                        help="extra provenance stored in the file, as a JSON object")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from fastdrive.tools._common import export_inputs, provenance, read_run

    meta, error = export_inputs(args.config, args.checkpoint, args.meta)
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from mmengine.config import Config

    from fastdrive.models import DrivingVLA
    from fastdrive.models.driving_vla_io import export_driving_vla
    from fastdrive.registry import MODELS

    cfg = Config.fromfile(args.config)
    try:
        ckpt, state, model_cfg = read_run(args.checkpoint, cfg.model)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = MODELS.build(model_cfg)
    if not isinstance(model, DrivingVLA):
        print(f"error: {args.config} does not build a DrivingVLA (got {type(model).__name__})", file=sys.stderr)
        return 2
    try:
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        print(f"error: cannot load {args.checkpoint} into the config's model: {str(exc).splitlines()[0]}",
              file=sys.stderr)
        return 2
    info = provenance(args.config, args.checkpoint, ckpt, meta)
    size = export_driving_vla(model, args.out, meta=info, half=not args.float32)
    print(f"wrote {args.out} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
