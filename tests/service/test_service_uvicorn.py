"""The service as users run it: ``python -m service`` under uvicorn on 127.0.0.1, called over HTTP.

Every pruning method at 0/25/50/75%, every bad input (each followed by a good request that still
succeeds), the API key, 503 with Retry-After on a full queue, the metrics, and a schemathesis run
against the OpenAPI schema that must find no 5xx.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import shutil
import subprocess
import sys

import httpx
import numpy as np
import pytest

from service.client import AsyncPlanClient, PlanClient, PlanError, plan_body
from service.process import ServerProcess

KEY = "test-key-123"
N_VISUAL = 144  # the shipped planner: a 9 x 16 token grid on CAM_FRONT
FIXED_BUDGET = {"recon", "fastv", "divprune", "vispruner", "dart", "random", "grid"}  # others adapt their count


@pytest.fixture(scope="module")
def server():
    with ServerProcess(["--api-key", KEY, "--max-queue", "4", "--max-batch-size", "2",
                        "--max-body-bytes", "400000", "--max-image-pixels", "200000"]) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(server):
    with PlanClient(server.url, api_key=KEY) as c:
        yield c


def _frame(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.repeat(np.linspace(40, 220, 225, dtype=np.uint8)[:, None, None], 400, axis=1).repeat(3, axis=2)
    img[100:160, 150 + seed % 50:230 + seed % 50] = rng.integers(0, 255, 3)  # something in view
    return img


def _good(client):
    plan = client.plan({"CAM_FRONT": _frame()}, speed=5.0, command="straight")
    assert len(plan["waypoints"]) == 6 and plan["tokens"] == {"total": N_VISUAL, "kept": N_VISUAL}


def test_every_served_method_at_every_preset(client):
    methods = [m["method"] for m in client.pruners()["methods"]]
    assert {"recon", "fastv", "vla_pruner", "sparsevlm"} <= set(methods) and not any("oracle" in m for m in methods)
    for method in methods:
        for ratio in (0.0, 0.25, 0.5, 0.75):
            plan = client.plan({"CAM_FRONT": _frame(1)}, speed=6.0, command="left", accel=-0.2,
                               past_xy=[[-12, 0], [-9, 0], [-6, 0], [-3, 0]],
                               pruning={"method": method, "ratio": ratio}, session_id=f"car-{method}",
                               return_kept=True)
            wp = np.asarray(plan["waypoints"])
            assert wp.shape == (6, 2) and np.all(np.isfinite(wp)), (method, ratio)
            assert plan["timestamps"] == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
            tokens = plan["tokens"]
            assert tokens["total"] == N_VISUAL and 1 <= tokens["kept"] <= N_VISUAL
            if ratio == 0.0:
                assert tokens["kept"] == N_VISUAL and plan["pruner"] == "none"
            elif method in FIXED_BUDGET:
                assert tokens["kept"] == math.floor(N_VISUAL * (1 - ratio) + 1e-6), (method, ratio)
                assert plan["pruner"] == f"{method}@{ratio:g}"
            cells = plan["kept_cells"][0]
            assert cells["camera"] == "CAM_FRONT" and cells["grid"] == [9, 16] and len(cells["cells"]) == tokens["kept"]
            assert set(plan["timings_ms"]) == {"decode", "queue", "model", "pruner", "total"}


def _post(server, body=None, content=None, key=KEY):
    headers = {"X-API-Key": key} if key is not None else {}
    if content is not None:
        headers["content-type"] = "application/json"
    return httpx.post(server.url + "/plan", json=body, content=content, headers=headers, timeout=60)


def _body(**changes):
    body = plan_body({"CAM_FRONT": _frame()}, 5.0, "straight")
    for path, value in changes.items():
        node = body
        keys = path.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return body


def _png(h, w):
    from service.images import encode_image
    return encode_image(np.zeros((h, w, 3), np.uint8))


BAD = {
    "undecodable image": (dict(images__CAM_FRONT=base64.b64encode(b"not an image").decode()), 422, "cannot decode"),
    "not base64": (dict(images__CAM_FRONT="@@@"), 422, "base64"),
    "image over the pixel limit": (dict(images__CAM_FRONT=_png(500, 500)), 413, "over the limit"),
    "missing camera": (dict(images={"CAM_BACK": _png(90, 160)}), 422, "missing required camera"),
    "unknown camera": (dict(images__CAM_TOP=_png(90, 160)), 422, "unknown camera"),
    "unknown method": (dict(pruning={"method": "nope", "ratio": 0.5}), 422, "choose one of: none"),
    "ratio 1": (dict(pruning={"method": "fastv", "ratio": 1.0}), 422, "less than 1"),
    "negative ratio": (dict(pruning={"method": "fastv", "ratio": -0.1}), 422, "greater than or equal"),
    "unknown command": (dict(command="reverse"), 422, "command must be one of"),
    "short past": (dict(ego_state__past_xy=[[0, 0]]), 422, "past_xy must be 4"),
    "option that sizes a network": (dict(pruning={"method": "recon", "ratio": 0.5,
                                                  "options": {"hidden_size": 10 ** 6}}), 422, "host model"),
    "option not allowed": (dict(pruning={"method": "fastv", "ratio": 0.5, "options": {"foo": 1}}), 422,
                           "allowed: layer"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gets_a_clear_4xx_and_the_service_goes_on(server, client, case):
    changes, status, match = BAD[case]
    resp = _post(server, _body(**changes))
    assert resp.status_code == status, resp.text
    assert match in json.dumps(resp.json()), resp.text
    assert set(resp.json()) == {"error", "detail"}
    _good(client)


@pytest.mark.parametrize("raw", [b'{"images": {}, "ego_state": {"speed": NaN}, "command": "left"}',
                                 b'{"images": {}, "ego_state": {"speed": 3, "yaw_rate": Infinity}, "command": "left"}',
                                 b'{"images": ', b'[1, 2]'])
def test_nan_inf_and_broken_json_are_422(server, client, raw):
    resp = _post(server, content=raw)
    assert resp.status_code == 422, resp.text
    _good(client)


def test_body_over_the_limit_is_413(server, client):
    resp = _post(server, content=b'{"images": {"CAM_FRONT": "' + b"A" * 500_000 + b'"}}')
    assert resp.status_code == 413 and resp.json()["error"] == "PayloadTooLarge"
    _good(client)


@pytest.mark.parametrize("key", [None, "wrong", KEY + "x"])
def test_missing_or_wrong_api_key_is_401(server, client, key):
    resp = _post(server, _body(), key=key)
    assert resp.status_code == 401 and "X-API-Key" in resp.json()["detail"]
    assert httpx.get(server.url + "/v1/pruners", timeout=10).status_code == 401
    _good(client)


def test_a_full_queue_answers_503_with_retry_after(server, client):
    body = _body()

    async def burst():
        async with AsyncPlanClient(server.url, api_key=KEY) as c:
            return await asyncio.gather(*[c.plan_json(body) for _ in range(40)], return_exceptions=True)

    results = asyncio.run(burst())
    busy = [r for r in results if isinstance(r, PlanError)]
    ok = [r for r in results if isinstance(r, dict)]
    assert busy and ok and len(busy) + len(ok) == 40
    assert all(e.status == 503 and e.error == "ServiceBusy" for e in busy)
    resp = None
    for _ in range(200):  # one more burst, read the raw header
        resp = httpx.post(server.url + "/plan", json=body, headers={"X-API-Key": KEY}, timeout=60)
        if resp.status_code == 503:
            break
    _good(client)
    text = httpx.get(server.url + "/metrics", timeout=10).text
    assert 'fastdrive_errors_total{type="ServiceBusy"}' in text
    assert "fastdrive_batch_size_bucket" in text and "fastdrive_queue_depth" in text
    assert "fastdrive_sessions" in text and 'fastdrive_tokens_kept_count{method="none"}' in text


def test_retry_after_header(server):
    async def burst():
        async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": KEY}, timeout=60) as c:
            return await asyncio.gather(*[c.post("/plan", json=_body()) for _ in range(40)])

    busy = [r for r in asyncio.run(burst()) if r.status_code == 503]
    assert busy and all(int(r.headers["Retry-After"]) >= 1 for r in busy)


def test_session_header_is_echoed_and_must_match(server, client):
    resp = httpx.post(server.url + "/plan", json=_body(), timeout=60,
                      headers={"X-API-Key": KEY, "X-FastDrive-Session": "car-9"})
    assert resp.status_code == 200 and resp.headers["X-FastDrive-Session"] == "car-9"
    assert resp.headers["X-FastDrive-Replica"]
    resp = httpx.post(server.url + "/plan", json=_body(session_id="car-1"), timeout=60,
                      headers={"X-API-Key": KEY, "X-FastDrive-Session": "car-2"})
    assert resp.status_code == 422 and "differs" in resp.json()["detail"]


def test_health_and_docs(server):
    assert httpx.get(server.url + "/healthz", timeout=10).json() == {"status": "ok"}
    assert httpx.get(server.url + "/readyz", timeout=10).json()["status"] == "ready"
    schema = httpx.get(server.url + "/openapi.json", timeout=10).json()
    assert "/plan" in schema["paths"] and httpx.get(server.url + "/docs", timeout=10).status_code == 200


@pytest.mark.skipif(shutil.which("schemathesis") is None and not os.path.exists(
    os.path.join(os.path.dirname(sys.executable), "schemathesis")), reason="schemathesis is not installed")
def test_schemathesis_finds_no_server_error(server, tmp_path):
    exe = shutil.which("schemathesis") or os.path.join(os.path.dirname(sys.executable), "schemathesis")
    cmd = [exe, "run", server.url + "/openapi.json", "--checks", "not_a_server_error", "-H", f"X-API-Key: {KEY}",
           "--max-examples", "25", "--seed", "1", "--workers", "1", "--phases", "examples,coverage,fuzzing",
           "--request-timeout", "60", "--no-color"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
