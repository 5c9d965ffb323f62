"""Wire form of orders and trade updates: strings for numbers, RFC 3339 UTC times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from cluster.orders.wire import order_to_wire, trade_update
from domain.ids import AccountId, ExecutionId, OrderId
from domain.money import Price, Quantity
from domain.order_request import OrderRequest
from domain.orders import OrderEvent, OrderEventKind

AT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def _order():  # type: ignore[no-untyped-def]
    request = OrderRequest.parse(
        symbol="aapl",
        side="buy",
        type="limit",
        time_in_force="day",
        qty="10.50",
        limit_price="101.20",
        client_order_id="abc",
    )
    return request.to_order(OrderId("0f8c6a4e-1111-4222-8333-444455556666"), AccountId("a"), AT)


def test_order_to_wire_uses_strings_for_numbers_and_utc_z_times() -> None:
    order = _order()
    order.apply(
        OrderEvent(OrderEventKind.ACKNOWLEDGE, at=AT.astimezone(timezone(timedelta(hours=-5))))
    )
    wire = order_to_wire(order)
    assert wire["qty"] == "10.5" and wire["limit_price"] == "101.2"
    assert wire["filled_qty"] == "0" and wire["filled_avg_price"] is None
    assert wire["submitted_at"] == "2026-11-24T15:00:00Z"
    assert (wire["symbol"], wire["status"], wire["type"], wire["order_type"]) == (
        "AAPL",
        "new",
        "limit",
        "limit",
    )
    assert wire["client_order_id"] == "abc" and wire["notional"] is None
    assert not any(isinstance(v, float) for v in wire.values())


def test_trade_update_for_a_fill_carries_price_qty_and_position() -> None:
    order = _order()
    order.apply(OrderEvent(OrderEventKind.ACKNOWLEDGE, at=AT))
    fill = OrderEvent(
        OrderEventKind.PARTIAL_FILL,
        at=AT,
        execution_id=ExecutionId("x1"),
        qty=Quantity(Decimal("0.5")),
        price=Price(Decimal("101.10")),
    )
    order.apply(fill)
    data = trade_update(
        "partial_fill",
        order,
        AT,
        price=Decimal("101.10"),
        qty=Decimal("0.5"),
        position_qty=Decimal("0.50"),
    )
    assert (data["event"], data["price"], data["qty"], data["position_qty"]) == (
        "partial_fill",
        "101.1",
        "0.5",
        "0.5",
    )
    assert data["order"]["filled_avg_price"] == "101.1"
    assert data["timestamp"] == "2026-11-24T15:00:00Z"
