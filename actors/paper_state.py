"""Putting the paper engine back together after an actor restart, and the wire forms.

Why a subclass: ``domain.paper.PaperEngine`` admits orders only through ``submit`` (a
``pending_new`` order). A restarted actor must put *working* orders back exactly where
the database says they are, and the engine keeps per-order state (deadlines, trigger,
execution-id counter) that ``Order`` does not carry. ``RestorableEngine.restore`` rebuilds
that state from the stored order; it is the one place that touches the engine's private
book, so a later ``PaperEngine.restore`` in ``domain`` can replace it line for line.

How each piece of engine state is rebuilt from the stored ``Order``:

- the order itself: a copy with its status, filled qty/notional and execution ids;
- execution-id counter: the largest ``n`` of the stored ``"<order_id>-<n>"`` ids, so the
  next fill is ``n + 1`` and an id is never reused (and the DB dedupes by id anyway);
- ``live_from``: ``submitted_at + latency``, as at submission. (Quotes handed in again
  after a restart are screened per symbol by the desk, see ``PaperDesk.restore``.)
- day/opg/cls deadlines: the close of the session the order went live in; that is the
  session of ``submitted_at`` when it could trade then, else the next open after it
  (orders accepted while closed are released at the next open);
- stop trigger: ``True`` once anything filled; a stop-limit that triggered without
  filling re-arms (its trigger was never stored). A trailing stop's water mark restarts
  from the stored ``high_water_mark`` when there is one, else from the next quote (the
  engine moves the mark without an event, so the service does not store it today);
- pending cancel/replace: due at ``updated_at + latency``; the replacement is the stored
  ``pending_new`` order whose ``replaces`` is this order.
"""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.errors import Conflict, ValidationFailed
from domain.ids import ExecutionId, OrderId
from domain.marketdata import Quote
from domain.money import Price, Quantity
from domain.orders import FillDetail, Order, OrderEvent, OrderEventKind, OrderStatus, TimeInForce
from domain.paper import PaperEngine, TopOfBook, _Working

_S = OrderStatus
_STOPS = frozenset({"stop", "stop_limit", "trailing_stop"})
_ARMED = frozenset(
    {_S.NEW, _S.PARTIALLY_FILLED, _S.PENDING_CANCEL, _S.PENDING_REPLACE, _S.DONE_FOR_DAY}
)


def fill_counter(order: Order) -> int:
    """The largest ``n`` among the order's ``"<order_id>-<n>"`` execution ids (0 if none)."""
    prefix = f"{order.id}-"
    numbers = [
        int(tail)
        for eid in order.execution_ids
        if eid.startswith(prefix) and (tail := eid[len(prefix) :]).isdigit()
    ]
    return max(numbers, default=0)


class RestorableEngine(PaperEngine):
    """A ``PaperEngine`` that can take back orders it was working before a restart."""

    def restore(self, order: Order, *, replacement: Order | None = None) -> None:
        if order.status is _S.PENDING_NEW or order.status.is_terminal:
            raise ValidationFailed("order", "restorable", f"{order.status.value} is not working")
        if order.id in self._book:
            raise Conflict(f"order {order.id} is already in the paper engine")
        latency = self._model.latency
        mine = copy.deepcopy(order)
        submitted = order.submitted_at or order.created_at
        updated = order.updated_at or submitted
        working = _Working(order=mine, live_from=submitted + latency)
        working.fills = fill_counter(order)
        working.triggered = order.type.value in _STOPS and order.filled_qty > 0
        working.mark = order.high_water_mark
        if order.status in _ARMED:
            self._arm(working, self._went_live(order, submitted))
        if order.status in (_S.PENDING_CANCEL, _S.PENDING_REPLACE):
            working.settle_at = updated + latency
        if order.status is _S.PENDING_REPLACE and replacement is not None:
            working.replacement = copy.deepcopy(replacement)
        self._book[order.id] = working

    def _went_live(self, order: Order, submitted: datetime) -> datetime:
        """When the order started to trade: at submission if it could, else the next open."""
        if order.time_in_force is not TimeInForce.OPG and self._can_trade(order, submitted):
            return submitted
        return self._session.next_open(submitted)


# -- wire forms (Ray calls carry plain dicts) -------------------------------------------


def top_from_wire(data: dict[str, Any]) -> TopOfBook:
    """A quote from the feed's wire dict (``Quote.to_wire``) or TopOfBook-shaped fields."""
    if data.get("type") == "quote" or "bid_price" in data:
        return TopOfBook.adapt(Quote.from_wire({"provider": "paper", "seq": 0, **data}))
    at = data["at"]
    return TopOfBook(
        symbol=str(data["symbol"]),
        bid=Decimal(str(data["bid"])),
        ask=Decimal(str(data["ask"])),
        bid_size=Decimal(str(data["bid_size"])),
        ask_size=Decimal(str(data["ask_size"])),
        at=at if isinstance(at, datetime) else datetime.fromisoformat(str(at)),
    )


def event_to_wire(event: OrderEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": event.kind.value, "at": event.at.isoformat()}
    if event.reason is not None:
        out["reason"] = event.reason
    if event.replaced_by is not None:
        out["replaced_by"] = str(event.replaced_by)
    if event.is_fill:
        out |= {
            "execution_id": str(event.execution_id),
            "qty": str(event.qty),
            "price": str(event.price),
        }
    if event.detail is not None:
        out["detail"] = fill_detail_to_wire(event.detail)
    return out


def event_from_wire(data: dict[str, Any]) -> OrderEvent:
    detail = data.get("detail")
    return OrderEvent(
        OrderEventKind(data["kind"]),
        datetime.fromisoformat(data["at"]),
        execution_id=ExecutionId(data["execution_id"]) if "execution_id" in data else None,
        qty=Quantity(Decimal(data["qty"])) if "qty" in data else None,
        price=Price(Decimal(data["price"])) if "price" in data else None,
        reason=data.get("reason"),
        replaced_by=OrderId(data["replaced_by"]) if data.get("replaced_by") else None,
        detail=None
        if detail is None
        else FillDetail(
            Decimal(detail["reference_price"]),
            Decimal(detail["slippage_bps"]),
            Decimal(detail["quote_size"]),
            bool(detail["partial"]),
        ),
    )


def fill_detail_to_wire(detail: FillDetail) -> dict[str, Any]:
    return {
        "reference_price": str(detail.reference_price),
        "slippage_bps": str(detail.slippage_bps),
        "quote_size": str(detail.quote_size),
        "partial": detail.partial,
    }


def state_to_wire(order: Order, fills: list[OrderEvent], *, held: bool = False) -> dict[str, Any]:
    """What the broker knows of one order (``BrokerOrderState`` fields plus fill events).

    ``held`` marks a replacement the engine keeps until the old order's replace settles.
    """
    return {
        "known": True,
        "held": held,
        "broker_order_id": str(order.id),
        "client_order_id": str(order.client_order_id),
        "status": order.status.value,
        "filled_qty": str(order.filled_qty),
        "filled_avg_price": None if order.filled_avg_price is None else str(order.filled_avg_price),
        "fills": [event_to_wire(f) for f in fills],
        "reject_reason": order.reject_reason,
        "updated_at": None if order.updated_at is None else order.updated_at.isoformat(),
        "replaced_by": None if order.replaced_by is None else str(order.replaced_by),
    }
