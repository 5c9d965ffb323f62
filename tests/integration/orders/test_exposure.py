"""The SQL-summed reservations agree with ``domain.ledger.reservation`` to the cent."""

from __future__ import annotations

from decimal import Decimal

from cluster.orders import repository as repo
from cluster.orders.service import OrderService
from domain.clock import FakeClock
from domain.ids import ExecutionId
from domain.money import Price, Quantity
from domain.order_request import OrderRequest, ReplaceRequest
from domain.orders import OrderEvent, OrderEventKind, OrderStatus
from domain.risk import checks as risk
from tests.integration.orders.conftest import FakeQuotes
from tests.integration.orders.helpers import limit_buy, limit_sell

K = OrderEventKind


def _buy(service: OrderService, account: str, **fields: str) -> str:
    request = OrderRequest.parse(symbol=fields.pop("symbol", "AAPL"), side="buy", **fields)
    order = service.submit(account, request).order
    assert order.status is OrderStatus.PENDING_NEW, order.reject_reason
    return order.id


def test_sql_reservations_match_the_domain_formula(
    service: OrderService, account: str, clock: FakeClock, quotes: FakeQuotes
) -> None:
    service.fund(account, Decimal("100000.00"))
    quotes.set("AAPL", "50.00", "50.01")
    quotes.set("MSFT", "300.00", "300.07")
    ack = OrderEvent(K.ACKNOWLEDGE, at=clock.now())

    partial = _buy(
        service, account, type="limit", time_in_force="gtc", qty="3", limit_price="10.01"
    )
    service.apply_events(
        partial,  # type: ignore[arg-type]
        [
            ack,
            OrderEvent(
                K.PARTIAL_FILL,
                at=clock.now(),
                execution_id=ExecutionId(f"e-{partial}"),
                qty=Quantity(Decimal(1)),
                price=Price(Decimal("10.00")),
            ),
        ],
    )
    notional = _buy(service, account, type="market", time_in_force="day", notional="123.45")
    service.apply_events(
        notional,  # type: ignore[arg-type]
        [
            ack,
            OrderEvent(
                K.PARTIAL_FILL,
                at=clock.now(),
                execution_id=ExecutionId(f"n-{notional}"),
                qty=Quantity(Decimal("0.5")),
                price=Price(Decimal("46.90")),
            ),
        ],
    )
    _buy(service, account, type="limit", time_in_force="day", qty="0.333", limit_price="10.07")
    _buy(service, account, type="stop", time_in_force="day", qty="2", stop_price="20.03")
    _buy(
        service,
        account,
        type="stop_limit",
        time_in_force="day",
        qty="1",
        stop_price="5",
        limit_price="5.55",
    )
    _buy(service, account, type="market", time_in_force="day", qty="2")
    _buy(
        service,
        account,
        symbol="MSFT",
        type="trailing_stop",
        time_in_force="day",
        qty="1",
        trail_price="1.00",
    )
    old = _buy(service, account, type="limit", time_in_force="day", qty="4", limit_price="9.99")
    service.apply_events(old, [ack])  # type: ignore[arg-type]
    replace = ReplaceRequest.parse(service.get(account, old), limit_price="10.50")  # type: ignore[arg-type]
    service.request_replace(account, old, replace)  # type: ignore[arg-type]
    # The old order fills partly before the replace lands: its remainder and the whole
    # replacement both stay reserved, in SQL as in Python.
    service.apply_events(
        old,  # type: ignore[arg-type]
        [
            OrderEvent(
                K.PARTIAL_FILL,
                at=clock.now(),
                execution_id=ExecutionId(f"r-{old}"),
                qty=Quantity(Decimal(1)),
                price=Price(Decimal("9.99")),
            )
        ],
    )
    canceled = _buy(
        service, account, type="limit", time_in_force="day", qty="1", limit_price="1.00"
    )
    service.apply_events(canceled, [ack, OrderEvent(K.CANCELED, at=clock.now())])  # type: ignore[arg-type]
    service.fund(account, Decimal("100.00"))
    service.submit(account, limit_buy(qty="1", price="1.00", symbol="IBM"))
    service.submit(account, limit_sell(qty="1", price="99.00"))  # rejected: nothing held

    with service.db.session() as s:
        opens = repo.open_orders(s, account_id=account)
    asks = {"AAPL": Decimal("50.01"), "MSFT": Decimal("300.07")}
    in_python = risk.reserved_cash(opens, asks, service.reserve_buffer_bps)
    assert in_python > 0
    assert OrderStatus.PENDING_REPLACE in {o.status for o in opens}
    assert service.buying_power(account) == service.cash(account) - in_python
    assert service.check_invariants(account) == []
