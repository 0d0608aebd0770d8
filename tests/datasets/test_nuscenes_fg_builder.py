"""The build loop on a generated world: resume after ``kill -9``, and broken images recorded as failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from nuscenes_fg_world import NUM_IMAGES, ROOT, VERSION, build_cmd, copy_world, dataset_hashes, env, fg_world

from fastdrive.datasets.nuscenes_fg import BoxSegmenter, BuildError, BuildOptions, FGClasses, run_build


@pytest.fixture(scope="module")
def classes() -> FGClasses:
    from mmengine.config import Config

    return FGClasses.from_config(Config.fromfile(str(ROOT / "configs/nuscenes_fg/fg_classes.py")).to_dict())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return fg_world(tmp_path_factory)


def ok_lines(journal) -> int:
    try:
        return journal.read_text().count('{"ok"')
    except FileNotFoundError:
        return 0


def test_kill_9_then_rerun_gives_the_uninterrupted_dataset(world, classes, tmp_path):
    reference = tmp_path / "reference"
    run_build(BuildOptions(str(world), VERSION, str(reference)), classes, BoxSegmenter)
    out = tmp_path / "killed"
    journal = out / "_work" / "journal.shard-0000-of-0001.jsonl"
    proc = subprocess.Popen(
        build_cmd(world, out), cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while ok_lines(journal) < 8 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = ok_lines(journal)
    assert proc.returncode == -signal.SIGKILL
    assert 8 <= done_before < NUM_IMAGES, "the run was not interrupted in the middle"
    assert not (out / "summary.json").exists()  # an interrupted run never looks complete
    masks_before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert len(masks_before) >= done_before

    summary = run_build(BuildOptions(str(world), VERSION, str(out)), classes, BoxSegmenter)
    assert summary["images"] == NUM_IMAGES and summary["failures"] == 0
    assert dataset_hashes(out) == dataset_hashes(reference)
    header, records = json.loads(journal.read_text().splitlines()[0]), journal.read_text().splitlines()[1:]
    assert header["header"]["items"] == NUM_IMAGES and len(records) == NUM_IMAGES
    # the journalled images were skipped, not redone
    done = [json.loads(r)["ok"]["mask_path"] for r in records[:done_before]]
    for rel in done:
        p = out / rel
        assert p.stat().st_mtime_ns == masks_before[p]
    assert [p for p in (out / "_work" / "tmp").rglob("*") if p.is_file()] == []
    # a different run in the same folder is refused, not mixed in
    with pytest.raises(BuildError, match="different settings"):
        run_build(BuildOptions(str(world), VERSION, str(out), cameras=["CAM_FRONT"]), classes, BoxSegmenter)


def test_missing_and_corrupt_images_are_recorded_and_the_run_goes_on(world, classes, tmp_path):
    data = copy_world(world, tmp_path / "world")
    from nuscenes.nuscenes import NuScenes

    nusc = NuScenes(VERSION, str(data), verbose=False)
    cams = [sd for sd in nusc.sample_data if sd["is_key_frame"] and sd["filename"].startswith("samples/CAM_")]
    missing, corrupt = cams[0]["filename"], cams[7]["filename"]
    saved = (data / missing).read_bytes()
    (data / missing).unlink()
    (data / corrupt).write_bytes((data / corrupt).read_bytes()[:3000])  # truncated JPEG
    out = tmp_path / "fg"
    summary = run_build(BuildOptions(str(data), VERSION, str(out), workers=2), classes, BoxSegmenter)
    assert summary["images"] == NUM_IMAGES - 2 and summary["failures"] == 2
    reasons = {f["img_path"]: f["reason"] for f in summary["failure_list"]}
    assert reasons[missing].startswith("image not found")
    assert reasons[corrupt].startswith("cannot decode image")
    indexed = [
        e["img_path"]
        for s in ("train", "val")
        for e in json.loads((out / f"nuscenes_fg_infos_{s}.json").read_text())["data_list"]
    ]
    assert len(indexed) == NUM_IMAGES - 2 and missing not in indexed and corrupt not in indexed
    # put the image back: the rerun retries the failures and completes
    (data / missing).write_bytes(saved)
    summary = run_build(BuildOptions(str(data), VERSION, str(out), workers=2), classes, BoxSegmenter)
    assert summary["failures"] == 1 and summary["images"] == NUM_IMAGES - 1
    assert summary["failure_list"][0]["img_path"] == corrupt
