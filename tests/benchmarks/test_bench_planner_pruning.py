"""``benchmarks/bench_planner_pruning.py``: writes its table and plot; bad inputs give one-line errors."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS / "datasets"))
sys.path.insert(0, str(TESTS / "evaluation"))
from planning_world import planning_world  # noqa: E402
from tiny_planner import export_tiny_planner  # noqa: E402

SCRIPT = ROOT / "benchmarks" / "bench_planner_pruning.py"


def _load_cli():
    spec = importlib.util.spec_from_file_location("bench_planner_pruning", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return str(planning_world(tmp_path_factory))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return str(export_tiny_planner(tmp_path_factory.mktemp("tiny_vla") / "tiny.pth"))


def test_cli_writes_markdown_and_png(world, checkpoint, tmp_path, capsys):
    cli = _load_cli()
    md, png = tmp_path / "out" / "table.md", tmp_path / "out" / "plot.png"
    threads = torch.get_num_threads()
    try:
        rc = cli.main(["--world", world, "--checkpoint", checkpoint, "--methods", "grid", "fastv",
                       "--ratios", "0", "0.5", "0.75", "--limit", "4", "--threads", "1", "--no-progress",
                       "--out-md", str(md), "--out-png", str(png)])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert rc == 0
    text = md.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    names = [r.split("|")[1].strip() for r in rows]
    assert names == ["method", "unpruned", "grid", "grid", "fastv", "fastv", "constant_velocity",
                     "camera blanked (grey)"]
    assert all(r.count("|") == len(cli.HEADER) + 1 for r in rows)
    assert "| grid | 0.75 |" in text and "6.0 (0.25)" in text  # 24 tokens, 75% pruned -> 6 kept
    unpruned = next(r for r in rows if r.startswith("| unpruned"))
    assert unpruned.split("|")[cli.HEADER.index("fg_recall") + 1].strip() == "1.00"  # the world has fg masks
    assert "bench_planner_pruning.py --world" in text
    assert "grid" in out and "constant_velocity" in out and "4 samples from 1 scenes" in out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def _one_line_error(proc_or_err: str) -> str:
    lines = [line for line in proc_or_err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc_or_err
    assert "Traceback" not in proc_or_err
    return lines[0]


def test_missing_checkpoint_exits_2_with_one_line(world, tmp_path):
    missing = tmp_path / "nope.pth"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(SCRIPT), "--world", world, "--checkpoint", str(missing)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    line = _one_line_error(proc.stderr)
    assert "checkpoint not found" in line and str(missing) in line


def test_missing_world_unknown_method_and_bad_file(world, checkpoint, tmp_path, capsys):
    cli = _load_cli()
    assert cli.main(["--world", str(tmp_path / "no_world"), "--checkpoint", checkpoint]) == 2
    assert "no v1.0-fastdrive tables" in _one_line_error(capsys.readouterr().err)
    assert cli.main(["--world", world, "--checkpoint", checkpoint, "--methods", "grid", "bogus"]) == 2
    assert "unknown pruner(s) bogus" in _one_line_error(capsys.readouterr().err)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    assert cli.main(["--world", world, "--checkpoint", str(junk)]) == 2
    assert "cannot read planner checkpoint" in _one_line_error(capsys.readouterr().err)
