"""Quality-assurance pictures: mask colours and prompts over the camera image, contact sheets.

Pure array functions (no file I/O): images are ``(H, W, 3)`` uint8 RGB.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .prompts import ImagePrompts


def colorize(mask: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """``(H, W)`` class ids -> ``(H, W, 3)`` uint8 RGB palette colours (ids beyond the palette: white)."""
    pal = np.full((256, 3), 255, dtype=np.uint8)
    pal[: len(palette)] = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    return pal[mask]


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    palette: Sequence[Sequence[int]],
    prompts: Optional[ImagePrompts] = None,
    alpha: float = 0.5,
) -> np.ndarray:
    """The image with mask colours blended over foreground pixels and prompts drawn on top.

    Prompts: each object's projected hull (class colour, 1 px) and its 2D
    box prompt (white, 1 px); the road polygons' outlines (road colour).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        mask: ``(H, W)`` class ids.
        palette: RGB per class id.
        prompts: the image's prompts, or None to draw only the mask.
        alpha: opacity of the mask colours.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    out = image.astype(np.float32)
    colours = colorize(mask, palette).astype(np.float32)
    fg = mask > 0
    out[fg] = (1 - alpha) * out[fg] + alpha * colours[fg]
    out = out.clip(0, 255).astype(np.uint8)
    if prompts is None:
        return out
    out = np.ascontiguousarray(out)
    pal = [tuple(int(c) for c in p) for p in palette]
    for rings in prompts.road:
        for ring in rings:
            cv2.polylines(
                out, [np.round(ring).astype(np.int32)], True, pal[prompts.road_class_id], 1, cv2.LINE_AA
            )
    for p in prompts.objects:
        colour = pal[p.class_id] if p.class_id < len(pal) else (255, 255, 255)
        cv2.polylines(out, [np.round(p.polygon).astype(np.int32)], True, colour, 1, cv2.LINE_AA)
        x0, y0, x1, y1 = (int(round(v)) for v in p.box)
        cv2.rectangle(out, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), (255, 255, 255), 1)
    return out


def contact_sheet(
    tiles: Sequence[np.ndarray], labels: Sequence[str], columns: int = 4, tile_width: int = 400
) -> np.ndarray:
    """Tile images into one sheet with a caption under each.

    Args:
        tiles: ``(H, W, 3)`` uint8 RGB images (resized to ``tile_width`` wide).
        labels: one caption per tile.
        columns: tiles per row.

    Returns:
        ``(rows * (h + 18), columns * tile_width, 3)`` uint8 RGB.
    """
    if not tiles:
        return np.zeros((18, tile_width, 3), dtype=np.uint8)
    h = max(int(round(t.shape[0] * tile_width / t.shape[1])) for t in tiles)
    cap = 18
    rows = (len(tiles) + columns - 1) // columns
    sheet = np.zeros((rows * (h + cap), columns * tile_width, 3), dtype=np.uint8)
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        r, c = divmod(i, columns)
        th = int(round(tile.shape[0] * tile_width / tile.shape[1]))
        small = cv2.resize(tile, (tile_width, th), interpolation=cv2.INTER_AREA)
        y, x = r * (h + cap), c * tile_width
        sheet[y : y + th, x : x + tile_width] = small
        cv2.putText(
            sheet,
            label[:60],
            (x + 3, y + h + 13),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.38,
            (230, 230, 230),
            1,
            cv2.LINE_AA,
        )
    return sheet


def legend(names: Sequence[str], palette: Sequence[Sequence[int]], width: int = 400) -> np.ndarray:
    """A one-row-per-class colour legend, ``(18 * C, width, 3)`` uint8 RGB."""
    out = np.zeros((18 * len(names), width, 3), dtype=np.uint8)
    for i, (name, colour) in enumerate(zip(names, palette)):
        cv2.rectangle(out, (4, 18 * i + 3), (30, 18 * i + 15), tuple(int(c) for c in colour), -1)
        cv2.putText(
            out,
            f"{i} {name}",
            (38, 18 * i + 14),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (230, 230, 230),
            1,
            cv2.LINE_AA,
        )
    return out


def stack_rows(parts: Sequence[np.ndarray]) -> Tuple[int, np.ndarray]:
    """Stack RGB images vertically, padding to the widest; returns ``(width, image)``."""
    w = max(p.shape[1] for p in parts)
    padded = [np.pad(p, ((0, 0), (0, w - p.shape[1]), (0, 0))) for p in parts]
    return w, np.concatenate(padded, axis=0)
