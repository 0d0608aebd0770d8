"""The six-camera preview (README's main job) on a tiny generated world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_tools import preview


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from data_tools import make_world

    root = tmp_path_factory.mktemp("preview") / "world"
    rc = make_world.main(["--out", str(root), "--scenes", "1", "--samples-per-scene", "3",
                          "--image-size", "320x180", "--seed", "3", "--quiet", "--workers", "1"])
    assert rc in (0, None)
    return root


def test_preview_tiles_six_cameras_with_boxes(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    assert preview.main(["--dataroot", str(world), "--out", str(out), "--tile-width", "320",
                         "--sample-index", "1"]) == 0
    img = np.array(Image.open(out).convert("RGB"))
    assert img.shape == (2 * 180, 3 * 320, 3)

    from nuscenes.nuscenes import NuScenes

    nusc = NuScenes("v1.0-fastdrive", str(world), verbose=False)
    token = nusc.get("sample", nusc.scene[0]["first_sample_token"])["next"]
    colours = {preview._colour(nusc.get("sample_annotation", a)["category_name"])
               for a in nusc.get("sample", token)["anns"]}
    # Every box is drawn in its category colour: at least one such pixel exists.
    drawn = [c for c in colours if (img == np.array(c, dtype=np.uint8)).all(-1).any()]
    assert drawn, f"no box colour of {colours} found in the preview"


def test_preview_bad_input_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert preview.main(["--dataroot", str(tmp_path / "nope"), "--out", str(tmp_path / "x.png")]) == 2
    assert "dataroot not found" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
