"""``python -m data_tools.inspect_fg``: overlays, contact sheet and per-class statistics."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "datasets"))
from nuscenes_fg_world import ROOT, VERSION, fg_world  # noqa: E402

from data_tools.inspect_fg import main  # noqa: E402
from fastdrive.datasets.nuscenes_fg import BoxSegmenter, BuildOptions, FGClasses, run_build  # noqa: E402
from fastdrive.datasets.nuscenes_fg.prompts import ImagePrompts, ObjectPrompt  # noqa: E402
from fastdrive.datasets.nuscenes_fg.visualize import colorize, contact_sheet, overlay  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from mmengine.config import Config

    classes = FGClasses.from_config(
        Config.fromfile(str(ROOT / "configs/nuscenes_fg/fg_classes.py")).to_dict()
    )
    world = fg_world(tmp_path_factory)
    out = tmp_path_factory.mktemp("fg_inspect") / "fg"
    run_build(
        BuildOptions(str(world), VERSION, str(out), cameras=["CAM_FRONT", "CAM_BACK"]), classes, BoxSegmenter
    )
    return world, out, classes


def test_overlays_contact_sheet_and_statistics(built, tmp_path, capsys):
    world, out, classes = built
    dest = tmp_path / "inspect"
    assert main(["--fg", str(out), "--num", "5", "--out", str(dest), "--columns", "2"]) == 0
    printed = capsys.readouterr().out
    overlays = sorted(p for p in dest.glob("*.png") if p.name != "contact_sheet.png")
    assert len(overlays) == 5
    sheet = np.array(Image.open(dest / "contact_sheet.png"))
    assert sheet.shape[1] == 2 * 400 and sheet.shape[0] > 3 * 225
    for name in classes.names:
        assert name in printed
    assert "12 images" in printed  # 2 scenes x 3 samples x 2 cameras
    # an overlay is the camera image where the mask is background, except where prompts are drawn
    ov = np.array(Image.open(overlays[0]))
    stem = overlays[0].stem
    cam = stem.split("__")[1]
    img = np.array(Image.open(world / "samples" / cam / f"{stem}.jpg").convert("RGB"))
    mask = np.array(Image.open(out / "samples" / cam / f"{stem}.png"))
    assert ov.shape == img.shape
    changed = np.any(ov != img, axis=-1)
    assert changed[mask > 0].mean() > 0.9
    assert changed[mask == 0].mean() < 0.1


def test_masks_only_and_bad_input(built, tmp_path, capsys):
    _, out, _ = built
    assert main(["--fg", str(out), "--num", "2", "--out", str(tmp_path / "a"), "--no-prompts"]) == 0
    assert (tmp_path / "a" / "contact_sheet.png").exists()
    assert main(["--fg", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["--fg", str(out), "--split", "test"]) == 2


def test_overlay_draws_mask_colours_and_prompts():
    image = np.full((20, 30, 3), 100, np.uint8)
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 5:10] = 2
    palette = [(0, 0, 0), (255, 0, 0), (0, 0, 255)]
    assert colorize(mask, palette)[7, 7].tolist() == [0, 0, 255]
    ov = overlay(image, mask, palette, alpha=0.5)
    assert ov[7, 7].tolist() == [50, 50, 177] and ov[0, 0].tolist() == [100, 100, 100]
    poly = np.array([[15.0, 2], [25, 2], [25, 12], [15, 12]])
    prompts = ImagePrompts(
        "sd",
        "s",
        "CAM_FRONT",
        "x.jpg",
        30,
        20,
        None,
        [ObjectPrompt(1, poly, np.array([15.0, 2, 25, 12]), 5.0, "annotation", "t", "vehicle")],
    )
    drawn = overlay(image, mask, palette, prompts)
    assert drawn[2, 20].tolist() != [100, 100, 100]  # box prompt edge
    assert drawn[7, 20].tolist() == [100, 100, 100]  # inside the prompt, background
    sheet = contact_sheet([image, image, image], ["a", "b", "c"], columns=2, tile_width=60)
    assert sheet.shape == (2 * (40 + 18), 120, 3)
