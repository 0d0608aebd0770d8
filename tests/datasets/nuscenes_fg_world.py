"""A tiny generated world shared by the nuScenes-FG end-to-end tests, plus helpers.

Not a conftest: test modules call :func:`fg_world` from a session fixture;
the module cache gives every caller in a session the same world. The world
is made with the documented CLI, ``python -m data_tools.make_world``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[2]
VERSION = "v1.0-fastdrive"
SCENES, SAMPLES, IMAGE_SIZE, SEED = 2, 3, "640x360", 5  # 2 scenes (train + val) x 3 keyframes x 6 cameras
NUM_IMAGES = SCENES * SAMPLES * 6

_CACHE: Dict[str, Path] = {}


def env() -> Dict[str, str]:
    """Environment for subprocesses: the checkout first on ``PYTHONPATH``."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def fg_world(tmp_path_factory) -> Path:
    """Generate the world once per session; returns its dataroot."""
    if "root" not in _CACHE:
        root = tmp_path_factory.mktemp("fg_world") / "world"
        cmd = [
            sys.executable,
            "-m",
            "data_tools.make_world",
            "--out",
            str(root),
            "--scenes",
            str(SCENES),
            "--seed",
            str(SEED),
            "--samples-per-scene",
            str(SAMPLES),
            "--image-size",
            IMAGE_SIZE,
            "--val-fraction",
            "0.5",
            "--quiet",
        ]
        proc = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        _CACHE["root"] = root
    return _CACHE["root"]


def copy_world(world: Path, dest: Path) -> Path:
    """A private copy of the world's dataroot (without ground truth), for tests that break it."""
    shutil.copytree(world, dest, ignore=shutil.ignore_patterns("fastdrive_gt", "LIDAR_TOP"))
    return dest


def build_cmd(world: Path, out: Path, *extra: str) -> List[str]:
    """``python -m data_tools.build_fg`` command line in box mode."""
    return [
        sys.executable,
        "-m",
        "data_tools.build_fg",
        "--dataroot",
        str(world),
        "--version",
        VERSION,
        "--out",
        str(out),
        "--segmenter",
        "box",
        "--no-progress",
        *extra,
    ]


def dataset_hashes(out: Path) -> Dict[str, str]:
    """sha256 of every file of a built dataset except the resume work folder (``_work``)."""
    hashes = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if p.is_file() and not rel.startswith("_work/"):
            hashes[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return hashes


def final_hashes(out: Path) -> Dict[str, str]:
    """:func:`dataset_hashes` without shard files (what a single run and a merged run share)."""
    return {k: v for k, v in dataset_hashes(out).items() if ".shard-" not in k}
