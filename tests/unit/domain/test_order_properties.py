from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import IllegalTransition
from domain.ids import AccountId, ClientOrderId, ExecutionId, OrderId, Symbol
from domain.money import Price, Quantity
from domain.orders import (
    _TRANSITIONS,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderStatus,
    OrderType,
    Overfill,
    Side,
    TimeInForce,
)

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
E = OrderEventKind
REACHABLE = {OrderStatus.PENDING_NEW, *_TRANSITIONS.values(), OrderStatus.PARTIALLY_FILLED}

quantities = st.decimals(min_value="0.001", max_value="50", places=3)
prices = st.decimals(min_value="0.5", max_value="500", places=4)
fills = st.builds(
    lambda kind, n, qty, price: ("fill", kind, n, qty, price),
    st.sampled_from([E.FILL, E.PARTIAL_FILL]),
    st.integers(0, 12),  # a small pool of execution ids, so duplicates happen
    quantities,
    prices,
)
others = st.sampled_from([k for k in OrderEventKind if k not in (E.FILL, E.PARTIAL_FILL)]).map(
    lambda kind: ("other", kind, 0, None, None)
)
steps = st.lists(st.one_of(fills, fills, others), max_size=40)


def _order(qty: Decimal) -> Order:
    return Order(
        id=OrderId("ord-1"),
        account_id=AccountId("acct-1"),
        client_order_id=ClientOrderId("c-1"),
        symbol=Symbol("AAPL"),
        side=Side.BUY,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.GTC,
        created_at=T0,
        qty=Quantity(qty),
    )


def _event(step: tuple[str, OrderEventKind, int, Decimal | None, Decimal | None]) -> OrderEvent:
    tag, kind, n, qty, price = step
    at = T0 + timedelta(seconds=n)
    if tag == "fill":
        assert qty is not None and price is not None
        return OrderEvent(
            kind,
            at,
            execution_id=ExecutionId(f"x-{n}"),
            qty=Quantity(qty),
            price=Price(price),
        )
    if kind is E.REPLACED:
        return OrderEvent(kind, at, replaced_by=OrderId("ord-2"))
    return OrderEvent(kind, at)


@settings(max_examples=300, deadline=None, database=None)
@given(qty=st.decimals(min_value="1", max_value="100", places=2), script=steps)
def test_random_broker_events_keep_order_invariants(
    qty: Decimal, script: list[tuple[str, OrderEventKind, int, Decimal | None, Decimal | None]]
) -> None:
    order = _order(qty)
    order.apply(OrderEvent(E.ACKNOWLEDGE, T0))
    applied: dict[str, tuple[Decimal, Decimal]] = {}
    for step in script:
        event = _event(step)
        before = copy.deepcopy(order)
        try:
            changed = order.apply(event)
        except (IllegalTransition, Overfill):
            assert order == before  # refused events leave no trace
            continue
        if event.is_fill:
            assert event.execution_id is not None and event.qty and event.price
            if event.execution_id in applied:
                assert changed is False and order == before
            else:
                assert changed is True
                applied[event.execution_id] = (event.qty.value, event.price.value)

        assert order.status in REACHABLE
        assert order.filled_qty <= qty
        assert order.filled_qty == sum((q for q, _ in applied.values()), Decimal(0))
        if applied:
            notional = sum((Fraction(q) * Fraction(p) for q, p in applied.values()), Fraction(0))
            exact = notional / sum((Fraction(q) for q, _ in applied.values()), Fraction(0))
            assert order.filled_avg_price is not None
            assert abs(Fraction(order.filled_avg_price) - exact) <= Fraction(1, 2 * 10**12)
        else:
            assert order.filled_avg_price is None
        assert (order.status is OrderStatus.FILLED) == (order.filled_qty == qty)
