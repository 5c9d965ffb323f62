"""Fixtures for the loss protections against the real PostgreSQL of the session.

Each test gets an account of its own (fresh UUIDs), so tests share the session database
without seeing each other's fills or watermarks; the clock and the quotes are fakes of the
outside world (``tests/integration/orders/conftest.py``), and time moves only when a test
moves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete

from cluster.db import Database, PoolSize
from cluster.orders.service import OrderService
from cluster.risk.engine import RiskEngine
from cluster.risk.protections import ProtectionMonitor
from cluster.risk.tables import risk_protections
from domain.clock import FakeClock
from domain.ids import AccountId, ExecutionId, OrderId
from domain.market_hours import MarketCalendar
from domain.money import Price, Quantity
from domain.order_request import OrderRequest
from domain.orders import Order, OrderEvent, OrderEventKind
from tests.integration.api.conftest import (  # noqa: F401  (the API fixtures, for test_route)
    api_services,
    api_settings,
    api_url,
    client,
    response_checker,
)
from tests.integration.orders.conftest import OPEN_TUESDAY, FakeQuotes, create_account

__all__ = ["OPEN_TUESDAY", "Trader"]


@pytest.fixture(scope="session")
def calendar() -> MarketCalendar:
    return MarketCalendar(date(2026, 1, 1), date(2027, 6, 30))


@pytest.fixture(scope="session")
def protections_db(database_url: str) -> Iterator[Database]:
    db = Database(database_url, PoolSize(4, 4), pool_timeout_s=10)
    yield db
    db.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(OPEN_TUESDAY)


@pytest.fixture
def quotes() -> FakeQuotes:
    return FakeQuotes()


@pytest.fixture
def service(
    protections_db: Database, clock: FakeClock, calendar: MarketCalendar, quotes: FakeQuotes
) -> OrderService:
    return OrderService(protections_db, clock, calendar, quotes)


@pytest.fixture
def engine(protections_db: Database, clock: FakeClock) -> RiskEngine:
    return RiskEngine(protections_db, clock)


@pytest.fixture
def monitor(engine: RiskEngine, service: OrderService, clock: FakeClock) -> ProtectionMonitor:
    return ProtectionMonitor(engine, service, clock)


@pytest.fixture
def account(database_url: str, protections_db: Database) -> Iterator[str]:
    """A fresh account; its protection settings go with the test, so later tests' monitors
    (which evaluate every configured account) do not keep evaluating it."""
    made = create_account(database_url)
    yield made
    with protections_db.session() as s:
        s.execute(delete(risk_protections).where(risk_protections.c.scope == f"account:{made}"))


class Trader:
    """Books round trips the way the broker reports them: an order, its ack, its fill."""

    def __init__(self, service: OrderService, clock: FakeClock, account: str) -> None:
        self.service, self.clock, self.account = service, clock, AccountId(account)
        self.seq = 0

    def fund(self, amount: str) -> None:
        self.service.fund(self.account, Decimal(amount))

    def fill(self, qty: str, price: str, **order: str) -> Order:
        request = OrderRequest.parse(symbol="AAPL", time_in_force="day", qty=qty, **order)
        placed = self.service.submit(self.account, request).order
        self.seq += 1
        at = self.clock.advance(timedelta(seconds=1))
        events = [
            OrderEvent(OrderEventKind.ACKNOWLEDGE, at=at),
            OrderEvent(
                OrderEventKind.FILL,
                at=at,
                execution_id=ExecutionId(f"x-{placed.id}-{self.seq}"),
                qty=Quantity(Decimal(qty)),
                price=Price(Decimal(price)),
            ),
        ]
        return self.service.apply_events(OrderId(str(placed.id)), events)

    def buy(self, qty: str, price: str) -> Order:
        return self.fill(qty, price, side="buy", type="limit", limit_price=price)

    def stop_out(self, qty: str, price: str) -> Order:
        """A stop sell that filled at ``price`` (its stop a cent above)."""
        stop = str(Decimal(price) + Decimal("0.01"))
        return self.fill(qty, price, side="sell", type="stop", stop_price=stop)

    def sell(self, qty: str, price: str) -> Order:
        return self.fill(qty, price, side="sell", type="limit", limit_price=price)

    def round_trip(self, entry: str, exit_price: str, *, stop: bool = True) -> Order:
        self.buy("1", entry)
        return self.stop_out("1", exit_price) if stop else self.sell("1", exit_price)


@pytest.fixture
def trader(service: OrderService, clock: FakeClock, account: str, quotes: FakeQuotes) -> Trader:
    quotes.set("AAPL", "99.99", "100.01")
    t = Trader(service, clock, account)
    t.fund("10000.00")
    return t


@pytest.fixture
def lines_of() -> Callable[[list[str], str], list[str]]:
    """What the monitor did for one account (other tests' accounts share the database)."""
    return lambda lines, account: [x for x in lines if x.startswith(f"account:{account}:")]
