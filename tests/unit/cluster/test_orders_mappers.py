"""An order survives the trip to a row and back unchanged (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cluster.orders import mappers
from domain.ids import AccountId, ExecutionId, OrderId
from domain.money import Price, Quantity
from domain.order_request import OrderRequest
from domain.orders import OrderEvent, OrderEventKind, OrderStatus

AT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def test_order_round_trips_through_row_values_with_execution_ids() -> None:
    request = OrderRequest.parse(
        symbol="MSFT",
        side="buy",
        type="trailing_stop",
        time_in_force="gtc",
        qty="3",
        trail_percent="1.5",
    )
    order = request.to_order(
        OrderId("0f8c6a4e-1111-4222-8333-444455556666"),
        AccountId("7a1c6a4e-1111-4222-8333-444455556666"),
        AT,
    )
    order.apply(OrderEvent(OrderEventKind.ACKNOWLEDGE, at=AT))
    order.apply(
        OrderEvent(
            OrderEventKind.PARTIAL_FILL,
            at=AT + timedelta(seconds=1),
            execution_id=ExecutionId("ex-1"),
            qty=Quantity(Decimal(1)),
            price=Price(Decimal("300.333")),
        )
    )
    order.apply(OrderEvent(OrderEventKind.CANCEL_REQUESTED, at=AT + timedelta(seconds=2)))
    row = mappers.insert_values(order, fingerprint="fp", idempotency_key=None, broker="paper")
    back = mappers.order_from_row(row, ["ex-1"])
    assert back == order
    assert back.status is OrderStatus.PENDING_CANCEL
    assert back.resume_status is OrderStatus.PARTIALLY_FILLED


def test_event_detail_keeps_what_replays_need() -> None:
    fill = OrderEvent(
        OrderEventKind.FILL,
        at=AT,
        execution_id=ExecutionId("ex-9"),
        qty=Quantity(Decimal("2")),
        price=Price(Decimal("1.5")),
    )
    assert mappers.event_detail(fill) == {"execution_id": "ex-9", "qty": "2", "price": "1.5"}
    reject = OrderEvent(OrderEventKind.REJECT, at=AT, reason="no")
    assert mappers.event_detail(reject) == {"reason": "no"}
