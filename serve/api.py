"""The REST API as a FastAPI app built from ``Services`` (no globals, nothing at import)."""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse

from cluster import metrics
from cluster.logging import request_id_var
from serve import problems
from serve.openapi import install_openapi, operation_id
from serve.routes.optimization import UPLOAD_PATH
from serve.schemas import ops
from serve.services import Services

VERSION = "0.1.0"


def _metrics_refusal(services: Services, authorization: str | None) -> str | None:
    """``/metrics`` is internal (issue 15): behind ``ELSON_METRICS_TOKEN`` when set, and
    not served at all in staging/production without one (Prometheus scrapes Ray's
    metrics port inside the cluster); open in dev/test."""
    token = services.settings.metrics_token
    if token is None:
        return "not-found" if services.settings.env.is_protected else None
    given = (authorization or "").removeprefix("Bearer ").strip()
    if hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        return None
    return "unauthenticated"


def create_api(services: Services) -> FastAPI:
    from serve.schemas.problem import problem_responses

    app = FastAPI(
        generate_unique_id_function=operation_id,
        # every route may answer 400 for a body that cannot be parsed at all, and the
        # edges before routing answer any route 413 (body), 422 (NUL byte), 429 (rate)
        responses=problem_responses(400, 413, 422, 429),
        title="Elson API",
        version=VERSION,
        description="Paper and live trading on a Ray cluster. Errors are RFC 9457 problems; "
        "see `GET /problems` for the registry of `type` values.",
    )
    app.state.services = services
    problems.install(app)
    # Added inner first: request context (id, metrics) wraps rate limits, which wrap the
    # input edges (NUL bytes, body size), which wrap the routes.
    from serve import edges, limits

    edges.install(
        app,
        services.settings.max_body_bytes,
        larger={UPLOAD_PATH: services.settings.max_upload_bytes},
    )
    limits.install(app, services)
    app.middleware("http")(_request_context)

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    async def get_liveness() -> ops.Liveness:
        return ops.Liveness(status="alive")

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Readiness of every dependency",
        response_model=ops.Readiness,
        responses={503: {"model": ops.Readiness, "description": "A required dependency is down"}},
    )
    async def get_readiness() -> JSONResponse:
        report = await run_in_threadpool(services.readiness)
        body = ops.Readiness.of(report).model_dump(mode="json")
        return JSONResponse(body, status_code=report.http_status)

    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics of the whole app",
        response_class=PlainTextResponse,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            **problem_responses(401, 404),
        },
    )
    async def get_metrics(request: Request) -> Response:
        refused = _metrics_refusal(services, request.headers.get("authorization"))
        if refused is not None:
            return problems.problem(refused)
        text = await run_in_threadpool(metrics.gather_cluster_metrics)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @app.get("/problems", tags=["ops"], summary="Registry of problem types")
    async def list_problem_types() -> list[ops.ProblemType]:
        return ops.ProblemType.all(problems.registry_document())

    @app.get("/v1/version", tags=["ops"], summary="Version and environment")
    async def get_version() -> ops.VersionInfo:
        return ops.VersionInfo(version=VERSION, env=services.settings.env)

    from serve.routes import registrars

    for register in [*registrars(), *ROUTE_MODULES]:
        register(app, services)
    from serve.console.mount import mount_console

    mount_console(app)  # the web console's built files under /console (same origin)
    install_openapi(app)  # refuses duplicate operation ids; adds the WebSocket messages
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
        elapsed_s = time.perf_counter() - started
        tags = {"route": path, "method": request.method}
        metrics.http_requests().inc(1, tags | {"status": str(status)})
        metrics.http_latency().observe(elapsed_s, tags)
        request_id_var.reset(token)
