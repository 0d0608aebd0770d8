"""Generate a synthetic driving world and export it as a nuScenes dataroot.

Example::

    python -m data_tools.make_world --out outputs/world --scenes 4 --seed 0

writes ``outputs/world/v1.0-fastdrive/*.json`` (the 13 nuScenes tables and
``splits.json``), ``samples/`` (six cameras + ``LIDAR_TOP``), ``maps/``
(basemaps and ``expansion/<location>.json``) and ground-truth masks under
``fastdrive_gt/``. Load it with
``NuScenes(version='v1.0-fastdrive', dataroot='outputs/world')``.

The output appears atomically at the end of the run; an existing non-empty
directory is only replaced with ``--overwrite``. The same ``--seed`` (and
arguments) always gives byte-identical files.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Optional, Sequence, Tuple

from data_tools._cli import OneLineErrorParser as _Parser, int_at_least

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130



_positive_int = int_at_least(1)
_seed = int_at_least(0)


def _image_size(text: str) -> Tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1600x900, got {text!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"width and height must be within 16..8192, got {w}x{h}")
    return w, h


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _version(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text):
        raise argparse.ArgumentTypeError(
            f"version must be a simple folder name like v1.0-fastdrive, got {text!r}"
        )
    return text


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = _Parser(
        prog="python -m data_tools.make_world",
        description=(
            "Generate a procedural driving world (towns, traffic, ego drive) and write it as a\n"
            "nuScenes-format dataroot, atomically (nothing appears at DIR until the run completes)."
        ),
        epilog=(
            "output layout:\n"
            "  DIR/<version>/*.json                        the 13 nuScenes tables + splits.json\n"
            "  DIR/samples/CAM_*/, DIR/samples/LIDAR_TOP/  images (.jpg) and point clouds (.pcd.bin)\n"
            "  DIR/maps/expansion/<location>.json          map expansion for NuScenesMap (+ basemaps)\n"
            "  DIR/fastdrive_gt/{fg,semantic}/samples/...  ground-truth masks (.png) per camera image\n"
            "\n"
            "example:\n"
            "  python -m data_tools.make_world --out outputs/world --scenes 4 --seed 0\n"
            '  python -c "from nuscenes.nuscenes import NuScenes; '
            "NuScenes('v1.0-fastdrive', 'outputs/world')\""
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="dataroot to create (must be absent or empty unless --overwrite)",
    )
    p.add_argument(
        "--scenes", type=_positive_int, default=4, metavar="N", help="number of scenes (default 4)"
    )
    p.add_argument(
        "--seed",
        type=_seed,
        default=0,
        metavar="S",
        help="world seed; same seed -> byte-identical output (default 0)",
    )
    p.add_argument(
        "--samples-per-scene",
        type=_positive_int,
        default=40,
        metavar="K",
        help="2 Hz keyframes per scene (default 40 = 20 s)",
    )
    p.add_argument(
        "--image-size",
        type=_image_size,
        default=(1600, 900),
        metavar="WxH",
        help="camera image size; intrinsics are scaled from nuScenes' 1600x900 (default 1600x900)",
    )
    p.add_argument(
        "--version",
        type=_version,
        default="v1.0-fastdrive",
        metavar="NAME",
        help="nuScenes version folder name (default v1.0-fastdrive)",
    )
    p.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.25,
        metavar="F",
        help="share of scenes tagged 'val' (default 0.25)",
    )
    p.add_argument(
        "--workers", type=_positive_int, default=2, metavar="W", help="rendering processes (default 2)"
    )
    p.add_argument(
        "--instance-masks",
        action="store_true",
        help="also write per-image annotation-id PNGs under fastdrive_gt/instance/",
    )
    p.add_argument(
        "--cameras",
        nargs="+",
        default=None,
        metavar="CAM",
        help="render only these cameras (e.g. CAM_FRONT for a front-camera planner's training world:\n"
        "one image per keyframe instead of six; visibility tokens then count those cameras only)\n"
        "(default: all six)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty output directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)

    from fastdrive.sim.writer import OutputExistsError, check_output

    try:
        check_output(args.out, args.overwrite)
    except OutputExistsError as exc:
        parser.error(str(exc))

    from fastdrive.sim.rig import CAMERA_NAMES, nuscenes_rig

    if args.cameras is not None:
        bad = [c for c in args.cameras if c not in CAMERA_NAMES]
        if bad:
            parser.error(f"--cameras: unknown camera(s) {', '.join(bad)}; choose from {', '.join(CAMERA_NAMES)}")
    from fastdrive.sim.scenario import generate_world
    from fastdrive.sim.writer import write_world

    start = time.perf_counter()
    try:
        scenes = generate_world(
            args.scenes, args.seed, samples_per_scene=args.samples_per_scene, val_fraction=args.val_fraction
        )
        summary = write_world(
            scenes,
            args.out,
            nuscenes_rig(args.image_size, args.cameras),
            args.seed,
            version=args.version,
            workers=args.workers,
            overwrite=args.overwrite,
            progress=not args.quiet,
            instance_masks=args.instance_masks,
        )
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; nothing was written to {args.out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OutputExistsError as exc:
        parser.error(str(exc))
    elapsed = time.perf_counter() - start
    print(
        f"wrote {summary.num_scenes} scenes, {summary.num_samples} samples, "
        f"{summary.num_images} camera images, "
        f"{summary.num_annotations} annotations to {summary.out_dir} (version {summary.version}) "
        f"in {elapsed:.1f} s ({summary.num_images / max(elapsed, 1e-9):.1f} images/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
