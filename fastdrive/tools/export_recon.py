"""Export the ReconPruner of a training checkpoint to the file ``recon`` loads (``weights=``).

Example::

    python -m fastdrive.tools.export_recon \\
        configs/recon_pruner/recon_pruner_tiny-objects_1xb16-2e_fastdrive-world.py \\
        work_dirs/recon_pruner_tiny-objects_1xb16-2e_fastdrive-world/best_recon_precision@0.5_epoch_1.pth \\
        --out fastdrive/checkpoints/recon_pruner_tiny_fastdrive-world.pth
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fastdrive.tools.export_recon",
        description="Turn an mmengine checkpoint of a ReconPrunerTrainer config into a standalone ReconPruner "
        "weight file (the pruner only, with its sizes and provenance; loadable with weights_only=True). "
        "The reconstruction decoder is a training device and is left out.")
    parser.add_argument("config", help="the training config (configs/recon_pruner/...); the model is built "
                        "from the config the run stored in its checkpoint, and a note lists where this file differs")
    parser.add_argument("checkpoint", help="mmengine checkpoint (.pth) written by mim train")
    parser.add_argument("--out", required=True, help="output file (.pth)")
    parser.add_argument("--meta", default=None, metavar="JSON", help="extra provenance, as a JSON object")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides on top of the run's own model config, which the checkpoint stores "
                        "with its --cfg-options (e.g. model.host.path=/new/place/Impromptu-VLA-3B when the host "
                        "checkpoint moved)")
    parser.add_argument("--selection", nargs="+", default=[], metavar="KEY=VALUE",
                        help="selection options recommended with these weights, used when a request does not set "
                        "them (peaks_first=true, diverse_fill=0.5 or spatial_fill=0.5; default: the paper's plain "
                        "top-K)")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from fastdrive.tools._common import export_inputs, parse_cfg_options, provenance, read_run

    meta, error = export_inputs(args.config, args.checkpoint, args.meta)
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    import torch
    from mmengine.config import Config

    from fastdrive.models import ReconPrunerTrainer
    from fastdrive.registry import MODELS

    cfg = Config.fromfile(args.config)
    try:
        ckpt, state, model_cfg = read_run(args.checkpoint, cfg.model)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cfg.model = model_cfg
    try:
        if args.cfg_options:  # on top of the run's values (e.g. the host checkpoint moved)
            cfg.merge_from_dict(parse_cfg_options(args.cfg_options))
        model = MODELS.build(cfg.model)
    except Exception as exc:  # a host path that is not there, a malformed override, ...
        print(f"error: cannot build the model of {args.config}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    if not isinstance(model, ReconPrunerTrainer):
        print(f"error: {args.config} does not build a ReconPrunerTrainer (got {type(model).__name__})",
              file=sys.stderr)
        return 2
    try:
        model.pruner.load_state_dict({k[len("pruner."):]: v for k, v in state.items() if k.startswith("pruner.")},
                                     strict=True)
    except Exception as exc:
        print(f"error: cannot load {args.checkpoint} into the config's pruner: {str(exc).splitlines()[0]}",
              file=sys.stderr)
        return 2
    info = provenance(args.config, args.checkpoint, ckpt, meta)
    try:
        blob = model.pruner_checkpoint(info, selection=parse_cfg_options(args.selection) if args.selection else None)
    except ValueError as exc:  # an unknown option or a value out of range
        print(f"error: --selection: {exc}", file=sys.stderr)
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = f"{args.out}.tmp-{os.getpid()}"
    torch.save(blob, tmp)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
