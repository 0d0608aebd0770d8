"""Inspect a built nuScenes-FG dataset: overlays, a contact sheet and per-class statistics.

For a reproducible random sample of images it writes one overlay per image
(mask colours blended over the camera image, the projected hulls, box
prompts and road outlines drawn on top) and a contact sheet of all of them,
then prints per-class statistics of the whole index.

Example::

    python -m data_tools.inspect_fg --fg outputs/fg --num 12 --out outputs/fg_inspect
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from typing import List, Optional, Sequence

import numpy as np

from data_tools._cli import OneLineErrorParser as _Parser

EXIT_BAD_INPUT = 2



def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    p = _Parser(prog="python -m data_tools.inspect_fg", description=__doc__.split("\n\n")[0])
    p.add_argument("--fg", required=True, help="nuScenes-FG output directory (of data_tools.build_fg)")
    p.add_argument("--dataroot", help="nuScenes dataroot (default: the one recorded in the index)")
    p.add_argument("--split", default=None, help="index split to inspect (default: every split found)")
    p.add_argument("--num", type=int, default=12, help="images to draw (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: %(default)s)")
    p.add_argument("--out", help="folder for overlays and contact_sheet.png (default: FG/inspect)")
    p.add_argument("--no-prompts", action="store_true", help="draw masks only (no devkit / map loading)")
    p.add_argument("--columns", type=int, default=4, help="contact sheet columns (default: %(default)s)")
    return p


def _fail(message: str) -> int:
    sys.stderr.write(f"inspect_fg: error: {message}\n")
    return EXIT_BAD_INPUT


def _read_rgb(path: str) -> Optional[np.ndarray]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError):
        return None


def _write_png(path: str, rgb: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(rgb).save(path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    from fastdrive.datasets.nuscenes_fg.index import INDEX_PREFIX, class_statistics
    from fastdrive.datasets.nuscenes_fg.visualize import contact_sheet, legend, overlay, stack_rows

    if not os.path.isdir(args.fg):
        return _fail(f"nuScenes-FG directory not found: {args.fg}")
    names = sorted(
        n
        for n in os.listdir(args.fg)
        if n.startswith(INDEX_PREFIX + "_") and n.endswith(".json") and ".shard-" not in n
    )
    if args.split:
        names = [n for n in names if n == f"{INDEX_PREFIX}_{args.split}.json"]
    if not names:
        return _fail(
            f"no index {INDEX_PREFIX}_<split>.json in {args.fg}"
            + (" (merge shards with build_fg --merge)" if args.split is None else "")
        )
    entries: List[dict] = []
    meta: dict = {}
    for n in names:
        with open(os.path.join(args.fg, n), "r", encoding="utf-8") as f:
            index = json.load(f)
        meta = index["metainfo"]
        entries.extend(index["data_list"])
    classes, palette = meta["classes"], meta["palette"]
    dataroot = args.dataroot or meta.get("nuscenes_dataroot", "")
    out_dir = args.out or os.path.join(args.fg, "inspect")
    os.makedirs(out_dir, exist_ok=True)

    chosen = sorted(random.Random(args.seed).sample(range(len(entries)), min(args.num, len(entries))))
    extractor = None
    if not args.no_prompts and chosen:
        from fastdrive.datasets.nuscenes_fg.builder import BuildError, load_maps, load_nuscenes
        from fastdrive.datasets.nuscenes_fg.classes import FGClasses
        from fastdrive.datasets.nuscenes_fg.prompts import PromptExtractor

        try:
            nusc = load_nuscenes(dataroot, meta["version"])
            maps = load_maps(
                nusc, dataroot, [nusc.get("log", s["log_token"])["location"] for s in nusc.scene]
            )
        except BuildError as exc:
            return _fail(f"{exc} (use --no-prompts to draw masks only)")
        from mmengine.config import Config

        from data_tools.build_fg import DEFAULT_CLASSES_CONFIG

        fg_classes = FGClasses.from_config(Config.fromfile(DEFAULT_CLASSES_CONFIG).to_dict())
        if list(fg_classes.names) != list(classes):
            return _fail("the index was built with another class config; use --no-prompts")
        extractor = PromptExtractor(nusc, maps, fg_classes)

    tiles, labels = [], []
    for i in chosen:
        e = entries[i]
        image = _read_rgb(os.path.join(dataroot, e["img_path"]))
        mask_rgb = _read_rgb(os.path.join(args.fg, e["mask_path"]))
        if image is None or mask_rgb is None:
            print(f"  skipped {e['img_path']}: image or mask unreadable")
            continue
        from PIL import Image

        with Image.open(os.path.join(args.fg, e["mask_path"])) as im:
            mask = np.asarray(im)
        prompts = extractor(e["sample_data_token"]) if extractor is not None else None
        ov = overlay(image, mask, palette, prompts)
        name = os.path.splitext(os.path.basename(e["img_path"]))[0]
        _write_png(os.path.join(out_dir, f"{name}.png"), ov)
        tiles.append(ov)
        labels.append(f"{e['camera']} fg {100 * e['fg_share']:.0f}% prompts {e['num_prompts']}")
    sheet = contact_sheet(tiles, labels, columns=max(1, args.columns))
    _, sheet = stack_rows([sheet, legend(classes, palette, width=min(400, sheet.shape[1]))])
    sheet_path = os.path.join(out_dir, "contact_sheet.png")
    _write_png(sheet_path, sheet)

    stats = class_statistics(entries, classes)
    no_fg = sum(1 for e in entries if e["fg_share"] == 0)
    shares = np.array([e["fg_share"] for e in entries]) if entries else np.zeros(1)
    print(
        f"nuScenes-FG {args.fg}: {len(entries)} images ({', '.join(names)}), {no_fg} without foreground, "
        f"foreground share mean {100 * shares.mean():.1f}% (p10 {100 * np.percentile(shares, 10):.1f}%, "
        f"p90 {100 * np.percentile(shares, 90):.1f}%)"
    )
    print(f"{'class':<16}{'pixel share':>12}{'images':>9}{'share when present':>20}")
    for s in stats:
        print(
            f"{s['name']:<16}{100 * s['pixel_share']:>11.2f}%{s['images']:>9}"
            f"{100 * s['mean_share_when_present']:>19.2f}%"
        )
    print(f"wrote {len(tiles)} overlays and {sheet_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
