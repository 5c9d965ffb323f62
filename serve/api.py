"""The REST API as a FastAPI app built from ``Services`` (no globals, nothing at import)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse

from cluster import metrics
from cluster.logging import request_id_var
from serve import problems
from serve.services import Services

VERSION = "0.1.0"


def create_api(services: Services) -> FastAPI:
    from serve.schemas.problem import problem_responses

    app = FastAPI(
        # every route may answer 400 for a body that cannot be parsed at all
        responses=problem_responses(400),
        title="Elson API",
        version=VERSION,
        description="Paper and live trading on a Ray cluster. Errors are RFC 9457 problems; "
        "see `GET /problems` for the registry of `type` values.",
    )
    app.state.services = services
    problems.install(app)
    app.middleware("http")(_request_context)

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Readiness of every dependency",
        responses={503: {"description": "A required dependency is down (same body)"}},
    )
    async def readyz() -> JSONResponse:
        report = await run_in_threadpool(services.readiness)
        return JSONResponse(report.as_json(), status_code=report.http_status)

    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics of the whole app",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics_endpoint() -> PlainTextResponse:
        text = await run_in_threadpool(metrics.gather_cluster_metrics)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @app.get("/problems", tags=["ops"], summary="Registry of problem types")
    async def problem_registry() -> list[dict[str, Any]]:
        return problems.registry_document()

    @app.get("/v1/version", tags=["ops"])
    async def version() -> dict[str, str]:
        return {"version": VERSION, "env": services.settings.env.value}

    from serve.routes import registrars

    for register in [*registrars(), *ROUTE_MODULES]:
        register(app, services)
    return app


#: Extra ``register(app, services)`` functions (tests add routes here).
ROUTE_MODULES: list[Callable[[FastAPI, Services], None]] = []


async def _request_context(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    rid = request.headers.get("x-request-id") or uuid.uuid4().hex
    if len(rid) > 64 or not rid.replace("-", "").isalnum():
        rid = uuid.uuid4().hex
    token = request_id_var.set(rid)
    started = time.perf_counter()
    status = 500
    try:
        try:
            response = await call_next(request)
        except Exception as exc:  # answer while the request id is still set
            problems.log.error("unhandled error", exc_info=exc)
            response = problems.problem("internal")
        status = response.status_code
        response.headers["x-request-id"] = rid
        return response
    finally:
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        elapsed_ms = (time.perf_counter() - started) * 1000
        tags = {"route": path, "method": request.method}
        metrics.http_requests().inc(1, tags | {"status": str(status)})
        metrics.http_latency().observe(elapsed_ms, tags)
        request_id_var.reset(token)
