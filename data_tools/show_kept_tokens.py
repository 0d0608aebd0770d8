"""Show which visual tokens each pruning method keeps, over one camera image, as a PNG grid.

The camera image of one nuScenes sample goes through the processor-free
Qwen2.5-VL path (resized so the merged token grid is about one token per
``--token-px`` source pixels, patchified by transformers' Qwen2-VL image
processor, wrapped in ``<|vision_start|> pad* <|vision_end|>`` with a short
prompt); every pruner is attached at every pruning ratio and one forward is
run. Rows are methods, columns ratios; each tile is titled with the method,
the pruning ratio, the kept count and the foreground recall (when the
world's ground-truth foreground mask exists).

Example::

    python -m data_tools.show_kept_tokens --dataroot outputs/world \\
        --methods fastv divprune --ratios 0.25 0.5 0.75 --out kept.png
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import List, Optional, Sequence, Tuple

import numpy as np

from data_tools._cli import OneLineErrorParser as _Parser, find_version, pick_sample

EXIT_BAD_INPUT = 2



def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    p = _Parser(prog="python -m data_tools.show_kept_tokens", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataroot", required=True,
                   help="nuScenes dataroot (real or from data_tools.make_world)")
    p.add_argument("--version", default=None,
                   help="table folder, e.g. v1.0-mini (default: the only v* folder)")
    p.add_argument("--sample-token", default=None,
                   help="sample to show (default: the --scene-index, --sample-index one)")
    p.add_argument("--scene-index", type=int, default=0, help="scene when no token (default: %(default)s)")
    p.add_argument("--sample-index", type=int, default=0, help="keyframe in the scene (default: %(default)s)")
    p.add_argument("--camera", default="CAM_FRONT", help="camera channel (default: %(default)s)")
    p.add_argument("--methods", nargs="+", required=True,
                   help="pruner names (see fastdrive.pruning.list_pruners)")
    p.add_argument("--ratios", nargs="+", type=float, default=[0.25, 0.5, 0.75],
                   help="pruning ratios, share of visual tokens removed, in [0, 1) (default: %(default)s)")
    p.add_argument("--checkpoint", default=None,
                   help="local Qwen2.5-VL checkpoint directory (default: the tiny random model)")
    p.add_argument("--planner", nargs="?", const="default", default=None, metavar="FILE",
                   help="use the embedded driving VLA instead (FastDrive's trained planner; FILE: an "
                   "exported planner file, default: the shipped one); it sees CAM_FRONT at its own "
                   "16x9 token grid, planning 'straight' at 5 m/s")
    p.add_argument("--token-px", type=int, default=28,
                   help="source pixels per merged token (default: %(default)s, as Qwen2.5-VL)")
    p.add_argument("--tile-width", type=int, default=448,
                   help="width of each tile in px (default: %(default)s)")
    p.add_argument("--alpha", type=float, default=0.8,
                   help="dimming of pruned cells (default: %(default)s)")
    p.add_argument("--out", required=True, help="output PNG path")
    return p




def load_camera(dataroot: str, version: Optional[str], sample_token: Optional[str], scene_index: int,
                sample_index: int, camera: str) -> Tuple[np.ndarray, Optional[np.ndarray], str]:
    """``(image (H, W, 3) uint8, fg_mask (H, W) bool or None, image path)`` of one sample's camera."""
    from PIL import Image

    from fastdrive.sim.ground_truth import load_fg_mask

    if not os.path.isdir(dataroot):
        raise ValueError(f"dataroot not found: {dataroot}")
    version = version or find_version(dataroot)
    if not os.path.isdir(os.path.join(dataroot, version)):
        raise ValueError(f"version folder not found: {os.path.join(dataroot, version)}")
    from nuscenes.nuscenes import NuScenes

    nusc = NuScenes(version=version, dataroot=dataroot, verbose=False)
    if sample_token is None:
        sample_token = pick_sample(nusc, scene_index, sample_index)
    try:
        sample = nusc.get("sample", sample_token)
    except KeyError:
        raise ValueError(f"unknown --sample-token {sample_token!r}") from None
    if camera not in sample["data"]:
        cams = sorted(k for k in sample["data"] if k.startswith("CAM"))
        raise ValueError(f"camera {camera!r} not in sample; available: {', '.join(cams)}")
    rel = nusc.get("sample_data", sample["data"][camera])["filename"]
    path = os.path.join(dataroot, rel)
    if not os.path.isfile(path):
        raise ValueError(f"camera image missing: {path}")
    image = np.asarray(Image.open(path).convert("RGB"))
    fg = load_fg_mask(dataroot, rel)
    if fg is not None and fg.shape != image.shape[:2]:
        fg = None
    return image, fg, path


def model_inputs(image: np.ndarray, config, token_px: int, prompt: Sequence[int] = (1, 2, 3, 4)):
    """Processor-free Qwen2.5-VL inputs for one image, and the merged token grid ``(h, w)``.

    The image is resized to ``(h * u, w * u)`` with ``u = patch * merge``
    pixels per merged token and ``h = round(H / token_px)`` (at least 1),
    then patchified and normalised by :class:`transformers.Qwen2VLImageProcessor`
    (no resize there). ``input_ids`` are ``prompt + [vision_start] + pad * h*w
    + [vision_end] + prompt``.
    """
    import torch
    from PIL import Image
    from transformers import Qwen2VLImageProcessor

    v = config.vision_config
    unit = v.patch_size * v.spatial_merge_size
    h = max(1, int(round(image.shape[0] / token_px)))
    w = max(1, int(round(image.shape[1] / token_px)))
    resized = np.array(Image.fromarray(image).resize((w * unit, h * unit), Image.BICUBIC))
    proc = Qwen2VLImageProcessor(patch_size=v.patch_size, merge_size=v.spatial_merge_size,
                                 temporal_patch_size=v.temporal_patch_size)
    px = proc(images=[resized], return_tensors="pt", do_resize=False)
    grid_thw = px["image_grid_thw"].long()
    ids = list(prompt) + [config.vision_start_token_id] + [config.image_token_id] * (h * w) \
        + [config.vision_end_token_id] + list(prompt)
    types = [0] * (len(prompt) + 1) + [1] * (h * w) + [0] * (len(prompt) + 1)
    inputs = dict(
        input_ids=torch.tensor([ids], dtype=torch.long),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        mm_token_type_ids=torch.tensor([types], dtype=torch.int32),
        pixel_values=px["pixel_values"].float(),
        image_grid_thw=grid_thw,
    )
    return inputs, (h, w)


def _title(method: str, ratio: float, kept: int, total: int, recall: float) -> str:
    rec = "n/a" if math.isnan(recall) else f"{100 * recall:.0f}%"
    return f"{method}  prune {100 * ratio:.0f}%  kept {kept}/{total}  fg-recall {rec}"


def render_grid(tiles: List[List[np.ndarray]], titles: List[List[str]], tile_width: int,
                header: str = "") -> np.ndarray:
    """Stack ``rows x cols`` titled tiles into one ``(H, W, 3)`` uint8 image (optional header line)."""
    from PIL import Image, ImageDraw, ImageFont

    th, tw = tiles[0][0].shape[:2]
    scale = tile_width / tw
    tile_h = int(round(th * scale))
    font = ImageFont.load_default(size=max(11, tile_width // 30))
    bar = int(font.size * 1.6)
    pad = 6
    rows, cols = len(tiles), len(tiles[0])
    top = bar if header else 0
    sheet = Image.new("RGB", (cols * (tile_width + pad) + pad, top + rows * (tile_h + bar + pad) + pad),
                      (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    if header:
        while len(header) > 4 and draw.textlength(header, font=font) > sheet.width - 2 * pad:
            header = header[:-4] + "..."
        draw.text((pad + 2, pad + (bar - font.size) // 2), header, fill=(90, 90, 90), font=font)
    for r in range(rows):
        for c in range(cols):
            x = pad + c * (tile_width + pad)
            y = top + pad + r * (tile_h + bar + pad)
            draw.text((x + 2, y + (bar - font.size) // 2), titles[r][c], fill=(0, 0, 0), font=font)
            tile = Image.fromarray(tiles[r][c]).resize((tile_width, tile_h), Image.NEAREST)
            sheet.paste(tile, (x, y + bar))
    return np.asarray(sheet)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input)."""
    args = build_parser().parse_args(argv)
    try:
        from fastdrive.evaluation.token_overlay import foreground_recall, overlay_kept_tokens
        from fastdrive.pruning import build_pruner, keep_from_ratio, list_pruners

        unknown = [m for m in args.methods if m not in list_pruners()]
        if unknown:
            raise ValueError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(list_pruners())}")
        keeps = [keep_from_ratio(r) for r in args.ratios]
        if args.token_px < 1 or args.tile_width < 16 or not 0.0 <= args.alpha <= 1.0:
            raise ValueError("--token-px must be >= 1, --tile-width >= 16 and --alpha in [0, 1]")
        if not args.out.lower().endswith(".png"):
            raise ValueError(f"--out must be a .png path, got {args.out!r}")
        image, fg, path = load_camera(args.dataroot, args.version, args.sample_token, args.scene_index,
                                      args.sample_index, args.camera)
        if args.planner:
            return _main_planner(args, image, fg, path)
        import torch
        from fastdrive.vla import attach_pruner, build_tiny_qwen25vl, load_qwen25vl
        from fastdrive.vla.pruner_sizing import host_pruner_kwargs

        model = load_qwen25vl(args.checkpoint) if args.checkpoint else build_tiny_qwen25vl()
        inputs, grid = model_inputs(image, model.config, args.token_px)
        inputs = {k: v.to(model.device) for k, v in inputs.items()}
        total = grid[0] * grid[1]
        tiles, titles = [], []
        for method in args.methods:
            row, row_titles = [], []
            for ratio, keep in zip(args.ratios, keeps):
                try:
                    pruner = build_pruner(method, **host_pruner_kwargs(method, model.config))
                except (TypeError, ValueError) as err:
                    raise ValueError(f"cannot build pruner {method!r} with defaults: {err}") from None
                with attach_pruner(model, pruner, keep) as handle, torch.no_grad():
                    model(**inputs)
                    if handle.last is None:
                        raise ValueError(f"{method!r} at ratio {ratio} did not prune (no record)")
                    kept = handle.last.kept_mask(0, 0).numpy()
                recall = foreground_recall(kept, fg) if fg is not None else float("nan")
                row.append(overlay_kept_tokens(image, kept, fg, alpha=args.alpha))
                row_titles.append(_title(method, ratio, int(kept.sum()), total, recall))
            tiles.append(row)
            titles.append(row_titles)
        model_name = os.path.basename(os.path.normpath(args.checkpoint)) if args.checkpoint \
            else "tiny random Qwen2.5-VL"
        header = (f"{args.camera}  model: {model_name}  {grid[0]}x{grid[1]} tokens  "
                  f"dimmed = pruned, red = foreground outline")
        sheet = render_grid(tiles, titles, args.tile_width, header)
        from PIL import Image

        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        Image.fromarray(sheet).save(args.out)
    except (ValueError, KeyError, FileNotFoundError, OSError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        sys.stderr.write(f"show_kept_tokens: error: {msg}\n")
        return EXIT_BAD_INPUT
    print(f"wrote {args.out} ({len(args.methods)} methods x {len(args.ratios)} ratios, "
          f"{grid[0]}x{grid[1]} tokens, image {path})")
    return 0


def _main_planner(args: argparse.Namespace, image: np.ndarray, fg: Optional[np.ndarray], path: str) -> int:
    """``--planner``: kept tokens of the embedded driving VLA, one tile per method x ratio."""
    from fastdrive.evaluation.token_overlay import foreground_recall, overlay_kept_tokens
    from fastdrive.models.driving_vla_io import PlannerCheckpointError
    from fastdrive.planner import EgoState, EmbeddedPlanner, PlanningInputError, PruningSpec

    try:
        planner = EmbeddedPlanner.from_checkpoint(None if args.planner == "default" else args.planner)
        tiles, titles = [], []
        grid = tuple(planner.model.grid_hw)
        for method in args.methods:
            row, row_titles = [], []
            for ratio in args.ratios:
                traj = planner.plan(image, EgoState(speed=5.0), "straight", PruningSpec(method, ratio))
                kept = traj.kept_mask(0)
                recall = foreground_recall(kept, fg) if fg is not None else float("nan")
                row.append(overlay_kept_tokens(image, kept, fg, alpha=args.alpha))
                row_titles.append(_title(method, ratio, int(kept.sum()), kept.size, recall))
            tiles.append(row)
            titles.append(row_titles)
    except (PlannerCheckpointError, PlanningInputError) as err:
        sys.stderr.write(f"show_kept_tokens: error: {err}\n")
        return EXIT_BAD_INPUT
    name = "FastDrive driving VLA" if args.planner == "default" else os.path.basename(args.planner)
    header = (f"{args.camera}  model: {name}  {grid[0]}x{grid[1]} tokens  "
              f"dimmed = pruned, red = foreground outline")
    from PIL import Image

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    Image.fromarray(render_grid(tiles, titles, args.tile_width, header)).save(args.out)
    print(f"wrote {args.out} ({len(args.methods)} methods x {len(args.ratios)} ratios, "
          f"{grid[0]}x{grid[1]} tokens, image {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
