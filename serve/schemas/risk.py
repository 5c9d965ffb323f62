"""Risk engine API schemas: trading states, locks, breakers, limits, loss protections, the
kill switch."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serve.schemas.base import DecimalStr, PublicModel, Timestamp

ScopeText = Field(
    min_length=1,
    max_length=200,
    description="`global`, `account:<id>`, `strategy:<id>` or `symbol:<ticker>`",
    examples=["account:0b6f2d4e-8f0a-4c1e-9d1e-2f3a4b5c6d7e"],
)
Reason = Field(min_length=1, max_length=500, description="why (kept in the audit)")
State = Literal["active", "reducing", "halted"]


class StateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = ScopeText
    reason: str = Reason


class LockCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = ScopeText
    reason: str = Reason
    until: datetime | None = Field(default=None, description="release at this instant")
    duration_s: float | None = Field(default=None, gt=0, le=366 * 86_400)


class BreakerChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Reason


class LimitsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = ScopeText
    max_order_notional: DecimalStr | None = Field(default=None, gt=0)
    max_position_qty: DecimalStr | None = Field(default=None, gt=0)
    max_position_notional: DecimalStr | None = Field(default=None, gt=0)
    max_orders: int | None = Field(default=None, ge=1, description="orders per `per_s`")
    per_s: float = Field(default=1.0, gt=0, le=86_400)


class StopLossGuardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trades: int = Field(ge=1, le=1000, description="stop-outs in a row that lock the scope")
    lookback_s: float = Field(gt=0, le=366 * 86_400, description="within this window")
    lock_for_s: float = Field(gt=0, le=366 * 86_400, description="locked this long from then")


class ProtectionsUpdate(BaseModel):
    """Loss protections of an account (or a strategy); a rule left null is off."""

    model_config = ConfigDict(extra="forbid")
    scope: str = ScopeText
    daily_loss: DecimalStr | None = Field(default=None, gt=0, description="USD from day start")
    max_drawdown_pct: DecimalStr | None = Field(default=None, gt=0, le=100)
    on_breach: Literal["reducing", "halted"] = "reducing"
    stop_loss_guard: StopLossGuardSettings | None = None
    cooldown_s: float | None = Field(default=None, gt=0, le=366 * 86_400)


class KillSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = ScopeText
    reason: str = Reason
    flatten: bool = Field(default=False, description="also close every long position")


class AccountKillSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Reason
    flatten: bool = False


class StateChanged(PublicModel):
    changed: bool = Field(description="false: the scope was in that state already")
    scope: str
    previous: State
    state: State
    version: int


class ScopeStatePublic(PublicModel):
    scope: str
    state: State
    reason: str
    since: Timestamp
    by: str


class LockPublic(PublicModel):
    id: str
    scope: str
    reason: str
    created_at: Timestamp
    until: Timestamp | None
    by: str


class LimitsPublic(PublicModel):
    scope: str
    max_order_notional: DecimalStr | None
    max_position_qty: DecimalStr | None
    max_position_notional: DecimalStr | None
    max_orders: int | None
    per_s: float


class LimitsSet(PublicModel):
    scope: str
    limits: LimitsPublic
    version: int


class StopLossGuardPublic(PublicModel):
    trades: int
    lookback_s: float
    lock_for_s: float


class ProtectionsPublic(PublicModel):
    daily_loss: DecimalStr | None
    max_drawdown_pct: DecimalStr | None
    on_breach: Literal["reducing", "halted"]
    stop_loss_guard: StopLossGuardPublic | None
    cooldown_s: float | None


class ProtectionsSet(PublicModel):
    scope: str
    protections: ProtectionsPublic
    version: int


class BreakerPublic(PublicModel):
    breaker: str
    state: Literal["closed", "open", "half_open", "forced_open"]


class RiskBookPublic(PublicModel):
    """What applies now: ``states`` lists only scopes that are not active."""

    version: int
    states: list[ScopeStatePublic]
    locks: list[LockPublic]
    open_breakers: list[str]
    limits: list[LimitsPublic]

    @classmethod
    def of(cls, wire: dict[str, Any]) -> RiskBookPublic:
        return cls(
            version=wire["version"],
            states=[ScopeStatePublic(**s) for s in wire["states"]],
            locks=[LockPublic(**lock) for lock in wire["locks"]],
            open_breakers=wire["open_breakers"],
            limits=[LimitsPublic(scope=k, **v) for k, v in wire["limits"].items()],
        )


class AuditEntry(PublicModel):
    id: int
    at: datetime
    recorded_at: datetime
    by: str
    kind: Literal["state", "lock", "breaker", "limits"]
    subject: str
    from_state: str | None
    to_state: str
    reason: str


class KillReport(PublicModel):
    scope: str
    halt: StateChanged
    canceled: list[str]
    flatten_orders: list[str]
    refused: list[str]
