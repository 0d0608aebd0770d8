"""The planner config trains, resumes and evaluates through mim on a tiny generated world.

The shipped config is used as is (model, optimiser, schedule); the dataroot
(``--data-root``), batch size, epoch count, a fixed 8-sample subset and a
higher learning rate (the short run is still in the config's warm-up) are
overridden so the run takes seconds and its losses are comparable.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from mim_testing import installed_with, mim_executable

CONFIG = "driving_vla_qwen25vl-small-throttle-x2_1xb16-8e_fastdrive-world.py"  # shipped (2 worlds)


_mim = mim_executable
pytestmark = pytest.mark.skipif(not installed_with(f".mim/configs/planner/{CONFIG}"),
                                reason="fastdrive with the planner config is not pip-installed")


def _run(verb: str, args, cwd: Path, root: str, options=()) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    # two fixed batches of 4 (8 samples, no shuffling): the losses of a short run are comparable
    opts = ["--cfg-options", "train_dataloader.batch_size=4", "train_dataloader.dataset.indices=8",
            "train_dataloader.sampler.shuffle=False", "optim_wrapper.optimizer.lr=0.003",
            "val_dataloader.batch_size=8", "test_dataloader.batch_size=8", "default_hooks.logger.interval=1",
            *options]
    return subprocess.run([_mim(), verb, "fastdrive", CONFIG, "--gpus", "0", "--data-root", root, *args, *opts],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _losses(work_dir: Path) -> list:
    out = []
    for f in sorted(glob.glob(str(work_dir / "*" / "vis_data" / "scalars.json"))):
        out += [json.loads(line)["loss"] for line in open(f) if '"loss"' in line]
    return out


def test_train_resume_then_test(tmp_path: Path, planning_world_root: str) -> None:
    work = tmp_path / "wd"
    # 8 train samples / batch 4 = 2 iterations per epoch
    first = _run("train", ["--work-dir", str(work)], tmp_path, planning_world_root,
                 ["train_cfg.max_epochs=2", "train_cfg.val_interval=2"])
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-3000:]
    assert (work / "epoch_2.pth").exists() and "plan/L2_avg" in out

    second = _run("train", ["--work-dir", str(work), "--resume"], tmp_path, planning_world_root,
                  ["train_cfg.max_epochs=5", "train_cfg.val_interval=5"])
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-3000:]
    assert "resumed epoch: 2" in out
    from fastdrive.engine import register_checkpoint_safe_globals

    register_checkpoint_safe_globals()
    final = torch.load(work / "epoch_5.pth", weights_only=True)
    assert final["meta"]["iter"] == 5 * 2  # continued, not restarted
    losses = _losses(work)
    assert len(losses) == 10, losses
    assert sum(losses[-2:]) < 0.95 * sum(losses[:2]), losses  # the same batches, later: the config learns

    test = _run("test", ["--checkpoint", str(work / "epoch_5.pth"), "--work-dir", str(tmp_path / "test")],
                tmp_path, planning_world_root)
    out = test.stdout + test.stderr
    assert test.returncode == 0, out[-3000:]
    assert "plan/L2_avg" in out and "plan/collision_avg" in out
