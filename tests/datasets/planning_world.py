"""A tiny generated world shared by the planning tests (made once per session with the CLI).

Seed 5, 2 scenes (one train, one val) x 16 keyframes at 320x180: scene-0000
holds a right turn at an intersection while braking, scene-0001 (a crossing
scene since the scene mix of issue 10) a straight stretch then a stop for a
pedestrian, which the command and baseline tests need.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

ROOT = Path(__file__).resolve().parents[2]
VERSION = "v1.0-fastdrive"
SCENES, SAMPLES, IMAGE_SIZE, SEED = 2, 16, "320x180", 5

_CACHE: Dict[str, Path] = {}


def planning_world(tmp_path_factory) -> Path:
    """Generate the world once per session; returns its dataroot."""
    if "root" not in _CACHE:
        root = tmp_path_factory.mktemp("planning_world") / "world"
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        cmd = [
            sys.executable, "-m", "data_tools.make_world", "--out", str(root), "--scenes", str(SCENES),
            "--seed", str(SEED), "--samples-per-scene", str(SAMPLES), "--image-size", IMAGE_SIZE,
            "--val-fraction", "0.5", "--quiet",
        ]  # fmt: skip
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        _CACHE["root"] = root
    return _CACHE["root"]
