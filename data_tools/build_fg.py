"""Build nuScenes-FG: class-id foreground masks for nuScenes camera images.

Prompts come from what nuScenes already knows (projected 3D boxes, the HD
map's traffic lights and drivable area); ``--segmenter sam`` turns box
prompts into masks with segment-anything, ``--segmenter box`` fills the
projected box hulls (no weights).

Examples::

    python -m data_tools.build_fg --dataroot data/nuscenes --version v1.0-mini --out data/nuscenes_fg \\
        --segmenter sam --sam-checkpoint sam_vit_h_4b8939.pth --sam-model vit_h --device cuda
    python -m data_tools.build_fg --dataroot outputs/world --version v1.0-fastdrive --out outputs/fg \\
        --segmenter box --workers 2
    # sharded (also picks up RANK / WORLD_SIZE from torchrun or SLURM_PROCID / SLURM_NTASKS):
    python -m data_tools.build_fg ... --num-shards 8 --shard-id 3
    python -m data_tools.build_fg --out data/nuscenes_fg --merge
    # add each camera's mask path to mmdet3d's info pkl (mmdet3d 1.x format; with --dataroot it
    # builds first), writing data/nuscenes_fg/nuscenes_infos_train_fg.pkl:
    python -m data_tools.build_fg --out data/nuscenes_fg \\
        --mmdet3d-infos data/nuscenes/nuscenes_infos_train.pkl

Exit codes: 0 done (failed images are listed in the summary), 2 bad input
(nothing processed), 1 unexpected error, 130 interrupted (rerun to resume).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional, Sequence, Tuple

from data_tools._cli import OneLineErrorParser as _Parser, int_at_least
from fastdrive.sim.rig import CAMERA_NAMES as CAMERAS

EXIT_BAD_INPUT = 2
DEFAULT_CLASSES_CONFIG = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "nuscenes_fg", "fg_classes.py"
)



_non_negative = int_at_least(0)


def _cameras(text: str) -> List[str]:
    cams = [c.strip().upper() for c in text.replace(" ", ",").split(",") if c.strip()]
    if not cams:
        raise argparse.ArgumentTypeError("no camera given")
    return [c if c.startswith("CAM_") else f"CAM_{c}" for c in cams]


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    p = _Parser(
        prog="python -m data_tools.build_fg",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataroot", help="nuScenes dataroot (holds VERSION/, samples/, maps/)")
    p.add_argument(
        "--version",
        default="v1.0-trainval",
        help="table folder, e.g. v1.0-mini, v1.0-trainval, v1.0-fastdrive (default: %(default)s)",
    )
    p.add_argument("--out", required=True, help="output directory of masks, indices and summary")
    p.add_argument("--segmenter", choices=("sam", "box"), default="sam", help="default: %(default)s")
    p.add_argument("--sam-checkpoint", help="segment-anything checkpoint (.pth) for --segmenter sam")
    p.add_argument(
        "--sam-model",
        choices=("vit_b", "vit_l", "vit_h", "auto"),
        default="auto",
        help="SAM size the checkpoint must have; 'auto' reads it from the checkpoint (default)",
    )
    p.add_argument(
        "--cameras",
        type=_cameras,
        default=list(CAMERAS),
        help="comma-separated camera channels (default: all six)",
    )
    p.add_argument("--split", choices=("train", "val", "all"), default="all", help="default: %(default)s")
    p.add_argument(
        "--num-shards",
        type=_non_negative,
        default=None,
        help="split the work into N shards (default: $WORLD_SIZE / $SLURM_NTASKS, else 1)",
    )
    p.add_argument(
        "--shard-id",
        type=_non_negative,
        default=None,
        help="which shard this process builds (default: $RANK / $SLURM_PROCID, else 0)",
    )
    p.add_argument(
        "--device",
        default=None,
        help="cpu | cuda | cuda:N (default: cuda:$LOCAL_RANK or cuda if available, else cpu)",
    )
    p.add_argument(
        "--workers",
        type=_non_negative,
        default=0,
        help="worker processes for prompts, image checks (and, in box mode, masks); 0 = in-process",
    )
    p.add_argument("--limit", type=_non_negative, default=None, help="process at most N images of this shard")
    p.add_argument("--merge", action="store_true", help="merge the shard indices in --out and exit")
    p.add_argument(
        "--mmdet3d-infos",
        nargs="+",
        metavar="PKL",
        default=None,
        help="mmdet3d 1.x info pkl(s) to augment with images[CAM]['fg_mask_path'] (relative to --out); "
        "each is written to OUT/<name>_fg.pkl. Without --dataroot, only this step runs",
    )
    p.add_argument(
        "--classes-config",
        default=DEFAULT_CLASSES_CONFIG,
        help="category-to-foreground config (default: configs/nuscenes_fg/fg_classes.py)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def resolve_shards(
    num_shards: Optional[int], shard_id: Optional[int], env: Optional[dict] = None
) -> Tuple[int, int]:
    """Shard count and id from the flags, else ``WORLD_SIZE``/``RANK``, else SLURM's, else (1, 0)."""
    env = dict(os.environ if env is None else env)
    if num_shards is None:
        num_shards = int(env.get("WORLD_SIZE") or env.get("SLURM_NTASKS") or 1)
    if shard_id is None:
        shard_id = int(env.get("RANK") or env.get("SLURM_PROCID") or 0)
    if num_shards < 1:
        raise ValueError(f"--num-shards must be >= 1, got {num_shards}")
    if not 0 <= shard_id < num_shards:
        raise ValueError(f"--shard-id {shard_id} is outside 0..{num_shards - 1}")
    return num_shards, shard_id


def default_device(env: Optional[dict] = None) -> str:
    """``cuda:<LOCAL_RANK>`` (torchrun / SLURM_LOCALID) or ``cuda`` when a GPU is present, else ``cpu``."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    env = dict(os.environ if env is None else env)
    local = env.get("LOCAL_RANK") or env.get("SLURM_LOCALID")
    return f"cuda:{int(local) % torch.cuda.device_count()}" if local else "cuda"


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    sys.stderr.write(f"build_fg: error: {message}\n")
    return code


def _print_summary(summary: dict, seconds: float, out: str) -> None:
    shares = ", ".join(f"{k} {100 * v:.1f}%" for k, v in summary["class_pixel_share"].items())
    rate = f" ({summary['images'] / seconds:.1f} images/s this run)" if seconds > 0 else ""
    print(
        f"nuScenes-FG: {summary['images']} images{rate}, "
        f"{summary['failures']} failures, {summary['images_without_foreground']} without foreground -> {out}"
    )
    print(f"  pixel share: {shares}")
    for f in summary["failure_list"][:10]:
        print(f"  failed: {f['img_path']}: {f['reason']}")
    if summary["failures"] > 10:
        print(f"  ... {summary['failures'] - 10} more failures in {os.path.join(out, 'summary*.json')}")


def augment_mmdet3d_infos(pkl_paths: Sequence[str], out: str) -> int:
    """``--mmdet3d-infos``: write ``OUT/<name>_fg.pkl`` for each info pkl; returns the exit code."""
    import glob
    import pickle

    from fastdrive.datasets.nuscenes_fg import _io
    from fastdrive.datasets.nuscenes_fg.index import INDEX_PREFIX
    from fastdrive.datasets.nuscenes_fg.mmdet3d_infos import InfoFormatError, add_fg_mask_paths

    indices = [
        p for p in sorted(glob.glob(os.path.join(out, f"{INDEX_PREFIX}_*.json"))) if ".shard-" not in p
    ]
    if not indices:
        return _fail(
            f"no nuScenes-FG index ({INDEX_PREFIX}_<split>.json) in {out}; build (and --merge) first"
        )
    entries = [e for p in indices for e in _io.read_json(p)["data_list"]]
    tmp_dir = os.path.join(out, "_work", "tmp", "mmdet3d")
    os.makedirs(tmp_dir, exist_ok=True)
    for pkl in pkl_paths:
        try:
            with open(pkl, "rb") as f:
                infos = pickle.load(f)
            new, report = add_fg_mask_paths(infos, entries)
        except (OSError, pickle.UnpicklingError, EOFError, InfoFormatError) as exc:
            return _fail(f"{pkl}: {exc}")
        if report["with_mask"] == 0:
            return _fail(f"{pkl}: none of its {report['images']} camera images has a mask in {out}")
        name = os.path.splitext(os.path.basename(pkl))[0] + "_fg.pkl"
        dest = os.path.join(out, name)
        _io.atomic_write_bytes(dest, pickle.dumps(new, protocol=4), tmp_dir)
        print(f"mmdet3d infos: {report['with_mask']}/{report['images']} camera images with a mask -> {dest}")
        if report["missing"]:
            examples = report["missing_examples"][:3]
            print(f"  {report['missing']} without a mask (fg_mask_path None), e.g. {examples}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        from fastdrive.datasets.nuscenes_fg.builder import BuildError, BuildOptions, merge_shards, run_build
        from fastdrive.datasets.nuscenes_fg.classes import FGClasses, FGConfigError
        from fastdrive.datasets.nuscenes_fg.sam_models import SamCheckpointError
        from fastdrive.datasets.nuscenes_fg.segmenters import build_segmenter
    except ImportError as exc:
        return _fail(f"cannot import FastDrive ({exc}); install it with pip install -e .", 1)

    start = time.time()
    if args.merge:
        try:
            summary = merge_shards(args.out, args.num_shards)
        except BuildError as exc:
            return _fail(str(exc))
        _print_summary(summary, 0.0, args.out)
        return 0
    if not args.dataroot:
        if args.mmdet3d_infos:
            return augment_mmdet3d_infos(args.mmdet3d_infos, args.out)
        return _fail("--dataroot is required (unless --merge or --mmdet3d-infos)")
    try:
        num_shards, shard_id = resolve_shards(args.num_shards, args.shard_id)
    except ValueError as exc:
        return _fail(str(exc))
    if args.segmenter == "sam" and not args.sam_checkpoint:
        return _fail("--segmenter sam needs --sam-checkpoint PATH (or use --segmenter box)")
    if args.segmenter == "sam" and not os.path.isfile(args.sam_checkpoint):
        return _fail(f"SAM checkpoint not found: {args.sam_checkpoint}")
    try:
        from mmengine.config import Config

        classes = FGClasses.from_config(Config.fromfile(args.classes_config).to_dict())
    except FGConfigError as exc:
        return _fail(f"{args.classes_config}: {exc}")
    except Exception as exc:  # noqa: BLE001 - unreadable config file
        return _fail(f"cannot read classes config {args.classes_config}: {type(exc).__name__}: {exc}")

    device = args.device or default_device()
    opts = BuildOptions(
        dataroot=args.dataroot,
        version=args.version,
        out=args.out,
        split=args.split,
        cameras=args.cameras,
        num_shards=num_shards,
        shard_id=shard_id,
        workers=args.workers,
        limit=args.limit,
    )
    progress = None
    if not args.no_progress:
        from functools import partial

        from tqdm import tqdm

        desc = "nuScenes-FG" if num_shards == 1 else f"nuScenes-FG {shard_id}/{num_shards}"
        progress = partial(tqdm, desc=desc, dynamic_ncols=True, smoothing=0.1)
    try:
        summary = run_build(
            opts,
            classes,
            lambda: build_segmenter(args.segmenter, args.sam_checkpoint, args.sam_model, device),
            progress,
        )
    except (BuildError, SamCheckpointError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        sys.stderr.write("build_fg: interrupted; rerun the same command to resume\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        return _fail(f"unexpected {type(exc).__name__}: {exc}", 1)
    _print_summary(summary, time.time() - start, args.out)
    if num_shards > 1:
        print(
            f"  shard {shard_id} of {num_shards} done; when all are, run: python -m data_tools.build_fg "
            f"--out {args.out} --merge"
        )
        return 0
    if args.mmdet3d_infos:
        return augment_mmdet3d_infos(args.mmdet3d_infos, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
