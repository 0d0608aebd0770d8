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


def test_the_runs_own_config_wins_over_the_file(tmp_path: Path) -> None:
    """A run trained with ``--cfg-options model.keep_accel=throttle`` exported with its base config file."""
    from mmengine.config import Config

    cfg = tmp_path / "cfg.py"
    cfg.write_text(CONFIG)
    run_cfg = Config.fromfile(str(cfg))
    run_cfg.merge_from_dict({"model.ego_history": False, "model.keep_accel": "throttle"})
    model = DrivingVLA(vlm=VLM, image_size=(112, 56), ego_history=False, keep_accel="throttle", seed=3)
    ckpt = tmp_path / "epoch_1.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {"epoch": 1, "cfg": run_cfg.pretty_text}}, ckpt)
    proc = _cli(str(cfg), str(ckpt), "--out", str(tmp_path / "p.pth"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "model.keep_accel: unset in the config file -> 'throttle' in the run" in proc.stdout
    loaded = load_driving_vla(tmp_path / "p.pth")
    assert loaded.keep_accel == "throttle" and not loaded.ego_history
    # the same file exported with the config the run dumped: nothing to note
    dumped = tmp_path / "dumped.py"
    run_cfg.dump(str(dumped))
    proc = _cli(str(dumped), str(ckpt), "--out", str(tmp_path / "q.pth"))
    assert proc.returncode == 0 and "note:" not in proc.stdout, proc.stdout + proc.stderr[-2000:]
