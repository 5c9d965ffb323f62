"""The paper broker's wire forms: quotes, events and order states as plain dicts.

Ray calls carry plain dicts; these functions are the one place that turns engine and
order values into them and back. (Restoring the engine after an actor restart is
``domain.paper.PaperEngine.restore``.)
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.ids import ExecutionId, OrderId
from domain.marketdata import Quote
from domain.money import Price, Quantity
from domain.orders import FillDetail, Order, OrderEvent, OrderEventKind
from domain.paper import TopOfBook

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
    if event.fee is not None:
        out["fee"] = str(event.fee)
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
        fee=Decimal(data["fee"]) if data.get("fee") is not None else None,
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
