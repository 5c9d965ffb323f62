"""Ports: what the domain needs from the outside world, as Protocols.

Adapters in ``cluster/`` implement them; the domain and actors depend only on these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from domain.errors import DomainError
from domain.orders import Order, OrderStatus

# -- broker ---------------------------------------------------------------------------


class BrokerRejected(DomainError):
    """The broker refused the request definitively (4xx). Never retried.

    ``reason`` is the broker's own message, stored on the rejected order as is.
    """

    code = "broker-rejected"

    def __init__(
        self, reason: str, *, status_code: int | None = None, broker_code: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.broker_code = broker_code


@dataclass(frozen=True, slots=True)
class BrokerFill:
    """One execution. ``execution_id`` is the ledger's idempotency key."""

    execution_id: str
    qty: Decimal
    price: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class BrokerOrderState:
    """What the broker says about one order, in domain terms.

    ``filled_qty``/``filled_avg_price`` are cumulative. ``fills`` holds individual
    executions when the broker reports them; REST order snapshots (Alpaca) do not, so
    use ``fill_since`` to turn two snapshots into one deterministic incremental fill.
    ``replaced_by`` is set when the broker replaced this order with a new one.
    """

    broker_order_id: str
    client_order_id: str
    status: OrderStatus
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    fills: tuple[BrokerFill, ...] = field(default_factory=tuple)
    reject_reason: str | None = None
    updated_at: datetime | None = None
    replaced_by: str | None = None

    def fill_since(self, previous: BrokerOrderState | None) -> BrokerFill | None:
        """The execution between ``previous`` and this snapshot, or None if nothing filled.

        Its price is recovered from the two cumulative averages, and its id
        (``<broker_order_id>:<cumulative qty>``) is the same however often it is seen.
        """
        before_qty = previous.filled_qty if previous else Decimal(0)
        before_avg = (previous.filled_avg_price if previous else None) or Decimal(0)
        delta = self.filled_qty - before_qty
        if delta <= 0 or self.filled_avg_price is None or self.updated_at is None:
            return None
        notional = self.filled_qty * self.filled_avg_price - before_qty * before_avg
        return BrokerFill(
            execution_id=f"{self.broker_order_id}:{format(self.filled_qty.normalize(), 'f')}",
            qty=delta,
            price=notional / delta,
            at=self.updated_at,
        )


class BrokerPort(Protocol):
    """A broker that routes orders. Errors: ``BrokerRejected`` (definitive, no retry),
    ``TransientError`` (already retried with backoff; try later), ``OperatorError``
    (credentials or configuration: the adapter stops routing until reset)."""

    async def submit(self, order: Order, *, resend: bool = False) -> BrokerOrderState:
        """``resend``: an earlier attempt may have reached the broker (the dispatcher
        restarted mid-send); a duplicate client order id then answers the order it made."""
        ...

    async def get(self, order_id: str) -> BrokerOrderState | None: ...

    async def list_open(self) -> list[BrokerOrderState]: ...

    async def cancel(self, order_id: str) -> None: ...

    async def replace(
        self,
        order_id: str,
        qty: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail: Decimal | None = None,
        time_in_force: str | None = None,
    ) -> BrokerOrderState: ...
