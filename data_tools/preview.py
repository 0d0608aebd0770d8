"""Preview a nuScenes-format dataroot: the six cameras of one sample, with boxes.

Reads the dataset with the unmodified nuscenes-devkit (``get_sample_data``
projects every annotation into each camera), draws the 3D boxes as wire
frames coloured by category, and tiles the six cameras in the nuScenes
layout (front row: FRONT_LEFT, FRONT, FRONT_RIGHT; back row: BACK_LEFT,
BACK, BACK_RIGHT) into one PNG.

Example::

    python -m data_tools.preview --dataroot outputs/world --out outputs/preview.png
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from data_tools._cli import find_version, pick_sample

CAMERA_LAYOUT: Tuple[Tuple[str, ...], ...] = (
    ("CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT"),
    ("CAM_BACK_LEFT", "CAM_BACK", "CAM_BACK_RIGHT"),
)
CATEGORY_COLOURS = {
    "vehicle.car": (255, 158, 0),
    "vehicle.truck": (255, 99, 71),
    "vehicle.bus": (255, 69, 0),
    "vehicle.bicycle": (220, 20, 60),
    "human": (0, 0, 230),
    "movable_object.barrier": (112, 128, 144),
    "movable_object.trafficcone": (47, 79, 79),
}
# Edges of a box in nuScenes Box.corners() order (front face 0-3, back 4-7).
BOX_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
             (0, 4), (1, 5), (2, 6), (3, 7), (0, 2), (1, 3))


def _colour(category: str) -> Tuple[int, int, int]:
    for prefix, colour in CATEGORY_COLOURS.items():
        if category.startswith(prefix):
            return colour
    return (255, 255, 255)


def draw_camera(nusc, cam_token: str, tile_width: int) -> Image.Image:
    """One camera image with its projected boxes, resized to ``tile_width``.

    Args:
        nusc: a ``nuscenes.NuScenes`` instance.
        cam_token: ``sample_data`` token of a camera image.
        tile_width: output width in pixels (height keeps the aspect ratio).
    """
    from nuscenes.utils.geometry_utils import BoxVisibility, view_points

    path, boxes, intrinsic = nusc.get_sample_data(cam_token, box_vis_level=BoxVisibility.ANY)
    image = Image.open(path).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, image.width // 400)
    for box in boxes:
        corners = box.corners()
        if (corners[2] <= 0.1).any():  # keep the preview simple: whole boxes only
            continue
        uv = view_points(corners, np.asarray(intrinsic), normalize=True)[:2]
        colour = _colour(box.name)
        for a, b in BOX_EDGES:
            draw.line([tuple(uv[:, a]), tuple(uv[:, b])], fill=colour, width=width)
    scale = tile_width / image.width
    image = image.resize((tile_width, max(1, int(round(image.height * scale)))), Image.BILINEAR)
    channel = nusc.get("sample_data", cam_token)["channel"]
    ImageDraw.Draw(image).text((6, 4), channel, fill=(255, 255, 255), font=ImageFont.load_default())
    return image


def render_preview(nusc, sample_token: str, out_path: str, tile_width: int = 640) -> str:
    """Write the six-camera preview PNG of one sample; returns ``out_path``."""
    sample = nusc.get("sample", sample_token)
    tiles: List[List[Image.Image]] = []
    for row in CAMERA_LAYOUT:
        tiles.append([draw_camera(nusc, sample["data"][cam], tile_width) for cam in row
                      if cam in sample["data"]])
    tile_h = max(t.height for row in tiles for t in row)
    canvas = Image.new("RGB", (tile_width * 3, tile_h * len(tiles)), (0, 0, 0))
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            canvas.paste(tile, (c * tile_width, r * tile_h))
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + ".tmp.png"
    canvas.save(tmp)
    os.replace(tmp, out_path)
    return out_path



def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m data_tools.preview",
        description="Write a PNG of the six cameras of one nuScenes sample with the annotated "
        "3D boxes projected (works on real nuScenes and on worlds from data_tools.make_world).")
    parser.add_argument("--dataroot", required=True, help="nuScenes dataroot")
    parser.add_argument("--version", default=None,
                        help="table folder, e.g. v1.0-mini (default: the only v* folder)")
    parser.add_argument("--out", required=True, help="output PNG path")
    parser.add_argument("--sample-token", default=None, help="sample to show")
    parser.add_argument("--scene-index", type=int, default=0, help="scene (when no token)")
    parser.add_argument("--sample-index", type=int, default=10,
                        help="keyframe within the scene (when no token)")
    parser.add_argument("--tile-width", type=int, default=640, help="width of each camera tile")
    return parser.parse_args(argv)



def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        if not os.path.isdir(args.dataroot):
            raise ValueError(f"dataroot not found: {args.dataroot}")
        version = args.version or find_version(args.dataroot)
        if not os.path.isdir(os.path.join(args.dataroot, version)):
            raise ValueError(f"version folder not found: {os.path.join(args.dataroot, version)}")
        from nuscenes.nuscenes import NuScenes

        nusc = NuScenes(version=version, dataroot=args.dataroot, verbose=False)
        token = args.sample_token or pick_sample(nusc, args.scene_index, args.sample_index, clamp=True)
        out = render_preview(nusc, token, args.out, tile_width=args.tile_width)
    except (ValueError, KeyError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
