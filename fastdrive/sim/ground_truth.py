"""Where a FastDrive world keeps the ground truth of each camera image.

``<dataroot>/fastdrive_gt/<kind>/samples/CAM_X/NAME.png`` for the image
``samples/CAM_X/NAME.jpg``, with ``kind`` one of ``fg`` (255 = foreground),
``semantic`` (class ids) or ``instance`` (annotation ids, optional).
"""

from __future__ import annotations

import os
from typing import Optional, Union

import numpy as np

GT_DIR = "fastdrive_gt"


def gt_mask_path(root: Union[str, os.PathLike], image_rel: str, kind: str = "fg") -> str:
    """Path of the ``kind`` mask of the image at ``image_rel`` (relative to the dataroot)."""
    return os.path.join(os.fspath(root), GT_DIR, kind, os.path.splitext(image_rel)[0] + ".png")


def load_fg_mask(root: Union[str, os.PathLike], image_rel: str) -> Optional[np.ndarray]:
    """``(H, W)`` bool ground-truth foreground of an image, or None where the world has none."""
    from PIL import Image

    path = gt_mask_path(root, image_rel, "fg")
    if not os.path.isfile(path):
        return None
    with Image.open(path) as im:
        return np.asarray(im.convert("L")) > 0


def load_semantic_mask(root: Union[str, os.PathLike], image_rel: str) -> Optional[np.ndarray]:
    """``(H, W)`` uint8 semantic class ids of an image (``semantic_classes.json``), or None where the world has none."""
    from PIL import Image

    path = gt_mask_path(root, image_rel, "semantic")
    if not os.path.isfile(path):
        return None
    with Image.open(path) as im:
        return np.asarray(im, dtype=np.uint8)
