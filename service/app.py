"""The FastAPI app: ``create_app(settings)``; ``POST /plan`` and the operational endpoints.

The model is loaded once, in the lifespan, with the configured pruners; the
event loop never runs it (see :mod:`.batcher`). Every failure answers JSON
``{"error": type, "detail": message}``: client errors 4xx, server errors 5xx,
never a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import socket
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Optional

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from fastdrive.errors import FastDriveError, InputError
from fastdrive.planner import Planner
from fastdrive.pruning import is_evaluation_only

from .batcher import Batcher, ServiceBusy
from .limits import BodyLimit
from .metrics import ServiceMetrics
from .planning import load_planner, model_name, plan_request, response, run_batch
from .schemas import ErrorBody, PlanBody, PlanResponse, PrunerInfo, PrunersResponse, PruningBody
from .settings import ServiceSettings

log = logging.getLogger("fastdrive.service")
SESSION_HEADER = "X-FastDrive-Session"
REPLICA = f"{socket.gethostname()}:{os.getpid()}"
_ERRORS = {code: {"model": ErrorBody} for code in (401, 413, 422, 500, 503)}


class Unauthorized(InputError):
    http_status = 401


class ServiceState:
    """What the lifespan sets up: the planner, its batcher and the metrics."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.planner: Optional[Planner] = None
        self.batcher: Optional[Batcher] = None
        self.metrics: Optional[ServiceMetrics] = None
        self.model = ""
        self.ready = False


def _error(exc: BaseException, status: int, metrics: Optional[ServiceMetrics], detail: Any = None) -> JSONResponse:
    name = type(exc).__name__
    if metrics is not None:
        metrics.errors.labels(type=name).inc()
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, ServiceBusy) else None
    return JSONResponse({"error": name, "detail": detail if detail is not None else str(exc)}, status_code=status,
                        headers=headers)


def create_app(settings: Optional[ServiceSettings] = None, planner: Optional[Planner] = None) -> FastAPI:
    """The service app. ``planner``: serve this one instead of loading the one the settings name (tests)."""
    settings = settings or ServiceSettings()
    state = ServiceState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.planner = planner if planner is not None else await asyncio.to_thread(load_planner, settings)
        state.model = model_name(state.planner, settings)
        state.batcher = Batcher(lambda items: run_batch(state.planner, items), settings.max_batch_size,
                                settings.max_wait_ms / 1000.0, settings.max_queue)
        state.metrics = ServiceMetrics(lambda: state.batcher.depth, lambda: len(state.planner.pool.sessions))
        state.batcher.on_batch = state.metrics.batch_size.observe
        await state.batcher.start()
        state.ready = True
        log.info("serving %s with pruners %s", state.model, ", ".join(settings.methods))
        try:
            yield
        finally:
            state.ready = False
            await state.batcher.stop()

    app = FastAPI(title="FastDrive planning service", version="1",
                  description="Plans 6 ego-frame waypoints from camera images with a driving VLA whose visual "
                              "tokens a pluggable pruner removes (ReconPruner and peers) at any ratio.",
                  lifespan=lifespan)
    app.state.fastdrive = state
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return _error(exc, 422, state.metrics, detail)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        name = {413: "PayloadTooLarge", 404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        if state.metrics is not None:
            state.metrics.errors.labels(type=name).inc()
        return JSONResponse({"error": name, "detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(FastDriveError)
    async def _fastdrive(request: Request, exc: FastDriveError) -> JSONResponse:
        return _error(exc, exc.http_status, state.metrics)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s", request.url.path)
        return _error(exc, 500, state.metrics, "internal error; the server log has the details")

    async def api_key(x_api_key: Optional[str] = Header(None, description="the API key, when one is configured")
                      ) -> None:
        expected = settings.api_key
        if expected is None:
            return
        given = (x_api_key or "").encode()
        if not hmac.compare_digest(given, expected.get_secret_value().encode()):
            raise Unauthorized("missing or wrong X-API-Key header")

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", summary="The model is loaded and serving", responses={503: {"model": ErrorBody}})
    async def readyz() -> Response:
        if not state.ready:
            return JSONResponse({"error": "NotReady", "detail": "the model is loading"}, status_code=503)
        planner = state.planner
        size = getattr(getattr(planner, "model", None), "image_size", None)
        return JSONResponse({"status": "ready", "model": state.model, "cameras": list(planner.cameras),
                             "image_size": list(size) if size is not None else None,
                             "reads_prev_frames": bool(planner.reads_prev_frames)})

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        body = state.metrics.render() if state.metrics is not None else b""
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/pruners", response_model=PrunersResponse, summary="Pruning methods served, and their options",
             dependencies=[Depends(api_key)], responses=_ERRORS)
    async def pruners() -> PrunersResponse:
        from fastdrive.registry import PRUNERS

        methods = [PrunerInfo(method=m, stage=getattr(PRUNERS.get(m), "stage", "pre_llm"),
                              options=list(getattr(PRUNERS.get(m), "request_options", ())))
                   for m in settings.methods if not is_evaluation_only(m)]
        return PrunersResponse(methods=methods, ratios=[0.0, 0.25, 0.5, 0.75],
                               default=PruningBody(method=settings.default_method, ratio=settings.default_ratio))

    @app.post("/plan", response_model=PlanResponse, response_model_exclude_none=True,
              summary="Plan 6 waypoints (0.5 ... 3.0 s) from camera images, ego state and command",
              dependencies=[Depends(api_key)], responses=_ERRORS)
    async def plan(body: PlanBody, request: Request,
                   x_fastdrive_session: Optional[str] = Header(
                       None, max_length=128, description="session id for load balancers that route by header "
                                                         "(session affinity); must equal the body's if both")
                   ) -> Response:
        t0 = time.perf_counter()
        status = 500
        try:
            if not state.ready:
                raise ServiceBusy("the model is loading")
            session = body.session_id or x_fastdrive_session
            if body.session_id and x_fastdrive_session and body.session_id != x_fastdrive_session:
                raise InputError(f"session_id {body.session_id!r} differs from the {SESSION_HEADER} header")
            req = await run_in_threadpool(plan_request, body, state.planner, settings, session)
            t1 = time.perf_counter()
            result = await state.batcher.submit(req, timeout_s=settings.request_timeout_s)
            traj = result.value
            timings = {"decode": 1000 * (t1 - t0), "queue": 1000 * result.queue_s,
                       "model": 1000 * traj.timings.get("model", 0.0),
                       "pruner": 1000 * traj.timings.get("pruner", 0.0),
                       "total": 1000 * (time.perf_counter() - t0)}
            out = response(traj, body, state.model, {k: round(v, 3) for k, v in timings.items()},
                           result.batch_size)
            state.metrics.tokens_kept.labels(method=traj.pruning.method if traj.pruning.active else "none"
                                             ).observe(traj.num_kept)
            status = 200
            headers = {"X-FastDrive-Replica": REPLICA}
            if session:
                headers[SESSION_HEADER] = session
            return JSONResponse(out.model_dump(exclude_none=True), headers=headers)
        except FastDriveError as exc:
            status = exc.http_status
            raise
        finally:
            if state.metrics is not None:
                state.metrics.latency.labels(status=str(status)).observe(time.perf_counter() - t0)

    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory service.app:app_from_env`` (settings from ``FASTDRIVE_*``)."""
    return create_app(ServiceSettings())
