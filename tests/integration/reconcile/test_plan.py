"""``catch_up`` (pure): the events that bring a stored order up to the broker's view."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from actors.reconcile_plan import BrokerView, catch_up, view_from_state
from domain.ids import AccountId, ExecutionId, OrderId
from domain.money import Price, Quantity
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus
from domain.ports import BrokerOrderState
from tests.kit.orders import request

E = OrderEventKind
S = OrderStatus
T = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def stored(qty: str = "10") -> Order:
    return request(type="limit", qty=qty, limit_price="100").to_order(
        OrderId(str(uuid.uuid4())), AccountId(str(uuid.uuid4())), T
    )


def fill(order: Order, n: int, qty: str, price: str = "99") -> OrderEvent:
    return OrderEvent(
        E.PARTIAL_FILL,
        T + timedelta(seconds=n),
        execution_id=ExecutionId(f"{order.id}-{n}"),
        qty=Quantity(Decimal(qty)),
        price=Price(Decimal(price)),
    )


def test_pending_new_when_broker_filled_then_acknowledge_then_fills() -> None:
    order = stored()
    view = BrokerView(True, S.FILLED, (fill(order, 1, "4"), fill(order, 2, "6")))
    plan = catch_up(order, view, T)
    assert [e.kind for e in plan] == [E.ACKNOWLEDGE, E.PARTIAL_FILL, E.PARTIAL_FILL]
    for event in plan:
        order.apply(event)
    assert order.status is S.FILLED


def test_fills_already_stored_then_not_planned_again() -> None:
    order = stored()
    order.apply(OrderEvent(E.ACKNOWLEDGE, T))
    first = fill(order, 1, "4")
    order.apply(first)
    assert catch_up(order, BrokerView(True, S.PARTIALLY_FILLED, (first,)), T) == []


def test_accepted_when_broker_released_and_canceled_then_release_then_canceled() -> None:
    order = stored()
    order.apply(OrderEvent(E.ACCEPT_CLOSED, T))
    plan = catch_up(order, BrokerView(True, S.CANCELED), T)
    assert [e.kind for e in plan] == [E.CANCELED]
    plan = catch_up(order, BrokerView(True, S.CANCELED, (fill(order, 1, "4"),)), T)
    assert [e.kind for e in plan] == [E.RELEASE, E.PARTIAL_FILL, E.CANCELED]


def test_unknown_to_broker_then_nothing_planned_and_counted_unacked() -> None:
    view = BrokerView(known=False)
    assert catch_up(stored(), view, T) == [] and view.unacknowledged
    assert not BrokerView(True, S.PENDING_NEW, held=True).unacknowledged


def test_rest_snapshot_when_cumulative_qty_grew_then_one_fill_at_the_implied_price() -> None:
    order = stored()
    order.apply(OrderEvent(E.ACKNOWLEDGE, T))
    snapshot = BrokerOrderState(
        "b-1", str(order.id), S.PARTIALLY_FILLED, Decimal("4"), Decimal("89.5"), updated_at=T
    )
    order.apply(catch_up(order, view_from_state(order, snapshot), T)[0])
    later = BrokerOrderState(
        "b-1", str(order.id), S.FILLED, Decimal("10"), Decimal("89.2"), updated_at=T
    )
    plan = catch_up(order, view_from_state(order, later), T)
    assert len(plan) == 1 and plan[0].qty == Quantity(Decimal("6"))
    assert plan[0].price == Price(Decimal("89"))
