"""The wire form of an order (Alpaca's order JSON) and of a ``trade_updates`` message.

One function for both the REST layer and the gateway, so a client sees the same order
whichever way it arrives. Numbers are strings (never floats) and times are RFC 3339 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.assets import asset_id
from domain.market_hours import MarketCalendar, queued_until
from domain.money import Money, Price, Quantity, decimal_text, money_text
from domain.orders import Order


def ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def num(value: Decimal | Price | Quantity | Money | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, Money):
        return money_text(value.amount, value.currency)
    if isinstance(value, Price | Quantity):
        return value.to_wire()
    return decimal_text(value)


def order_to_wire(order: Order, calendar: MarketCalendar | None = None) -> dict[str, Any]:
    """Alpaca-shaped order JSON; ``reject_reason`` and ``queued_until`` are ours (an order
    ``accepted`` outside its hours waits for the open; ``calendar`` says until when)."""
    return {
        "id": order.id,
        "client_order_id": str(order.client_order_id),
        "created_at": ts(order.created_at),
        "updated_at": ts(order.updated_at),
        # Alpaca always sends one: the broker's acknowledgement, until then the order's creation
        "submitted_at": ts(order.submitted_at or order.created_at),
        "filled_at": ts(order.filled_at),
        "expired_at": ts(order.expired_at),
        "canceled_at": ts(order.canceled_at),
        "failed_at": ts(order.failed_at),
        "replaced_at": ts(order.updated_at)
        if order.replaced_by and order.status == "replaced"
        else None,
        "replaced_by": order.replaced_by,
        "replaces": order.replaces,
        "asset_id": asset_id(str(order.symbol)),
        "symbol": str(order.symbol),
        "asset_class": "us_equity",
        "notional": num(order.notional),
        "qty": num(order.qty),
        "filled_qty": num(order.filled_qty),
        "filled_avg_price": num(order.filled_avg_price),
        "order_class": "",
        "order_type": order.type.value,
        "type": order.type.value,
        "side": order.side.value,
        "time_in_force": order.time_in_force.value,
        "limit_price": num(order.limit_price),
        "stop_price": num(order.stop_price),
        "status": order.status.value,
        "extended_hours": order.extended_hours,
        "legs": None,
        "trail_percent": num(order.trail_percent),
        "trail_price": num(order.trail_price),
        "hwm": num(order.high_water_mark),
        "reject_reason": order.reject_reason,
        "reject_code": order.reject_code,
        "queued_until": None if calendar is None else ts(queued_until(order, calendar)),
        "strategy_id": order.strategy_id,
    }


def trade_update(
    event: str,
    order: Order,
    at: datetime,
    *,
    price: Decimal | None = None,
    qty: Decimal | None = None,
    position_qty: Decimal | None = None,
    calendar: MarketCalendar | None = None,
) -> dict[str, Any]:
    """A ``trade_updates`` message; fills carry ``price``, ``qty`` and ``position_qty``."""
    wire = order_to_wire(order, calendar)
    data: dict[str, Any] = {"event": event, "order": wire, "timestamp": ts(at)}
    if price is not None:
        data["price"] = num(price)
    if qty is not None:
        data["qty"] = num(qty)
    if position_qty is not None:
        data["position_qty"] = num(position_qty)
    return data
