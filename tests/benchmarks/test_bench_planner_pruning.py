"""``benchmarks/bench_planner_pruning.py``: writes its table and plot; bad inputs give one-line errors."""

from __future__ import annotations

import importlib.util
import json
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


def test_cli_writes_json_markdown_and_png_and_redraws_from_json(world, checkpoint, tmp_path, capsys):
    cli = _load_cli()
    out = tmp_path / "out"
    md, png, js = out / "table.md", out / "plot.png", out / "sweep.json"
    threads = torch.get_num_threads()
    try:
        rc = cli.main(["--world", world, "--checkpoint", checkpoint, "--methods", "grid", "fastv",
                       "--ratios", "0", "0.5", "0.75", "--limit", "4", "--threads", "1", "--no-progress",
                       "--grey", "--resamples", "200", "--out-json", str(js), "--out-md", str(md),
                       "--out-png", str(png)])
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert rc == 0
    data = json.loads(js.read_text())
    names = [(r["method"], r["ratio"]) for r in data["rows"]]
    # one val scene: no camera swap possible; the oracles join on a FastDrive world
    assert names[:3] == [("none", 0.0), ("constant_velocity", 0.0), ("blind", 0.0)]
    assert ("oracle_bg", 0.75) in names and ("grid", 0.5) in names and ("fastv", 0.75) in names
    assert data["num_samples"] == 4 and data["subsets"]["all"] == 4
    grid = next(r for r in data["rows"] if r["method"] == "grid" and r["ratio"] == 0.75)
    assert grid["tokens_kept"] == 6.0  # 24 tokens, 75% pruned
    iv = grid["subsets"]["all"]["vs_unpruned"]["L2_avg"]
    assert iv["low"] <= iv["point"] <= iv["high"] and iv["num_scenes"] == 1
    assert data["token_metrics"]["none@0"]["fg_recall"] == 1.0  # unpruned keeps every token
    assert 0.0 <= data["token_metrics"]["oracle_fg@0.75"]["fg_precision"] <= 1.0
    text = md.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| row | ratio |") and all(r.count("|") == rows[0].count("|") for r in rows[:10])
    assert "| constant velocity |" in text and "| oracle_fg | 0.75 |" in text
    assert "bench_planner_pruning.py --world" in text
    assert "constant velocity" in printed and "4 samples from 1 scenes" in printed
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same tables again from the JSON, without planning
    md2 = out / "again.md"
    assert cli.main(["--from-json", str(js), "--out-md", str(md2)]) == 0
    assert [line for line in md2.read_text().splitlines() if line.startswith("| ")] == rows


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


def test_option_reaches_the_pruner_and_a_malformed_one_is_a_one_line_error(world, checkpoint, tmp_path, capsys):
    cli = _load_cli()
    assert cli.parse_options(["recon.peaks_first=true", "recon.weights=/x.pth", "fastv.layer=2"]) == {
        "recon": {"peaks_first": True, "weights": "/x.pth"}, "fastv": {"layer": 2}}
    assert cli.main(["--world", world, "--checkpoint", checkpoint, "--option", "recon"]) == 2
    assert "expected METHOD.KEY=VALUE" in _one_line_error(capsys.readouterr().err)
    js = tmp_path / "sweep.json"
    threads = torch.get_num_threads()
    try:
        rc = cli.main(["--world", world, "--checkpoint", checkpoint, "--methods", "grid", "random", "--no-oracles",
                       "--ratios", "0.5", "--limit", "2", "--threads", "1", "--no-progress", "--resamples", "50",
                       "--option", "grid.no_such_argument=1", "--out-json", str(js)])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    rows = {r["method"]: r for r in json.loads(js.read_text())["rows"]}
    assert "no_such_argument" in (rows["grid"].get("error") or "")  # built with the option: it fails
    assert not rows["random"].get("error")
