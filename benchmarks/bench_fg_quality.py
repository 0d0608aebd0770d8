"""Mask quality of a built nuScenes-FG dataset against the synthetic world's ground truth.

Example::

    python -m data_tools.make_world --out outputs/world --scenes 4 --seed 0
    python -m data_tools.build_fg --dataroot outputs/world --version v1.0-fastdrive \
        --out outputs/fg --segmenter box --split all
    python benchmarks/bench_fg_quality.py --world outputs/world --fg outputs/fg

Prints, per class and for the binary foreground, the dataset IoU (summed
intersections over summed unions) and the mean per-image IoU.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from typing import Optional, Sequence

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastdrive.datasets.nuscenes_fg import FGClasses  # noqa: E402
from fastdrive.datasets.nuscenes_fg.quality import QualityAccumulator, gt_ids_from_names  # noqa: E402
from fastdrive.sim.types import SEMANTIC_CLASSES  # noqa: E402

DEFAULT_CLASSES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "configs", "nuscenes_fg", "fg_classes.py")


def _load(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.array(im)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", required=True, help="world dataroot (with fastdrive_gt/)")
    parser.add_argument("--fg", required=True, help="output folder of data_tools.build_fg")
    parser.add_argument("--classes-config", default=DEFAULT_CLASSES)
    args = parser.parse_args(argv)
    from mmengine.config import Config

    classes = FGClasses.from_config(Config.fromfile(args.classes_config).to_dict())
    acc = QualityAccumulator(classes.names, gt_ids_from_names(classes.synthetic_gt, SEMANTIC_CLASSES))
    indices = sorted(glob.glob(os.path.join(args.fg, "nuscenes_fg_infos_*.json")))
    if not indices:
        print(f"error: no nuscenes_fg_infos_*.json in {args.fg}", file=sys.stderr)
        return 2
    for index in indices:
        for e in json.load(open(index))["data_list"]:
            acc.add(_load(os.path.join(args.fg, e["mask_path"])),
                    _load(os.path.join(args.world, "fastdrive_gt", "semantic", e["mask_path"])),
                    _load(os.path.join(args.world, "fastdrive_gt", "fg", e["mask_path"])))
    print(f"{'class':<14}{'IoU':>8}{'mean IoU':>10}{'images':>8}")
    for name, r in acc.result().items():
        print(f"{name:<14}{r['iou']:>8.3f}{r['mean_iou']:>10.3f}{r['images']:>8d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
