"""``python -m data_tools.make_world``: arguments, determinism, seed variety, atomic output."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

from data_tools.make_world import main

REPO = Path(__file__).resolve().parents[2]
TINY = ["--scenes", "1", "--samples-per-scene", "2", "--image-size", "320x180", "--quiet"]


def _tree_hashes(root: Path) -> Dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _run_main(argv: List[str], capsys) -> tuple:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    return exc.value.code, err


def _cli(args: List[str], **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-m", "data_tools.make_world", *args],
        cwd=str(REPO),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_help_explains_itself(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in (
        "--out",
        "--scenes",
        "--seed",
        "--samples-per-scene",
        "--image-size",
        "--version",
        "--workers",
        "--overwrite",
    ):
        assert opt in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--out", "X", "--scenes", "0"], "--scenes"),
        (["--out", "X", "--image-size", "640by360"], "--image-size"),
        (["--out", "X", "--image-size", "0x10"], "--image-size"),
        (["--out", "X", "--seed", "-1"], "--seed"),
        (["--out", "X", "--workers", "0"], "--workers"),
        (["--out", "X", "--version", "../up"], "--version"),
        (["--scenes", "2"], "--out"),
        (["--out", "X", "--cameras", "CAM_NOPE"], "--cameras"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, needle, capsys, tmp_path):
    argv = [str(tmp_path / a) if a == "X" else a for a in argv]
    code, err = _run_main(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and needle in lines[0]
    assert not (tmp_path / "X").exists()


def test_refuses_non_empty_output_without_overwrite(tmp_path, capsys):
    out = tmp_path / "world"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, err = _run_main(["--out", str(out), *TINY], capsys)
    assert code == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (out / "keep.txt").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == [
        "world"
    ]


def test_cli_process_reports_bad_args_without_traceback(tmp_path):
    proc = _cli(["--out", str(tmp_path / "w"), "--scenes", "0"])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in err and "--scenes" in err


def test_same_seed_same_bytes_other_seed_other_town(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["--out", str(a), "--seed", "3", "--workers", "2", *TINY]) == 0
    # a separate process (other PYTHONHASHSEED) with another worker count gives the same bytes
    proc = _cli(["--out", str(b), "--seed", "3", "--workers", "1", *TINY])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    ha, hb = _tree_hashes(a), _tree_hashes(b)
    kinds = {Path(k).suffix for k in ha}
    assert {".jpg", ".png", ".bin", ".json"} <= kinds and len(ha) > 50
    assert ha == hb
    assert main(["--out", str(c), "--seed", "4", *TINY]) == 0
    hc = _tree_hashes(c)
    assert ha != hc

    def town_nodes(root: Path) -> Dict[str, set]:
        out = {}
        for f in (root / "maps" / "expansion").glob("*.json"):
            m = json.loads(f.read_text())
            out[f.stem] = {(n["x"], n["y"]) for n in m["node"]}
        return out

    ta, tc = town_nodes(a), town_nodes(c)
    assert ta and tc
    for loc in set(ta) & set(tc):
        assert ta[loc] != tc[loc], f"seeds 3 and 4 gave the same {loc} town"


def test_overwrite_replaces_atomically(tmp_path):
    out = tmp_path / "world"
    out.mkdir()
    (out / "old.txt").write_text("old")
    assert main(["--out", str(out), "--seed", "5", "--overwrite", *TINY]) == 0
    assert not (out / "old.txt").exists() and (out / "v1.0-fastdrive" / "scene.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world"]  # no temp or backup dirs left


def _wait_for_partial(parent: Path, proc: subprocess.Popen, timeout: float = 240.0) -> Path:
    """Wait until the run has written some images into its hidden temp dir."""
    end = time.time() + timeout
    while time.time() < end:
        assert proc.poll() is None, proc.communicate()[1]
        for tmp in parent.glob(".world.tmp-*"):
            if any((tmp / "samples" / "CAM_FRONT").glob("*.jpg")):
                return tmp
        time.sleep(0.2)
    raise AssertionError("the run never started writing")


def _default_sigint() -> None:
    """Child pre-exec: Ctrl-C as in a terminal. A test runner started in the background by a
    non-interactive shell ignores SIGINT, and the child would inherit that and never stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_run_leaves_no_dataset(tmp_path, sig):
    out = tmp_path / "world"
    proc = _cli(
        [
            "--out",
            str(out),
            "--scenes",
            "1",
            "--samples-per-scene",
            "30",
            "--image-size",
            "320x180",
            "--seed",
            "1",
            "--workers",
            "1",
            "--quiet",
        ],
        preexec_fn=_default_sigint,
    )
    try:
        tmp = _wait_for_partial(tmp_path, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists(), "an interrupted run must not leave the output directory"
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
        assert not tmp.exists(), "Ctrl-C cleans up the temporary directory"
    else:  # kill -9 leaves the hidden temp dir; the next run removes it and completes
        tiny = ["--scenes", "1", "--samples-per-scene", "1", "--image-size", "64x36", "--quiet"]
        assert main(["--out", str(out), *tiny]) == 0
        assert not tmp.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["world"]


def test_front_camera_only_world_loads_in_the_devkit(tmp_path, capsys):
    """--cameras CAM_FRONT renders one camera (plus the lidar); the devkit and the planning dataset load it."""
    from nuscenes.nuscenes import NuScenes

    out = tmp_path / "front"
    assert main(["--out", str(out), *TINY, "--cameras", "CAM_FRONT"]) == 0
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["CAM_FRONT", "LIDAR_TOP"]
    nusc = NuScenes("v1.0-fastdrive", str(out), verbose=False)
    channels = {nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])["sensor_token"]
                for sd in nusc.sample_data}
    assert len(channels) == 2
    sample = nusc.sample[0]
    assert set(sample["data"]) == {"CAM_FRONT", "LIDAR_TOP"}
    assert (out / "fastdrive_gt" / "semantic" / "samples" / "CAM_FRONT").is_dir()
