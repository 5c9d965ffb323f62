"""Broker events: fills booked to the cent, replays are no-ops, one transaction each."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from cluster.orders import ledger_repo
from cluster.orders.service import OrderService
from domain.clock import FakeClock
from domain.errors import IllegalTransition
from domain.ids import ExecutionId
from domain.money import Price, Quantity
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus, Overfill
from tests.integration.orders import helpers
from tests.integration.orders.conftest import Recorder
from tests.integration.orders.helpers import limit_buy

K = OrderEventKind


def _ack(clock: FakeClock) -> OrderEvent:
    return OrderEvent(K.ACKNOWLEDGE, at=clock.now())


def _fill(clock: FakeClock, eid: str, qty: str, price: str) -> OrderEvent:
    return OrderEvent(
        K.PARTIAL_FILL,
        at=clock.advance(timedelta(seconds=1)),
        execution_id=ExecutionId(eid),
        qty=Quantity(Decimal(qty)),
        price=Price(Decimal(price)),
    )


def _working(service: OrderService, account: str, clock: FakeClock, qty: str = "3") -> Order:
    service.fund(account, Decimal("1000.00"))
    order = service.submit(account, limit_buy(qty=qty, price="40.00")).order
    return service.apply_events(order.id, [_ack(clock)])


def _counts(service: OrderService, order: Order) -> tuple[int, int, int]:
    with service.db.session() as s:
        row = s.execute(
            text(
                "SELECT (SELECT count(*) FROM fills WHERE order_id = :o), "
                "(SELECT count(*) FROM order_events WHERE order_id = :o), "
                "(SELECT count(*) FROM journal_entries WHERE account_id = :a)"
            ),
            {"o": order.id, "a": order.account_id},
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def test_fills_are_booked_to_the_cent_per_execution(
    service: OrderService, account: str, clock: FakeClock
) -> None:
    order = _working(service, account, clock)
    order = service.apply_events(
        order.id, [_fill(clock, f"x-{order.id}-{i}", "1", "33.333") for i in range(3)]
    )
    assert order.status is OrderStatus.FILLED
    assert order.filled_qty == 3
    # Three executions of 1 @ 33.333 cost 3 x 33.33 (the broker charges per execution).
    assert service.cash(account) == Decimal("1000.00") - Decimal("99.99")
    [position] = service.positions(account)
    assert (position.symbol, position.qty, position.cost_basis) == ("AAPL", 3, Decimal("99.99"))
    assert position.avg_entry_price == Decimal("33.330000000000")
    with service.db.session() as s:
        balances = ledger_repo.balances(s, account)
    assert balances["trades"] == Decimal("99.99")
    assert balances["position:AAPL"] == 3 and balances["market:AAPL"] == -3
    assert service.check_invariants(account) == []


def test_duplicate_execution_id_is_a_no_op(
    service: OrderService, account: str, clock: FakeClock, published: Recorder
) -> None:
    order = _working(service, account, clock)
    fill = _fill(clock, f"dup-{order.id}", "1", "40.00")
    service.apply_events(order.id, [fill])
    before = _counts(service, order)
    sent = len(published.calls)
    again = service.apply_events(order.id, [fill])
    assert again.filled_qty == 1
    assert _counts(service, order) == before
    assert service.cash(account) == Decimal("960.00")
    assert len(published.calls) == sent


def test_failure_after_status_update_leaves_everything_as_before(
    service: OrderService, account: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = _working(service, account, clock)
    before = (service.get(account, order.id), _counts(service, order), service.cash(account))

    def boom(*_: object) -> bool:
        raise RuntimeError("injected failure after the order row was updated")

    monkeypatch.setattr(ledger_repo, "insert_entry", boom)
    with pytest.raises(RuntimeError, match="injected"):
        service.apply_events(order.id, [_fill(clock, f"f-{order.id}", "3", "40.00")])
    after = (service.get(account, order.id), _counts(service, order), service.cash(account))
    assert after == before
    assert after[0].status is OrderStatus.NEW


def test_overfill_is_refused_and_changes_nothing(
    service: OrderService, account: str, clock: FakeClock
) -> None:
    order = _working(service, account, clock, qty="2")
    with pytest.raises(Overfill):
        service.apply_events(order.id, [_fill(clock, f"o-{order.id}", "3", "40.00")])
    assert service.get(account, order.id).filled_qty == 0
    assert service.cash(account) == Decimal("1000.00")


def test_illegal_event_in_a_batch_rolls_back_the_whole_batch(
    service: OrderService, account: str, clock: FakeClock
) -> None:
    order = _working(service, account, clock)
    batch = [
        _fill(clock, f"b1-{order.id}", "3", "40.00"),  # fills the order
        OrderEvent(K.EXPIRE, at=clock.now()),  # filled -> expire is illegal
    ]
    with pytest.raises(IllegalTransition):
        service.apply_events(order.id, batch)
    assert service.get(account, order.id).status is OrderStatus.NEW
    assert service.cash(account) == Decimal("1000.00")


def test_fill_publishes_trade_update_with_price_qty_and_position(
    service: OrderService, account: str, clock: FakeClock, published: Recorder
) -> None:
    order = _working(service, account, clock)
    service.apply_events(
        order.id,
        [
            _fill(clock, f"p1-{order.id}", "1", "40.00"),
            _fill(clock, f"p2-{order.id}", "2", "39.50"),
        ],
    )
    (_, first, d1), (_, second, d2) = published.calls[-2:]
    assert (first, d1["qty"], d1["price"], d1["position_qty"]) == ("partial_fill", "1", "40", "1")
    assert (second, d2["position_qty"], d2["order"]["status"]) == ("fill", "3", "filled")
    assert d2["order"]["filled_qty"] == "3"


def test_sell_after_buy_keeps_average_cost(
    service: OrderService, account: str, clock: FakeClock
) -> None:
    order = _working(service, account, clock, qty="4")
    service.apply_events(order.id, [_fill(clock, f"s1-{order.id}", "4", "25.00")])
    limit_sell = service.submit(account, helpers.limit_sell(qty="1", price="30.00")).order
    too_many = service.submit(account, helpers.limit_sell(qty="4", price="30.00")).order
    assert too_many.reject_reason == ("sells 4 AAPL, sellable 3 (no short selling in paper)")
    assert limit_sell.status is OrderStatus.PENDING_NEW
    service.apply_events(limit_sell.id, [_ack(clock), _fill(clock, f"s2-{order.id}", "1", "30")])
    [position] = service.positions(account)
    assert (position.qty, position.avg_entry_price, position.cost_basis) == (
        3,
        Decimal("25.000000000000"),
        Decimal("75.00"),
    )
    assert service.cash(account) == Decimal("1000.00") - Decimal("100.00") + Decimal("30.00")
    assert service.check_invariants(account) == []
