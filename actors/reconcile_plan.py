"""What the database missed: the events that bring a stored order up to the broker's view.

Pure (no I/O): the reconciler asks the broker, loads the order, and applies what
``catch_up`` returns through ``OrderService.apply_events``. Every event is tried on a copy
of the order first, so the plan only holds events the state machine accepts, in an order
it accepts them:

1. acknowledgement: a stored ``pending_new`` the broker has taken becomes ``accepted``
   (``ACCEPT_CLOSED``) or ``new`` (``ACKNOWLEDGE``), or ``rejected`` with its reason;
   a stored ``accepted`` the broker has released gets ``RELEASE``;
2. fills the order does not have, by execution id (the service dedupes them too, so a
   plan applied twice books nothing twice);
3. a terminal status the broker reports and the store lacks: ``canceled``, ``expired``,
   ``rejected``, ``replaced``.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from actors.paper_state import event_from_wire
from domain.errors import DomainError
from domain.ids import ExecutionId, OrderId
from domain.money import Price, Quantity
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus
from domain.ports import BrokerOrderState

log = logging.getLogger(__name__)

_E = OrderEventKind
_S = OrderStatus
_WORKING = frozenset({_S.NEW, _S.PARTIALLY_FILLED, _S.FILLED, _S.DONE_FOR_DAY})
_REASON = "reconciled: broker reports {}"


@dataclass(frozen=True)
class BrokerView:
    """One broker's answer about one order, whichever broker it is."""

    known: bool
    status: OrderStatus | None = None
    fills: tuple[OrderEvent, ...] = ()
    reject_reason: str | None = None
    replaced_by: OrderId | None = None
    held: bool = False  # a replacement the broker keeps until the old order settles

    @property
    def unacknowledged(self) -> bool:
        return not self.held and (not self.known or self.status is _S.PENDING_NEW)


def view_from_paper(data: dict[str, Any]) -> BrokerView:
    if not data.get("known"):
        return BrokerView(known=False)
    return BrokerView(
        known=True,
        status=_S(data["status"]),
        fills=tuple(event_from_wire(f) for f in data.get("fills", [])),
        reject_reason=data.get("reject_reason"),
        replaced_by=OrderId(data["replaced_by"]) if data.get("replaced_by") else None,
        held=bool(data.get("held")),
    )


def view_from_state(order: Order, state: BrokerOrderState | None) -> BrokerView:
    """A REST snapshot (Alpaca): the fill since the stored cumulative figures becomes one
    deterministic execution (``BrokerOrderState.fill_since``)."""
    if state is None:
        return BrokerView(known=False)
    stored = BrokerOrderState(
        broker_order_id=state.broker_order_id,
        client_order_id=state.client_order_id,
        status=order.status,
        filled_qty=order.filled_qty,
        filled_avg_price=order.filled_avg_price,
    )
    fills: tuple[OrderEvent, ...] = ()
    fill = state.fill_since(stored)
    if fill is not None:
        kind = _E.FILL if state.status is _S.FILLED else _E.PARTIAL_FILL
        fills = (
            OrderEvent(
                kind,
                fill.at,
                execution_id=ExecutionId(fill.execution_id),
                qty=Quantity(fill.qty),
                price=Price(_price(fill.price)),
            ),
        )
    return BrokerView(
        known=True,
        status=state.status,
        fills=fills,
        reject_reason=state.reject_reason,
        replaced_by=OrderId(state.replaced_by) if state.replaced_by else None,
    )


def _price(value: Decimal) -> Decimal:
    """A recovered average may carry more places than a price may: keep 9."""
    return value.quantize(Decimal("1e-9")).normalize()


def catch_up(order: Order, view: BrokerView, now: datetime) -> list[OrderEvent]:
    work = copy.deepcopy(order)
    out: list[OrderEvent] = []

    def push(event: OrderEvent) -> None:
        try:
            if work.apply(event):
                out.append(event)
        except DomainError as exc:
            log.info("reconcile %s: skipping %s (%s)", order.id, event.kind.value, exc)

    status = view.status
    if not view.known or status is None:
        return out
    if work.status is _S.PENDING_NEW and status is not _S.PENDING_NEW:
        if status is _S.REJECTED:
            push(
                OrderEvent(_E.REJECT, now, reason=view.reject_reason or _REASON.format("rejected"))
            )
            return out
        push(OrderEvent(_E.ACCEPT_CLOSED if status is _S.ACCEPTED else _E.ACKNOWLEDGE, now))
    missing = [f for f in view.fills if f.execution_id not in work.execution_ids]
    if work.status is _S.ACCEPTED and (status in _WORKING or missing):
        push(OrderEvent(_E.RELEASE, now))
    for fill in missing:
        push(fill)
    if status.is_terminal and not work.status.is_terminal:
        if status is _S.CANCELED:
            push(OrderEvent(_E.CANCELED, now, reason=_REASON.format("canceled")))
        elif status is _S.EXPIRED:
            push(OrderEvent(_E.EXPIRE, now, reason=_REASON.format("expired")))
        elif status is _S.REJECTED:
            push(OrderEvent(_E.REJECT, now, reason=view.reject_reason or _REASON.format(status)))
        elif status is _S.REPLACED and view.replaced_by is not None:
            push(OrderEvent(_E.REPLACED, now, replaced_by=view.replaced_by))
    return out
