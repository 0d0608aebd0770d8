"""``python -m data_tools.build_fg``: bad input, sharding + merge, SAM mode end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "datasets"))
from nuscenes_fg_world import (  # noqa: E402
    NUM_IMAGES,
    ROOT,
    VERSION,
    build_cmd,
    copy_world,
    env,
    fg_world,
    final_hashes,
)

from data_tools.build_fg import main, resolve_shards  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return fg_world(tmp_path_factory)


def args(world, out, *extra):
    """CLI arguments in box mode; later flags in ``extra`` override (argparse keeps the last)."""
    return build_cmd(world, out, *extra)[3:]  # drop "python -m data_tools.build_fg"


@pytest.fixture(scope="module")
def single_run(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "fg"
    assert main(args(world, out)) == 0
    return out


def test_sharded_runs_merge_to_the_single_run(world, single_run, tmp_path, monkeypatch):
    out = tmp_path / "fg"
    assert main(args(world, out, "--num-shards", "3", "--shard-id", "0")) == 0
    assert main(args(world, out, "--num-shards", "3", "--shard-id", "2", "--workers", "2")) == 0
    assert main(["--out", str(out), "--merge"]) == 2  # shard 1 missing -> refused
    assert not (out / "summary.json").exists()
    monkeypatch.setenv("WORLD_SIZE", "3")  # torchrun / slurm style
    monkeypatch.setenv("RANK", "1")
    assert main(args(world, out)) == 0
    assert (out / "summary.shard-0001-of-0003.json").exists()
    assert main(["--out", str(out), "--merge"]) == 0
    reference = final_hashes(single_run)
    assert len([k for k in reference if k.endswith(".png")]) == NUM_IMAGES
    assert final_hashes(out) == reference


def test_limit_makes_a_quick_partial_run(world, tmp_path):
    out = tmp_path / "fg"
    assert main(args(world, out, "--limit", "4", "--cameras", "CAM_FRONT")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == summary["planned_images"] == 4
    assert len(list((out / "samples" / "CAM_FRONT").glob("*.png"))) == 4


def test_shard_resolution_from_environment():
    assert resolve_shards(None, None, {}) == (1, 0)
    assert resolve_shards(None, None, {"WORLD_SIZE": "8", "RANK": "3"}) == (8, 3)
    assert resolve_shards(None, None, {"SLURM_NTASKS": "4", "SLURM_PROCID": "2"}) == (4, 2)
    assert resolve_shards(2, 1, {"WORLD_SIZE": "8", "RANK": "3"}) == (2, 1)
    with pytest.raises(ValueError):
        resolve_shards(2, 2, {})


def test_bad_input_fails_clearly_before_any_work(world, tmp_path, capsys):
    out = tmp_path / "fg"
    assert main(args(tmp_path / "no_such_root", out)) == 2
    assert "dataroot not found" in capsys.readouterr().err
    assert main(args(world, out, "--version", "v9.9-nope")) == 2
    err = capsys.readouterr().err
    assert "version 'v9.9-nope' not found" in err and VERSION in err
    broken = copy_world(world, tmp_path / "no_map")
    for p in (broken / "maps" / "expansion").glob("*.json"):
        p.unlink()
    assert main(args(broken, out)) == 2
    assert "map expansion missing" in capsys.readouterr().err
    assert main(args(world, out, "--cameras", "CAM_SIDEWAYS")) == 2
    assert "unknown camera" in capsys.readouterr().err
    assert not out.exists()
    # the real process: exit code 2, one line, no traceback
    proc = subprocess.run(
        build_cmd(broken, out), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert "map expansion missing" in proc.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory):
    from fastdrive.datasets.nuscenes_fg import build_sam_from_config, tiny_sam_config

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sam") / "tiny_sam.pth"
    torch.save(build_sam_from_config(tiny_sam_config()).state_dict(), path)
    return path


def test_sam_mode_end_to_end_with_a_tiny_checkpoint(world, single_run, tiny_sam, tmp_path):
    out = tmp_path / "fg_sam"
    code = main(
        args(
            world,
            out,
            "--split",
            "val",
            "--cameras",
            "CAM_FRONT,CAM_BACK",
            "--workers",
            "2",
            "--segmenter",
            "sam",
            "--sam-checkpoint",
            str(tiny_sam),
            "--sam-model",
            "auto",
            "--device",
            "cpu",
        )
    )
    assert code == 0
    assert not (out / "nuscenes_fg_infos_train.json").exists()
    index = json.loads((out / "nuscenes_fg_infos_val.json").read_text())
    assert index["metainfo"]["segmenter"] == "sam"
    entries = index["data_list"]
    assert len(entries) == NUM_IMAGES // 2 // 3  # val scene, 2 of 6 cameras
    assert {e["camera"] for e in entries} == {"CAM_FRONT", "CAM_BACK"}
    box_entries = {
        e["img_path"]: e
        for e in json.loads((single_run / "nuscenes_fg_infos_val.json").read_text())["data_list"]
    }
    from PIL import Image

    for e in entries:
        ref = box_entries[e["img_path"]]
        assert e["num_prompts"] == ref["num_prompts"]  # the same prompts went in
        with Image.open(out / e["mask_path"]) as im:
            mask = np.array(im)
        assert mask.shape == (e["height"], e["width"]) == (360, 640)
        assert np.bincount(mask.ravel(), minlength=6).tolist() == e["class_pixels"]
        assert (
            e["class_pixels"][1] == ref["class_pixels"][1] or mask.max() > 1
        )  # road from the map in both modes
    assert sum(e["num_prompts"] for e in entries) > 0


def test_sam_checkpoint_mismatch_is_a_clear_error(world, tiny_sam, tmp_path, capsys):
    out = tmp_path / "fg"
    code = main(
        args(
            world,
            out,
            "--segmenter",
            "sam",
            "--sam-checkpoint",
            str(tiny_sam),
            "--sam-model",
            "vit_b",
            "--device",
            "cpu",
        )
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "does not match --sam-model vit_b" in err and err.count("\n") == 1
    assert main(args(world, out, "--segmenter", "sam")) == 2
    assert "needs --sam-checkpoint" in capsys.readouterr().err
    assert not (out / "samples").exists()
