"""Optimization routes: thin calls into ``OptimizationService`` (quant and admin roles).

``POST /v1/optimizations`` checks the request and the data before storing anything (a bad
input is a 422 problem naming the field and no task runs), stores the job ``queued`` and
starts its driver as a detached Ray actor, then answers 202 at once: Serve never waits for
a job. Progress is on ``GET /v1/optimizations/{id}`` and on the gateway's ``jobs`` channel.
Another user's job answers 404; admins may read any job.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from cluster.optimization.service import OptimizationService
from domain.errors import TransientError
from serve.deps import CurrentUser, Principal, QuantUser
from serve.schemas import optimization as sc
from serve.schemas.problem import problem_responses
from serve.services import Services

PREFIX = "/v1/optimizations"
#: the one route whose body is a file: its own size limit (``ELSON_MAX_UPLOAD_BYTES``)
UPLOAD_PATH = f"{PREFIX}/uploads"


def _reader(p: Principal) -> str | None:
    return None if p.role == "admin" else str(p.user_id)


def build_service(services: Services) -> OptimizationService:
    from pathlib import Path

    settings = services.settings

    def cpus() -> int:
        import ray

        if not ray.is_initialized():
            return 1
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def launch(job_id: str, attempt: int) -> None:
        import ray

        from actors.optimize_launcher import launch as start_driver

        if not ray.is_initialized():
            raise TransientError("the Ray cluster is not available to run the job")
        start_driver(settings, job_id, attempt)

    dirs = [Path(d.strip()) for d in settings.optimize_data_dirs.split(",") if d.strip()]
    return OptimizationService(
        services.db,
        max_grid=settings.optimize_max_grid,
        cpus=cpus,
        launch=launch,
        data_dirs=dirs,
        entitlements=services.entitlements,
    )


def register(app: FastAPI, services: Services) -> None:
    service = build_service(services)
    router = APIRouter(tags=["optimization"])

    @router.get(
        "/v1/strategies",
        operation_id="list_strategies",
        summary="The strategies and their parameter spaces, as data",
        responses=problem_responses(401),
    )
    async def strategies(_: CurrentUser) -> sc.StrategiesPublic:
        from domain.backtest import OBJECTIVES, STRATEGIES

        items = [sc.StrategyPublic.model_validate(s.as_dict()) for s in STRATEGIES.values()]
        return sc.StrategiesPublic(items=items, objectives=dict(OBJECTIVES))

    @router.post(
        PREFIX,
        status_code=202,
        operation_id="create_optimization",
        summary="Submit an optimization job (checked before anything runs)",
        responses=problem_responses(401, 403, 404, 422, 503),
    )
    async def create(body: sc.OptimizationCreate, p: QuantUser) -> sc.OptimizationPublic:
        request = body.to_domain()
        job = await run_in_threadpool(
            service.submit, request, owner_user_id=str(p.user_id), via="api"
        )
        return sc.OptimizationPublic.of(await run_in_threadpool(service.view, job.id))

    @router.post(
        UPLOAD_PATH,
        status_code=201,
        operation_id="upload_optimization_bars",
        summary="Upload a CSV or Parquet file of bars (raw body); use its id as data",
        responses=problem_responses(401, 403, 422),
    )
    async def upload(
        request: Request,
        p: QuantUser,
        filename: Annotated[str, Query(max_length=200, pattern=r"^[\w.\-]+$")] = "bars.csv",
    ) -> sc.UploadPublic:
        content = await request.body()
        uid, n = await run_in_threadpool(service.save_upload, content, filename, str(p.user_id))
        return sc.UploadPublic(upload_id=uid, n_bars=n)

    @router.get(
        PREFIX,
        operation_id="list_optimizations",
        summary="The caller's optimization jobs, newest first",
        responses=problem_responses(401, 403),
    )
    async def list_jobs(
        p: QuantUser, limit: Annotated[int, Query(ge=1, le=200)] = 50
    ) -> sc.OptimizationList:
        views = await run_in_threadpool(service.list_jobs, str(p.user_id), limit=limit)
        return sc.OptimizationList(items=[sc.OptimizationPublic.of(v) for v in views])

    @router.get(
        f"{PREFIX}/{{job_id}}",
        operation_id="get_optimization",
        summary="A job's status and progress (done/total, rate, ETA)",
        responses=problem_responses(401, 403, 404),
    )
    async def get(job_id: str, p: QuantUser) -> sc.OptimizationPublic:
        view = await run_in_threadpool(service.view, job_id, owner_user_id=_reader(p))
        return sc.OptimizationPublic.of(view)

    @router.get(
        f"{PREFIX}/{{job_id}}/trials",
        operation_id="list_optimization_trials",
        summary="A job's trials, paginated, sorted by the objective (best first by default)",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def trials(
        job_id: str,
        p: QuantUser,
        sort: Literal["score", "-score", "id"] | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> sc.TrialsPage:
        from domain.optimization_plan import best_first

        view = await run_in_threadpool(service.view, job_id, owner_user_id=_reader(p))
        order = sort or best_first(view.job.request.objective)
        _, found = await run_in_threadpool(
            service.trials, job_id, sort=order, limit=limit, offset=offset
        )
        return sc.TrialsPage(
            items=[sc.TrialPublic.of(t) for t in found],
            sort=order,  # type: ignore[arg-type]
            limit=limit,
            offset=offset,
            total=view.progress.done,
        )

    @router.post(
        f"{PREFIX}/{{job_id}}/cancel",
        status_code=202,
        operation_id="cancel_optimization",
        summary="Stop a job: its driver cancels the tasks in flight (idempotent)",
        responses=problem_responses(401, 403, 404, 409),
    )
    async def cancel(job_id: str, p: QuantUser) -> sc.OptimizationPublic:
        view = await run_in_threadpool(service.cancel, job_id, owner_user_id=_reader(p))
        return sc.OptimizationPublic.of(view)

    @router.post(
        f"{PREFIX}/{{job_id}}/resume",
        status_code=202,
        operation_id="resume_optimization",
        summary="Start a driver again for a job not done; stored chunks are not run again",
        responses=problem_responses(401, 403, 404, 409, 503),
    )
    async def resume(job_id: str, p: QuantUser) -> sc.OptimizationPublic:
        view = await run_in_threadpool(service.resume, job_id, owner_user_id=_reader(p))
        return sc.OptimizationPublic.of(view)

    @router.get(
        f"{PREFIX}/{{job_id}}/heatmap.png",
        operation_id="get_optimization_heatmap",
        summary="Heatmap of the objective over two parameters (best score per cell)",
        response_class=Response,
        responses={
            200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
            **problem_responses(401, 403, 404, 422),
        },
    )
    async def heatmap(
        job_id: str,
        p: QuantUser,
        x: Annotated[str, Query(max_length=64)],
        y: Annotated[str, Query(max_length=64)],
    ) -> Response:
        png = await run_in_threadpool(service.heatmap_png, job_id, x, y, owner_user_id=_reader(p))
        return Response(png, media_type="image/png")

    for fmt, media, model in (
        ("csv", "text/csv", None),
        ("json", "application/json", sc.OptimizationExport),
    ):
        _export_route(router, service, fmt, media, model)
    app.include_router(router)


def _export_route(
    router: APIRouter, service: OptimizationService, fmt: str, media: str, model: type | None
) -> None:
    ok: dict[str, Any] = {"content": {media: {"schema": {"type": "string"}}}}
    if model is not None:
        ok = {"model": model, "content": {media: {}}}

    @router.get(
        f"{PREFIX}/{{job_id}}/export.{fmt}",
        operation_id=f"export_optimization_{fmt}",
        summary=f"Every trial of a job as {fmt.upper()}, best first",
        response_class=Response,
        responses={200: ok, **problem_responses(401, 403, 404)},
    )
    async def export(job_id: str, p: QuantUser) -> Response:
        body = await run_in_threadpool(service.export, job_id, fmt, owner_user_id=_reader(p))
        headers = {"content-disposition": f'attachment; filename="optimization-{job_id}.{fmt}"'}
        return Response(body, media_type=media, headers=headers)
