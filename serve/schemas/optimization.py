"""Schemas of the optimization API: the job request, the job with its progress, trials,
and the strategies' parameter spaces. Requests parse into ``OptimizationRequest``; every
rule beyond shape (strategy, space, grid limit, data) is the domain's, so the CLI and the
job refuse exactly what the API refuses."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.optimization import MAX_SIMULATED_BARS, JobStatus, OptimizationRequest
from serve.schemas.base import DecimalStr, MoneyStr, PublicModel

_Closed = ConfigDict(extra="forbid")


class DataSourceIn(BaseModel):
    model_config = _Closed
    kind: Literal["file", "upload", "replay", "simulated"]
    path: str | None = Field(
        None, max_length=1024, description="file/replay: a path the cluster can read"
    )
    upload_id: str | None = Field(
        None, max_length=64, description="upload: from POST /v1/optimizations/uploads"
    )
    symbol: str | None = Field(None, max_length=16, description="replay/simulated")
    bars: int | None = Field(
        None, ge=2, le=MAX_SIMULATED_BARS, description="simulated: number of daily bars"
    )
    seed: int = 0


class WalkForwardIn(BaseModel):
    model_config = _Closed
    train: int = Field(ge=2, description="bars in each in-sample window")
    test: int = Field(ge=2, description="bars in each out-of-sample window")
    mode: Literal["rolling", "expanding"] = "rolling"


class OptimizationCreate(BaseModel):
    model_config = _Closed
    strategy: str = Field(max_length=64, examples=["sma_cross"])
    data: DataSourceIn
    search: Literal["grid", "random", "bayesian"] = "grid"
    params: dict[str, list[float]] = Field(
        default_factory=dict,
        description="grid only: values per parameter",
        examples=[{"n1": [5, 10, 20]}],
    )
    n_trials: int | None = Field(None, ge=1, description="random and bayesian")
    seed: int = 0
    objective: str = Field("sharpe_ratio", max_length=64)
    min_trades: int = Field(0, ge=0)
    walk_forward: WalkForwardIn | None = None
    cash: Decimal = Field(Decimal("10000"), gt=0, max_digits=20, decimal_places=2)
    commission: Decimal = Field(
        Decimal("0"), ge=0, lt=Decimal("0.1"), max_digits=12, decimal_places=9
    )
    chunk_size: int | None = Field(None, ge=1, le=100_000)

    def to_domain(self) -> OptimizationRequest:
        return OptimizationRequest.from_dict(self.model_dump(mode="json"))


class ProgressPublic(PublicModel):
    done: int
    total: int
    fraction: float
    rate_per_s: float | None
    eta_s: float | None


class OptimizationPublic(PublicModel):
    id: str
    status: JobStatus
    via: Literal["cli", "job", "api"]
    strategy: str
    objective: str
    search: Literal["grid", "random", "bayesian"]
    cash: MoneyStr
    commission: DecimalStr
    request: dict[str, Any]
    total_chunks: int
    total_trials: int
    chunk_size: int
    n_bars: int
    restarts: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: ProgressPublic

    @classmethod
    def of(cls, view: Any) -> OptimizationPublic:
        job, p = view.job, view.progress
        return cls(
            id=job.id,
            status=job.status,
            via=job.via,
            strategy=job.request.strategy,
            objective=job.request.objective,
            search=job.request.search.value,
            cash=job.request.cash,
            commission=job.request.commission,
            request=job.request.as_dict(),
            total_chunks=job.total_chunks,
            total_trials=job.total_trials,
            chunk_size=job.chunk_size,
            n_bars=job.n_bars,
            restarts=job.restarts,
            error=job.error,
            created_at=job.created_at,
            updated_at=job.updated_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            progress=ProgressPublic(
                done=p.done,
                total=p.total,
                fraction=p.fraction,
                rate_per_s=p.rate_per_s,
                eta_s=p.eta_s,
            ),
        )


class OptimizationList(PublicModel):
    items: list[OptimizationPublic]


class TrialPublic(PublicModel):
    chunk: int
    position: int
    window: int | None
    params: dict[str, float]
    score: float | None
    stats: dict[str, float | int | None]
    in_sample_score: float | None
    in_sample_stats: dict[str, float | int | None] | None

    @classmethod
    def of(cls, t: Any) -> TrialPublic:
        return cls(
            chunk=t.chunk_index,
            position=t.position,
            window=t.window_index,
            params=t.params,
            score=t.score,
            stats=t.stats,
            in_sample_score=t.in_sample_score,
            in_sample_stats=t.in_sample_stats,
        )


class TrialsPage(PublicModel):
    items: list[TrialPublic]
    sort: Literal["score", "-score", "id"]
    limit: int
    offset: int
    total: int


class OptimizationExport(PublicModel):
    """``GET /v1/optimizations/{id}/export.json``: the request and every trial, best first."""

    id: str
    status: JobStatus
    request: dict[str, Any]
    trials: list[TrialPublic]


class ParamSpecPublic(PublicModel):
    name: str
    low: float
    high: float
    step: float
    integer: bool


class StrategyPublic(PublicModel):
    name: str
    description: str
    params: list[ParamSpecPublic]
    constraints: list[str]
    grid_size: int


class StrategiesPublic(PublicModel):
    items: list[StrategyPublic]
    objectives: dict[str, Literal["maximize", "minimize"]]


class UploadPublic(PublicModel):
    upload_id: str
    n_bars: int
