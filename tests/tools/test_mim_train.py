"""`mim train fastdrive <config>` really trains, saves and resumes.

These tests launch mim as a subprocess from an empty directory, so they
prove that the *installed* package ships its configs and tools in
``fastdrive/.mim`` (setup.py) and that resume works under torch's
``weights_only=True`` default (fastdrive.engine.checkpoint).
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

CONFIG_NAME = "toy_regressor_1xb16-4e_synthetic.py"


_mim = mim_executable


pytestmark = pytest.mark.skipif(not installed_with(), reason="fastdrive is not pip-installed")


def _run(args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([_mim(), "train", "fastdrive", CONFIG_NAME, "--gpus", "0", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _losses(work_dir: Path) -> list:
    files = sorted(glob.glob(str(work_dir / "*" / "vis_data" / "scalars.json")))
    assert files, "mmengine wrote no scalars.json"
    losses = []
    for f in files:
        for line in open(f):
            rec = json.loads(line)
            if "loss" in rec:
                losses.append(rec["loss"])
    return losses


def test_mim_train_finds_packaged_config_and_learns(tmp_path: Path) -> None:
    work = tmp_path / "wd"
    proc = _run(["--work-dir", str(work)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (work / "epoch_4.pth").exists()
    losses = _losses(work)
    assert len(losses) >= 4
    assert losses[-1] < 0.5 * losses[0], losses


def test_resume_continues_under_weights_only(tmp_path: Path) -> None:
    work = tmp_path / "wd"
    first = _run(["--work-dir", str(work), "--cfg-options", "train_cfg.max_epochs=2"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (work / "epoch_2.pth").exists() and not (work / "epoch_3.pth").exists()

    # The checkpoint must load with torch's safe loader once registered.
    from fastdrive.engine import register_checkpoint_safe_globals

    register_checkpoint_safe_globals()
    ckpt = torch.load(work / "epoch_2.pth", weights_only=True)
    assert ckpt["meta"]["epoch"] == 2

    second = _run(["--work-dir", str(work), "--resume"], cwd=tmp_path)
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-3000:]
    assert "resumed epoch: 2" in out
    assert (work / "epoch_4.pth").exists()
    final = torch.load(work / "epoch_4.pth", weights_only=True)
    # 256 samples / batch 16 = 16 iterations per epoch: resumed, not restarted.
    assert final["meta"]["iter"] == 4 * 16
