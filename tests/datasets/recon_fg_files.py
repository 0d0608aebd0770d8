"""Tiny nuScenes-FG files for the ReconPruner tests (images, class-id masks, an index)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image


def recon_fg_world(tmp_path, n: int = 3) -> str:
    """A dataroot with ``n`` 448x224 images, class-id masks (left half: class 2, top-right: class 1) and an index."""
    root, fg = tmp_path / "root", tmp_path / "fg"
    entries = []
    for i in range(n):
        rel = f"samples/CAM_FRONT/img{i}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (fg / rel).parent.mkdir(parents=True, exist_ok=True)
        rgb = np.full((224, 448, 3), 40 * i, dtype=np.uint8)
        Image.fromarray(rgb).save(root / rel, quality=95)
        ids = np.zeros((224, 448), dtype=np.uint8)
        ids[:, :224] = 2
        ids[:112, 224:] = 1
        Image.fromarray(ids).save(fg / rel.replace(".jpg", ".png"))
        entries.append({"idx": i, "img_path": rel, "mask_path": rel.replace(".jpg", ".png"),
                        "sample_data_token": f"sd{i}"})
    ann = fg / "nuscenes_fg_infos_train.json"
    ann.write_text(json.dumps({"metainfo": {"dataset": "nuscenes-fg", "nuscenes_dataroot": str(root)},
                               "data_list": entries}))
    return str(ann)
