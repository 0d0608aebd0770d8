"""One small exported world per test session, shared by the export/geometry tests.

Not a conftest: test files call :func:`small_world` from a session fixture;
the module-level cache makes every caller in the session get the same world.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np

VERSION = "v1.0-fastdrive"
SEED = 11
NUM_SCENES = 2
SAMPLES_PER_SCENE = 4
IMAGE_SIZE = (640, 360)

_CACHE: Dict[str, Path] = {}


def small_world(tmp_path_factory) -> Path:
    """Generate (once per session) 2 scenes x 4 keyframes at 640x360, with instance masks."""
    if "root" not in _CACHE:
        from fastdrive.sim.rig import nuscenes_rig
        from fastdrive.sim.scenario import generate_world
        from fastdrive.sim.writer import write_world

        root = tmp_path_factory.mktemp("exported_world") / "world"
        scenes = generate_world(NUM_SCENES, SEED, samples_per_scene=SAMPLES_PER_SCENE, val_fraction=0.5)
        write_world(
            scenes,
            root,
            nuscenes_rig(IMAGE_SIZE),
            SEED,
            version=VERSION,
            workers=2,
            progress=False,
            instance_masks=True,
        )
        _CACHE["root"] = root
    return _CACHE["root"]


def load_png(path: Path) -> np.ndarray:
    """A PNG as a numpy array (uint8 or uint16)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.array(im)


def gt_path(root: Path, kind: str, image_filename: str) -> Path:
    """``fastdrive_gt/<kind>/samples/CAM_X/NAME.png`` for ``samples/CAM_X/NAME.jpg``."""
    return root / "fastdrive_gt" / kind / (image_filename[: -len(".jpg")] + ".png")
