"""``POST /plan`` with ``prev_images``: a two-frame model plans from the clip, a one-frame model ignores them."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.client import PlanClient, plan_body
from service.process import ServerProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from tiny_planner import export_tiny_planner  # noqa: E402


def _frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (112, 168, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def pair_checkpoint(tmp_path_factory):
    return str(export_tiny_planner(tmp_path_factory.mktemp("pair") / "pair.pth", frame_pair=True))


def test_two_frame_model_plans_from_the_clip(pair_checkpoint):
    from fastdrive.planner import EgoState, EmbeddedPlanner

    local = EmbeddedPlanner.from_checkpoint(pair_checkpoint)
    cur, prev = _frame(0), _frame(1)
    want_clip = local.plan(cur, EgoState(0.0), "straight", prev_frames=prev).waypoints
    want_still = local.plan(cur, EgoState(0.0), "straight").waypoints
    with ServerProcess(["--model-path", pair_checkpoint, "--methods", "random,grid"]) as server, \
            PlanClient(server.url) as client:
        assert httpx.get(server.url + "/readyz").json()["reads_prev_frames"] is True
        clip = client.plan({"CAM_FRONT": cur}, speed=0.0, command="straight", prev_frames={"CAM_FRONT": prev})
        still = client.plan({"CAM_FRONT": cur}, speed=0.0, command="straight")
        np.testing.assert_allclose(clip["waypoints"], want_clip, atol=1e-3)  # PNG is lossless; 4 decimals
        np.testing.assert_allclose(still["waypoints"], want_still, atol=1e-3)
        body = plan_body({"CAM_FRONT": cur}, 0.0, "straight")
        for bad, match in (({"CAM_FRONT": "@@@"}, "prev_images.CAM_FRONT: not valid base64"),
                           ({"CAM_BACK": body["images"]["CAM_FRONT"]}, "prev_images: missing required camera"),
                           ({"CAM_TOP": body["images"]["CAM_FRONT"]}, "unknown camera")):
            resp = httpx.post(server.url + "/plan", json=dict(body, prev_images=bad))
            assert resp.status_code == 422 and match in resp.text, resp.text
        assert httpx.post(server.url + "/plan", json=body).status_code == 200  # and it goes on


def test_one_frame_model_ignores_prev_images():
    cur = _frame(2)
    with ServerProcess(["--methods", "random"]) as server, PlanClient(server.url) as client:
        assert httpx.get(server.url + "/readyz").json()["reads_prev_frames"] is False
        a = client.plan({"CAM_FRONT": cur}, speed=3.0, command="left")
        b = client.plan({"CAM_FRONT": cur}, speed=3.0, command="left", prev_frames={"CAM_FRONT": _frame(3)})
        assert a["waypoints"] == b["waypoints"]
