"""A small Python client of the planning service (httpx; sync and async).

    from service.client import PlanClient
    with PlanClient("http://127.0.0.1:8000") as client:
        plan = client.plan({"CAM_FRONT": frame}, speed=5.2, command="straight",
                           pruning={"method": "recon", "ratio": 0.5}, session_id="car-17")
        plan["waypoints"]  # 6 x [x, y]
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

import httpx
import numpy as np

from .images import encode_image


class PlanError(RuntimeError):
    """The service answered an error: ``status`` (HTTP), ``error`` (type) and ``detail``."""

    def __init__(self, status: int, error: str, detail: Any) -> None:
        super().__init__(f"HTTP {status} {error}: {detail}")
        self.status, self.error, self.detail = status, error, detail


def plan_body(frames: Mapping[str, np.ndarray], speed: float, command: str, accel: float = 0.0,
              yaw_rate: float = 0.0, past_xy: Optional[Sequence[Sequence[float]]] = None,
              pruning: Optional[Mapping[str, Any]] = None, session_id: Optional[str] = None,
              return_kept: bool = False, image_format: str = "PNG",
              prev_frames: Optional[Mapping[str, np.ndarray]] = None) -> Dict[str, Any]:
    """The JSON body of ``POST /plan`` from ``{camera: (H, W, 3) uint8}`` frames and the ego state
    (``prev_frames``: the same cameras 0.5 s earlier, for a model that reads two frames)."""
    body: Dict[str, Any] = {
        "images": {cam: encode_image(f, image_format) for cam, f in frames.items()},
        "ego_state": {"speed": float(speed), "accel": float(accel), "yaw_rate": float(yaw_rate)},
        "command": command, "return_kept": bool(return_kept)}
    if prev_frames is not None:
        body["prev_images"] = {cam: encode_image(f, image_format) for cam, f in prev_frames.items()}
    if past_xy is not None:
        body["ego_state"]["past_xy"] = [[float(x), float(y)] for x, y in past_xy]
    if pruning is not None:
        body["pruning"] = dict(pruning)
    if session_id is not None:
        body["session_id"] = session_id
    return body


def _result(resp: httpx.Response) -> Dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        raise PlanError(resp.status_code, "BadResponse", resp.text[:200]) from None
    if resp.status_code != 200:
        raise PlanError(resp.status_code, data.get("error", "HTTPError"), data.get("detail"))
    return data


class PlanClient:
    """Synchronous client. ``api_key`` goes in ``X-API-Key``; ``timeout`` is in seconds."""

    def __init__(self, base_url: str, api_key: Optional[str] = None, timeout: float = 30.0) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def plan(self, frames: Mapping[str, np.ndarray], speed: float, command: str, **kwargs: Any) -> Dict[str, Any]:
        """``POST /plan`` (arguments as :func:`plan_body`); raises :class:`PlanError` on an error answer."""
        return self.plan_json(plan_body(frames, speed, command, **kwargs))

    def plan_json(self, body: Mapping[str, Any]) -> Dict[str, Any]:
        session = body.get("session_id")
        headers = {"X-FastDrive-Session": session} if session else None
        return _result(self._http.post("/plan", json=body, headers=headers))

    def pruners(self) -> Dict[str, Any]:
        return _result(self._http.get("/v1/pruners"))

    def ready(self) -> bool:
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "PlanClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncPlanClient:
    """Asynchronous client (``async with AsyncPlanClient(url) as c: await c.plan(...)``)."""

    def __init__(self, base_url: str, api_key: Optional[str] = None, timeout: float = 30.0,
                 max_connections: int = 64) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout,
                                       limits=httpx.Limits(max_connections=max_connections))

    async def plan(self, frames: Mapping[str, np.ndarray], speed: float, command: str,
                   **kwargs: Any) -> Dict[str, Any]:
        return await self.plan_json(plan_body(frames, speed, command, **kwargs))

    async def plan_json(self, body: Mapping[str, Any]) -> Dict[str, Any]:
        session = body.get("session_id")
        headers = {"X-FastDrive-Session": session} if session else None
        return _result(await self._http.post("/plan", json=body, headers=headers))

    async def pruners(self) -> Dict[str, Any]:
        return _result(await self._http.get("/v1/pruners"))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncPlanClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
