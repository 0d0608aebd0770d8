"""``python -m data_tools.plan_preview`` end to end on the tiny planning world."""

from __future__ import annotations

import math
import os
import sys
from typing import Dict, List

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "evaluation"))
from tiny_planner import NUM_VISUAL, export_tiny_planner  # noqa: E402

from data_tools import make_world  # noqa: E402
from data_tools.plan_preview import DPI, ROW_INCHES, TABLE_HEADER, choose, main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
SCORED_VAL = 10  # the tiny world's val scene: 16 keyframes, the last 6 without a full future


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> str:
    return str(export_tiny_planner(tmp_path_factory.mktemp("plan_preview") / "tiny.pth"))


def parse_table(out: str) -> List[Dict[str, str]]:
    """Rows of the printed table, keyed by :data:`TABLE_HEADER`."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == list(TABLE_HEADER[:2]))
    rows = []
    for line in lines[start + 1:]:
        cells = line.split()
        if len(cells) != len(TABLE_HEADER) or not cells[0].replace(".", "", 1).isdigit():
            break
        rows.append(dict(zip(TABLE_HEADER, cells)))
    return rows


def test_tiny_planner_rows_table_and_metrics(planning_world_root, tiny_ckpt, tmp_path, capsys):
    out = tmp_path / "sub" / "preview.png"
    ratios = [0.0, 0.5, 0.75]
    rc = main(["--dataroot", planning_world_root, "--checkpoint", tiny_ckpt, "--ratios", *map(str, ratios),
               "--num", "3", "--out", str(out), "--quiet", "--method", "fastv"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.err == ""  # --quiet: no progress bar
    img = np.asarray(Image.open(out))
    assert img.shape[0] == round(3 * ROW_INCHES * DPI)  # one row per drawn sample
    assert img.shape[1] > img.shape[0] / 3  # camera + bird's-eye side by side
    assert [p.name for p in out.parent.iterdir()] == ["preview.png"]  # no temporary file left
    # the logged trajectory's green is drawn (camera and bird's-eye panels)
    assert np.all(np.abs(img[..., :3].astype(int) - (40, 200, 70)) < 12, axis=-1).sum() > 50

    rows = parse_table(captured.out)
    assert [float(r["ratio"]) for r in rows] == ratios
    assert [r["method"] for r in rows] == ["-", "fastv", "fastv"]
    for row, ratio in zip(rows, ratios):
        kept, total = row["tokens_kept"].split("/")
        assert int(total) == NUM_VISUAL
        assert float(kept) == math.floor(NUM_VISUAL * (1.0 - ratio))
        for key in ("L2_1s", "L2_2s", "L2_3s", "L2_avg", "model_ms"):
            assert math.isfinite(float(row[key])) and float(row[key]) >= 0
    assert f"{SCORED_VAL} scored samples" in captured.out
    # the val split holds one scene: the swap frames come from the train split's scene
    swap_line = next(line for line in captured.out.splitlines() if line.startswith("camera swap:"))
    own, swapped = float(rows[0]["L2_avg"]), float(swap_line.split("L2 avg ")[1].split(" m")[0])
    assert swapped != pytest.approx(own, abs=1e-4)  # a random planner's plan changes with the image

    # the unpruned row equals evaluate_open_loop of the same planner over the whole split
    from fastdrive.datasets.planning import PlanningDataset
    from fastdrive.evaluation.open_loop import evaluate_open_loop
    from fastdrive.evaluation.pruning_sweep import plan_item
    from fastdrive.planner import EmbeddedPlanner

    planner = EmbeddedPlanner.from_checkpoint(tiny_ckpt)
    ds = PlanningDataset(planning_world_root, "v1.0-fastdrive", "val", image_size=planner.model.image_size)
    ref = evaluate_open_loop(lambda item: plan_item(planner, item, ds.cameras).waypoints, ds)
    assert ref["num_samples"] == SCORED_VAL
    for key in ("L2_1s", "L2_2s", "L2_3s", "L2_avg"):
        assert float(rows[0][key]) == pytest.approx(ref[key], abs=1.5e-3)
    assert float(rows[0]["collision%"]) == pytest.approx(ref.get("collision_avg", float("nan")), abs=6e-3,
                                                          nan_ok=True)


def test_shipped_checkpoint_is_the_default(planning_world_root, tmp_path, capsys):
    out = tmp_path / "shipped.png"
    rc = main(["--dataroot", planning_world_root, "--ratios", "0", "0.75", "--num", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    rows = parse_table(captured.out)
    assert len(rows) == 2
    total = int(rows[0]["tokens_kept"].split("/")[1])
    assert total >= 144  # the shipped model: at least 144 visual tokens per frame
    assert [float(r["tokens_kept"].split("/")[0]) for r in rows] == [total, math.floor(total * 0.25)]
    assert [r["method"] for r in rows] == ["-", "recon"]  # the trained ReconPruner by default
    assert np.asarray(Image.open(out)).shape[0] == round(ROW_INCHES * DPI)


def test_default_recon_on_a_planner_of_another_width_is_a_clear_error(planning_world_root, tiny_ckpt, tmp_path,
                                                                     capsys):
    rc = main(["--dataroot", planning_world_root, "--checkpoint", tiny_ckpt, "--ratios", "0", "0.5", "--num", "1",
               "--out", str(tmp_path / "x.png"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "trained for another host" in err and "recon_untrained" in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_choose_spreads_evenly():
    assert choose(10, 3) == [0, 4, 9] or choose(10, 3) == [0, 5, 9]
    assert choose(10, 1) == [0]
    assert choose(4, 6) == [0, 1, 2, 3]


@pytest.fixture(scope="module")
def short_world(tmp_path_factory) -> str:
    """2 scenes of 4 keyframes: no sample has all 6 future poses."""
    root = tmp_path_factory.mktemp("short_world") / "world"
    assert make_world.main(["--out", str(root), "--scenes", "2", "--samples-per-scene", "4", "--image-size",
                            "224x126", "--val-fraction", "0.5", "--workers", "1", "--quiet"]) == 0
    return str(root)


@pytest.mark.parametrize("args, needle", [
    (["--method", "no_such_method"], "unknown --method"),
    (["--ratios", "0", "1.0"], "ratio"),
    (["--ratios", "-0.1"], "ratio"),
    (["--ratios", "half"], "invalid float"),
    (["--num", "0"], "--num"),
    (["--threads", "-1"], "--threads"),
    (["--checkpoint", "/no/such/planner.pth"], "checkpoint not found"),
    (["--version", "v9.9-none"], "version folder not found"),
    (["--split", "test"], "invalid choice"),
])
def test_bad_input_is_one_line_and_no_png(planning_world_root, tmp_path, capsys, args, needle):
    out = tmp_path / "x.png"
    try:
        rc = main(["--dataroot", planning_world_root, "--out", str(out), "--quiet"] + args)
    except SystemExit as exc:  # argparse errors exit from the parser
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_missing_dataroot_and_no_full_future(short_world, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["--dataroot", str(tmp_path / "none"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "dataroot not found" in err and err.count("\n") == 1
    assert main(["--dataroot", short_world, "--out", str(tmp_path / "x.jpg")]) == 2
    assert "--out must be a .png" in capsys.readouterr().err
    assert main(["--dataroot", short_world, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no sample" in err and "6 future poses" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
