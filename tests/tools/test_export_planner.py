"""``python -m fastdrive.tools.export_planner``: mmengine checkpoint -> standalone planner file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from fastdrive.models import DrivingVLA
from fastdrive.models.driving_vla_io import load_driving_vla
from tiny_vla import TINY_VLM as VLM  # tests/models, on sys.path via tests/conftest.py

ROOT = Path(__file__).resolve().parents[2]
CONFIG = f"""
from fastdrive.models import DrivingVLA
model = dict(type=DrivingVLA, vlm={VLM!r}, image_size=(112, 56))
"""


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastdrive.tools.export_planner", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_export_loads_back_with_the_trained_weights(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.py"
    cfg.write_text(CONFIG)
    model = DrivingVLA(vlm=VLM, image_size=(112, 56), seed=7)
    ckpt = tmp_path / "epoch_3.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {"epoch": 3, "iter": 30}}, ckpt)
    out = tmp_path / "planner.pth"
    proc = _cli(str(cfg), str(ckpt), "--out", str(out), "--float32", "--meta", '{"L2_avg": 0.5}')
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = load_driving_vla(out)
    assert loaded.meta["epoch"] == 3 and loaded.meta["L2_avg"] == 0.5 and loaded.meta["config"] == "cfg.py"
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k


def test_clear_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.py"
    cfg.write_text(CONFIG)
    proc = _cli(str(cfg), str(tmp_path / "none.pth"), "--out", str(tmp_path / "o.pth"))
    assert proc.returncode == 2 and "checkpoint not found" in proc.stderr and "Traceback" not in proc.stderr
    other = DrivingVLA(vlm=dict(VLM, hidden_size=64), image_size=(112, 56))
    torch.save({"state_dict": other.state_dict()}, tmp_path / "wrong.pth")
    proc = _cli(str(cfg), str(tmp_path / "wrong.pth"), "--out", str(tmp_path / "o.pth"))
    assert proc.returncode == 2 and "cannot load" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.pth").exists()
