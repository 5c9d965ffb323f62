"""Typed ``data`` of the gateway's ``event`` messages, one model per event stream.

Add a model here (and a message class in ``serve.gateway_schemas``) when a new stream
starts publishing; the WebSocket union in the OpenAPI then documents it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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
