"""Schemas of strategy instances: create, promote, rollback in; the instance with its
versions, proposals (each guardrail's verdict) and performance out. Every rule beyond
shape is the domain's (``domain.strategy``), so the CLI refuses exactly what the API does."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serve.schemas.base import DecimalStr, PublicModel, QuantityStr

_Closed = ConfigDict(extra="forbid")
#: ``domain.strategy.config.INTERVALS``
Interval = Literal["1m", "5m", "15m", "1h", "1d"]
Number = float | int


class SizingIn(BaseModel):
    model_config = _Closed
    mode: Literal["fixed", "equity_fraction"] = "fixed"
    quantity: Decimal = Field(default=Decimal("1"), gt=0, le=Decimal("1000000"))
    fraction: Decimal = Field(default=Decimal("0"), ge=0, le=1)


class GuardrailsIn(BaseModel):
    model_config = _Closed
    margin: float = Field(default=0.0, ge=-1e6, le=1e6)
    min_trades: int = Field(default=1, ge=0, le=1_000_000)
    max_step: float = Field(default=0.5, ge=0, le=1e6)
    cooldown_s: float = Field(default=0.0, ge=0, le=1e9)


class DriftIn(BaseModel):
    model_config = _Closed
    threshold: float = Field(default=0.5, ge=0, le=1e6)
    window: int = Field(default=5, ge=1, le=10_000)


class InstanceCreate(BaseModel):
    model_config = _Closed
    strategy: str = Field(min_length=1, max_length=64, examples=["sma_cross"])
    symbols: list[str] = Field(min_length=1, max_length=50, examples=[["AAPL"]])
    bar_interval: Interval
    account_id: uuid.UUID
    params: dict[str, Number] = Field(examples=[{"n1": 10, "n2": 30}])
    sizing: SizingIn | None = None
    objective: str = Field(default="sharpe_ratio", max_length=64)
    auto_promote: bool = False
    auto_reoptimize: bool = False
    guardrails: GuardrailsIn | None = None
    drift: DriftIn | None = None
    #: an optimization request's ``data``, ``walk_forward`` and optional narrowed ``params``
    reoptimize: dict[str, Any] | None = None

    def to_spec(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "symbols": self.symbols,
            "bar_interval": self.bar_interval,
            "account_id": str(self.account_id),
            "params": self.params,
            "sizing": None
            if self.sizing is None
            else {
                "mode": self.sizing.mode,
                "quantity": str(self.sizing.quantity),
                "fraction": str(self.sizing.fraction),
            },
            "objective": self.objective,
            "auto_promote": self.auto_promote,
            "auto_reoptimize": self.auto_reoptimize,
            "guardrails": None if self.guardrails is None else self.guardrails.model_dump(),
            "drift": None if self.drift is None else self.drift.model_dump(),
            "reoptimize": self.reoptimize,
        }


class PromoteBody(BaseModel):
    """Exactly one of: a succeeded optimization job, explicit parameters, a waiting proposal."""

    model_config = _Closed
    job_id: uuid.UUID | None = None
    params: dict[str, Number] | None = None
    proposal_id: int | None = Field(default=None, ge=1, le=2**62)


class RollbackBody(BaseModel):
    model_config = _Closed
    reason: str = Field(default="", max_length=500)


class SizingPublic(PublicModel):
    mode: Literal["fixed", "equity_fraction"]
    quantity: QuantityStr
    fraction: DecimalStr


class GuardrailsPublic(PublicModel):
    margin: float
    min_trades: int
    max_step: float
    cooldown_s: float


class DriftPublic(PublicModel):
    threshold: float
    window: int


class InstancePublic(PublicModel):
    id: str
    owner_user_id: str
    strategy: str
    symbols: list[str]
    bar_interval: str
    account_id: str
    sizing: SizingPublic
    status: Literal["running", "stopped", "flagged"]
    trading: bool
    current_version: int
    params: dict[str, Number]
    objective: str
    auto_promote: bool
    auto_reoptimize: bool
    guardrails: GuardrailsPublic
    drift: DriftPublic
    reoptimize: dict[str, Any] | None
    reoptimize_job_id: str | None
    last_promoted_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, wire: dict[str, Any]) -> InstancePublic:
        return cls.model_validate({k: wire[k] for k in cls.model_fields})


class InstanceList(PublicModel):
    items: list[InstancePublic]


class VersionPublic(PublicModel):
    version: int
    params: dict[str, Number]
    source: str
    restores: int | None
    oos_score: float | None
    in_sample_score: float | None
    proposal_id: int | None
    created_at: datetime
    by: str


class VerdictPublic(PublicModel):
    guardrail: Literal["within_space", "out_of_sample", "min_trades", "step_limit", "cooldown"]
    passed: bool
    detail: str


class ProposalPublic(PublicModel):
    id: int
    params: dict[str, Any]
    source: str
    job_id: str | None
    in_sample_score: float | None
    oos_score: float | None
    trades: int | None
    verdicts: list[VerdictPublic]
    outcome: Literal["promoted", "refused"] | None
    version: int | None
    created_at: datetime
    decided_at: datetime | None
    by: str | None


class SamplePublic(PublicModel):
    id: int
    version: int
    kind: Literal["backtest", "walkforward_oos", "live"]
    score: float | None
    realized_pnl: DecimalStr | None
    unrealized_pnl: DecimalStr | None
    trades: int | None
    drawdown_pct: float | None
    job_id: str | None
    at: datetime


class InstanceDetail(InstancePublic):
    versions: list[VersionPublic]
    proposals: list[ProposalPublic]
    performance: list[SamplePublic]

    @classmethod
    def of(cls, wire: dict[str, Any]) -> InstanceDetail:
        def pick(model: type[PublicModel], row: dict[str, Any]) -> dict[str, Any]:
            return {k: row[k] for k in model.model_fields}

        return cls.model_validate(
            {
                **{k: wire[k] for k in InstancePublic.model_fields},
                "versions": wire["versions"],
                "proposals": [pick(ProposalPublic, p) for p in wire["proposals"]],
                "performance": [pick(SamplePublic, p) for p in wire["performance"]],
            }
        )


class DecisionPublic(PublicModel):
    instance_id: str
    proposal_id: int
    outcome: Literal["promoted", "refused"] | None
    source: str
    job_id: str | None = None
    params: dict[str, Any]
    version: int | None
    verdicts: list[VerdictPublic]
    failed: list[str]
