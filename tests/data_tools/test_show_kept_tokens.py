"""``python -m data_tools.show_kept_tokens`` end to end on a tiny generated world."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from data_tools import make_world
from data_tools.show_kept_tokens import main, model_inputs


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    assert make_world.main(["--out", str(root), "--scenes", "1", "--samples-per-scene", "2",
                            "--image-size", "224x126"]) == 0
    return str(root)


def test_writes_method_by_ratio_grid(world, tmp_path, capsys):
    out = tmp_path / "kept.png"
    rc = main(["--dataroot", world, "--methods", "fastv", "divprune", "--ratios", "0.25", "0.75",
               "--sample-index", "1", "--tile-width", "200", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    img = np.asarray(Image.open(out))
    tile_h = round(126 * 200 / 224)
    # 2 columns of 200 px tiles, 2 rows of title bar + tile, 6 px padding
    assert img.shape[1] == 2 * (200 + 6) + 6
    assert img.shape[0] > 2 * tile_h + 18 and img.shape[0] < 2 * (tile_h + 60) + 18
    assert img.shape[2] == 3
    assert "2 methods x 2 ratios" in capsys.readouterr().out


def test_model_inputs_match_token_grid():
    from fastdrive.vla import build_tiny_qwen25vl

    config = build_tiny_qwen25vl().config
    image = np.zeros((126, 224, 3), dtype=np.uint8)
    inputs, grid = model_inputs(image, config, token_px=28)
    assert grid == (4, 8)
    assert inputs["image_grid_thw"].tolist() == [[1, 8, 16]]  # patch grid = 2x merged grid
    assert int((inputs["input_ids"] == config.image_token_id).sum()) == 32
    assert int(inputs["mm_token_type_ids"].sum()) == 32
    assert inputs["pixel_values"].shape[0] == 8 * 16


@pytest.mark.parametrize("args, needle", [
    (["--methods", "no_such_method"], "unknown method"),
    (["--methods", "fastv", "--ratios", "1.0"], "pruning ratio"),
    (["--methods", "fastv", "--camera", "CAM_NOPE"], "CAM_NOPE"),
    (["--methods", "fastv", "--sample-token", "nope"], "nope"),
    (["--methods", "fastv", "--checkpoint", "/no/such/dir"], "checkpoint"),
])
def test_bad_input_is_one_line_error(world, tmp_path, capsys, args, needle):
    rc = main(["--dataroot", world, "--out", str(tmp_path / "x.png")] + args)
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_missing_dataroot(tmp_path, capsys):
    assert main(["--dataroot", str(tmp_path / "none"), "--methods", "fastv", "--out",
                 str(tmp_path / "x.png")]) == 2
    assert "dataroot not found" in capsys.readouterr().err


def test_planner_mode_uses_the_driving_vla_grid(world, tmp_path, capsys):
    from fastdrive.models import DrivingVLA
    from fastdrive.models.driving_vla_io import export_driving_vla

    from tiny_vla import TINY_VLM

    model = DrivingVLA(vlm=TINY_VLM, image_size=(112, 84))
    ckpt = tmp_path / "planner.pth"
    export_driving_vla(model, ckpt)
    out = tmp_path / "planner.png"
    rc = main(["--dataroot", world, "--methods", "grid", "--ratios", "0", "0.75", "--planner", str(ckpt),
               "--tile-width", "200", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "3x4 tokens" in captured.out and out.exists()
    rc = main(["--dataroot", world, "--methods", "grid", "--planner", str(tmp_path / "none.pth"),
               "--out", str(tmp_path / "x.png")])
    assert rc == 2 and "not found" in capsys.readouterr().err and not (tmp_path / "x.png").exists()
