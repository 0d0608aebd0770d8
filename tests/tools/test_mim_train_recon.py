"""The tiny ReconPruner config trains, resumes, loads weights, evaluates and exports through mim.

The shipped config is used as is (host, model, optimiser, hooks); the data
paths point at a tiny generated world's box-mask nuScenes-FG, and the batch
size, epoch count and an 8-image subset are overridden so the run takes
seconds.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mim_testing import installed_with, mim_executable

CONFIG = "recon_pruner_tiny_1xb16-4e_fastdrive-world-fg.py"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not installed_with(f".mim/configs/recon_pruner/{CONFIG}"),
                                reason="fastdrive with the recon_pruner config is not pip-installed")


@pytest.fixture(scope="module")
def fg_index(tmp_path_factory, planning_world_root) -> tuple:
    out = tmp_path_factory.mktemp("recon_fg") / "fg"
    cmd = [sys.executable, "-m", "data_tools.build_fg", "--dataroot", planning_world_root, "--version",
           "v1.0-fastdrive", "--out", str(out), "--segmenter", "box", "--cameras", "CAM_FRONT", "--workers", "1",
           "--no-progress"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return planning_world_root, str(out)


def _data_opts(root: str, fg: str, cache: str) -> list:
    opts = []
    for loader, split in (("train_dataloader", "train"), ("val_dataloader", "val"), ("test_dataloader", "val")):
        d = f"{loader}.dataset"
        opts += [f"{d}.ann_file={fg}/nuscenes_fg_infos_{split}.json", f"{d}.data_prefix.img_path={root}",
                 f"{d}.data_prefix.mask_path={fg}", f"{d}.cache_dir={cache}", f"{d}.progress=False",
                 f"{loader}.batch_size=4"]
    return opts + ["train_dataloader.dataset.indices=8", "train_dataloader.sampler.shuffle=False",
                   "default_hooks.logger.interval=1", "custom_hooks.1.interval=2"]


def _run(verb: str, args, cwd: Path, data, options=()) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    opts = ["--cfg-options", *_data_opts(*data, str(cwd / "cache")), *options]
    return subprocess.run([mim_executable(), verb, "fastdrive", CONFIG, "--gpus", "0", *args, *opts],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_train_resume_load_from_test_and_export(tmp_path: Path, fg_index) -> None:
    work = tmp_path / "wd"
    first = _run("train", ["--work-dir", str(work)], tmp_path, fg_index,
                 ["train_cfg.max_epochs=2", "train_cfg.val_interval=2"])
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-3000:]
    assert (work / "epoch_2.pth").exists() and "recon/precision@0.5" in out and "pos_share" in out
    assert len(list((tmp_path / "cache").glob("recon-tokens-*.pt"))) == 2  # train + val, cached once
    assert glob.glob(str(work / "*" / "vis_data" / "vis_image" / "recon_pruner_*.png"))  # the picture hook

    second = _run("train", ["--work-dir", str(work), "--resume"], tmp_path, fg_index,
                  ["train_cfg.max_epochs=3", "train_cfg.val_interval=3"])
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-3000:]
    assert "resumed epoch: 2" in out
    from fastdrive.engine import register_checkpoint_safe_globals

    register_checkpoint_safe_globals()
    final = torch.load(work / "epoch_3.pth", weights_only=True)
    assert final["meta"]["iter"] == 3 * 2  # continued, not restarted

    other = tmp_path / "wd2"
    loaded = _run("train", ["--work-dir", str(other)], tmp_path, fg_index,
                  ["train_cfg.max_epochs=1", "train_cfg.val_interval=1", f"load_from={work / 'epoch_3.pth'}"])
    out = loaded.stdout + loaded.stderr
    assert loaded.returncode == 0, out[-3000:]
    assert "Load checkpoint from" in out

    test = _run("test", ["--checkpoint", str(work / "epoch_3.pth"), "--work-dir", str(tmp_path / "test")],
                tmp_path, fg_index)
    out = test.stdout + test.stderr
    assert test.returncode == 0, out[-3000:]
    metrics = [json.loads(line) for f in glob.glob(str(tmp_path / "test" / "*" / "*.json"))
               for line in open(f) if "recon/precision@0.5" in line]
    assert metrics and 0.0 <= metrics[-1]["recon/precision@0.5"] <= 1.0

    exported = tmp_path / "recon.pth"
    proc = subprocess.run([sys.executable, "-m", "fastdrive.tools.export_recon",
                           str(ROOT / "configs" / "recon_pruner" / CONFIG), str(work / "epoch_3.pth"),
                           "--out", str(exported), "--selection", "diverse_fill=0.25"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from fastdrive.planner import EmbeddedPlanner
    from fastdrive.pruning import build_pruner

    planner = EmbeddedPlanner.from_checkpoint()
    pruner = build_pruner("recon", **planner.pool.model_defaults("recon"), weights=str(exported))
    assert pruner.diverse_fill == 0.25  # the selection recommended at export
    state = {k[len("pruner."):]: v for k, v in final["state_dict"].items() if k.startswith("pruner.")}
    assert all(torch.equal(pruner.state_dict()[k], v) for k, v in state.items())
    assert not any(k.startswith("host.") for k in final["state_dict"])  # the frozen host is not stored
    # an mmengine checkpoint (message hub and all) is a valid weights file too
    direct = build_pruner("recon", **planner.pool.model_defaults("recon"), weights=str(work / "epoch_3.pth"))
    assert all(torch.equal(direct.state_dict()[k], v) for k, v in state.items())
    bad = subprocess.run([sys.executable, "-m", "fastdrive.tools.export_recon", "nope.py", "x.pth", "--out", "y"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "config not found" in bad.stderr
