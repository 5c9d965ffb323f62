"""Typed ``data`` of the gateway's ``event`` messages, one model per event stream.

Add a model here (and a message class in ``serve.gateway_schemas``) when a new stream
starts publishing; the WebSocket union in the OpenAPI then documents it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from domain.optimization import JobStatus
from serve.schemas.base import PriceStr, PublicModel, QuantityStr, Timestamp
from serve.schemas.trading import OrderPublic

#: Every ``trade_updates`` event name (``domain.orders.order_event_name``; a unit test
#: keeps the two equal).
TradeEventName = Literal[
    "pending_new",
    "accepted",
    "new",
    "partial_fill",
    "fill",
    "done_for_day",
    "canceled",
    "expired",
    "rejected",
    "pending_cancel",
    "pending_replace",
    "replaced",
    "order_cancel_rejected",
    "order_replace_rejected",
]


class TradeUpdate(PublicModel):
    """An order changed (``orders:<account>`` stream); fills carry price and quantities."""

    event: TradeEventName
    order: OrderPublic
    timestamp: Timestamp
    price: PriceStr | None = Field(default=None, description="fills only")
    qty: QuantityStr | None = Field(default=None, description="fills only: this fill")
    position_qty: QuantityStr | None = Field(
        default=None, description="fills only: the position afterwards"
    )


#: The ``jobs:<user>`` stream's event names (``actors.optimize_driver``).
JobEventName = Literal["optimization.status", "optimization.progress"]


class JobProgress(PublicModel):
    """An optimization job of the user moved: its status, or trials done of the total."""

    job_id: str
    status: JobStatus
    done: int = Field(ge=0, description="trials stored so far")
    total: int = Field(ge=0, description="trials the job will run")


#: A strategy instance's changes on its owner's ``jobs:<user>`` stream
#: (``cluster.strategies.state``: ``strategy_<action>``).
StrategyEventName = Literal[
    "strategy_created",
    "strategy_status",
    "strategy_proposed",
    "strategy_promoted",
    "strategy_refused",
    "strategy_rolled_back",
    "strategy_flagged",
    "strategy_reoptimize_submitted",
    "strategy_reoptimize_failed",
]


class StrategyChange(PublicModel):
    """A strategy instance changed: created, started/stopped, a proposal decided, a
    rollback, a drift flag or a re-optimization; ``audit_id`` is its audit record."""

    instance_id: str
    action: str
    by: str
    at: Timestamp
    from_version: int | None = None
    to_version: int | None = None
    audit_id: int
    failed: list[str] | None = Field(default=None, description="refused: the guardrails")
    outcome: str | None = None
    job_id: str | None = None
    reason: str | None = None


RiskEventName = Literal[
    "trading_state_changed",
    "breaker_opened",
    "breaker_closed",
    "lock_created",
    "lock_released",
    "order_denied",
]


class RiskChange(PublicModel):
    """A risk event (``cluster.risk.events``): a scope's trading state moved, a broker's
    breaker opened or closed, a lock was created or released, or an order was denied.
    Fields that do not apply to the event are null; ``version`` is the risk book's."""

    model_config = ConfigDict(populate_by_name=True)

    scope: str | None = Field(default=None, description="`global`, `account:<id>`, ...")
    from_: str | None = Field(default=None, alias="from", description="state before")
    to: str | None = Field(default=None, description="state after")
    reason: str | None = None
    by: str | None = Field(default=None, description="who or what made the change")
    at: Timestamp | None = None
    version: int | None = None
    breaker: str | None = Field(default=None, description="the broker whose breaker moved")
    event: str | None = Field(default=None, description="the breaker event")
    id: str | None = Field(default=None, description="the lock's id")
    created_at: Timestamp | None = None
    until: Timestamp | None = None
    released_by: str | None = None
    reason_released: str | None = None
    order_id: str | None = Field(default=None, description="the denied order (stored rejected)")
    symbol: str | None = None
    code: str | None = Field(default=None, description="the denial's reason code")
