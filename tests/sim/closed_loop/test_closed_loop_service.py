"""A closed-loop run through a real ``python -m service`` process on 127.0.0.1, on the tiny world."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from fastdrive.sim.closed_loop.__main__ import main
from service.process import ServerProcess


@pytest.fixture(scope="module")
def server():
    with ServerProcess(["--methods", "recon,fastv"]) as proc:
        yield proc


def _run(server, root, out, *extra):
    return main(["--server", server.url, "--dataroot", root, "--seconds", "5", "--ratios", "0.5",
                 "--out-json", str(out), "--resamples", "200", *extra])


def test_an_episode_through_the_service_is_scored_and_reproducible(server, planning_world_root, tmp_path, capsys):
    gif = tmp_path / "episode.gif"
    assert _run(server, planning_world_root, tmp_path / "a.json", "--video", str(gif)) == 0
    printed = capsys.readouterr().out
    for row in ("log replay", "log plan, tracked", "constant velocity", "unpruned", "camera swap", "recon 50%"):
        assert f"| {row} |" in printed
    first = json.loads((tmp_path / "a.json").read_text())
    rows = {r["row"]: r for r in first["table"]}
    assert rows["log replay"]["pdms"] >= 0.95 and rows["recon 50%"]["failures"] == 0
    assert rows["recon 50%"]["http_ms"] > 0 and rows["recon 50%"]["render_ms"] > 0
    episode = first["episodes"]["recon 50%"][0]
    assert episode["pdm"] is not None and 0.0 <= episode["pdm"]["pdms"] <= 1.0
    with Image.open(gif) as im:  # one frame per plan: 5 s / 0.5 s
        assert im.n_frames == 10 and im.size[0] > im.size[1]
    # the same seed and planner give the same scores
    assert _run(server, planning_world_root, tmp_path / "b.json") == 0
    second = json.loads((tmp_path / "b.json").read_text())
    for row in first["episodes"]:
        assert [e["pdm"] for e in first["episodes"][row]] == [e["pdm"] for e in second["episodes"][row]], row


def test_bad_arguments_and_a_missing_server_are_clear(planning_world_root, tmp_path, capsys):
    assert main(["--server", "http://127.0.0.1:9", "--dataroot", planning_world_root, "--seconds", "5",
                 "--no-references", "--ratios", "0.5"]) == 1
    assert "cannot reach the service" in capsys.readouterr().err
    assert main(["--server", "http://127.0.0.1:9", "--dataroot", str(tmp_path)]) == 2
    assert "not a FastDrive world" in capsys.readouterr().err
    assert main(["--server", "http://127.0.0.1:9", "--dataroot", planning_world_root, "--seconds", "60"]) == 2
    assert "shorter than an episode" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--server", "x", "--dataroot", planning_world_root, "--video", "out.avi"])
