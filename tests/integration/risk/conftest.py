"""Fixtures for the risk engine's edge on PostgreSQL, without Ray.

The risk state is database-wide (a global halt applies to every account), so these tests
share a database of their own, made once for the package; the ``engine`` fixture clears
the states, locks, breakers and limits when its test ends (the audit stays: it is
append-only, and each test reads only its own subjects). Time is a ``FakeClock`` and a
fake ``monotonic``; nothing sleeps.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from cluster.db import Database, PoolSize
from cluster.orders.service import OrderService
from cluster.risk.engine import RiskEngine
from cluster.risk.view import RiskView
from domain.breaker import BreakerConfig
from domain.clock import FakeClock
from domain.ids import AccountId, ExecutionId, OrderId
from domain.market_hours import MarketCalendar
from domain.money import Price, Quantity
from domain.orders import Order, OrderEvent, OrderEventKind
from tests.conftest import own_database
from tests.integration.api.conftest import (  # noqa: F401  (the API fixtures, for test_routes)
    api_services,
    api_settings,
    api_url,
    client,
    response_checker,
)
from tests.integration.orders.conftest import OPEN_TUESDAY, FakeQuotes, Recorder, create_account
from tests.integration.orders.helpers import limit_buy

#: The engine tests' breakers: 3 failures within a minute open one for 30 s.
BREAKERS = BreakerConfig(
    failure_threshold=3, window=timedelta(minutes=1), open_for=timedelta(seconds=30)
)
STATE_TABLES = ("risk_states", "risk_locks", "risk_breakers", "risk_limits")


class Ticker:
    """A fake ``time.monotonic``: moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="package")
def risk_url() -> Iterator[str]:
    with own_database("risk") as url:
        yield url


@pytest.fixture(scope="package")
def risk_db(risk_url: str) -> Iterator[Database]:
    db = Database(risk_url, PoolSize(4, 4), pool_timeout_s=10)
    yield db
    db.dispose()


@pytest.fixture(scope="package")
def calendar() -> MarketCalendar:
    return MarketCalendar(date(2026, 1, 1), date(2027, 6, 30))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(OPEN_TUESDAY)


@pytest.fixture
def engine(risk_db: Database, clock: FakeClock) -> Iterator[RiskEngine]:
    yield RiskEngine(risk_db, clock, breaker_config=BREAKERS)
    with risk_db.session() as s:
        for table in STATE_TABLES:
            s.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


@pytest.fixture
def view(risk_db: Database, ticker: Ticker) -> RiskView:
    """Never started (no thread): reads refresh themselves when older than the bound."""
    return RiskView(risk_db, monotonic=ticker)


@pytest.fixture
def quotes() -> FakeQuotes:
    found = FakeQuotes()
    found.set("AAPL", "99.00", "101.00")
    found.set("MSFT", "199.00", "201.00")
    return found


@pytest.fixture
def service(
    risk_db: Database, clock: FakeClock, calendar: MarketCalendar, quotes: FakeQuotes
) -> OrderService:
    """A broker name of its own: a dispatcher claims only this test's outbox rows."""
    name = f"scripted-{uuid.uuid4().hex[:8]}"
    return OrderService(risk_db, clock, calendar, quotes, broker_name=name)


@pytest.fixture
def account(risk_url: str) -> str:
    return create_account(risk_url)


@pytest.fixture
def published(risk_db: Database) -> Recorder:
    return Recorder(risk_db)


def hold(
    service: OrderService, account: str, qty: str = "10", price: str = "100.00", **kw: Any
) -> Order:
    """Fund the account and give it a long position of ``qty`` (a filled limit buy)."""
    acct = AccountId(account)
    service.fund(acct, Decimal(qty) * Decimal(price) * 2)
    order = service.submit(acct, limit_buy(qty=qty, price=price, **kw)).order
    now = service.clock.now()
    fill = OrderEvent(
        OrderEventKind.FILL,
        at=now,
        execution_id=ExecutionId(f"{order.id}-x1"),
        qty=Quantity(Decimal(qty)),
        price=Price(Decimal(price)),
    )
    return service.apply_events(
        OrderId(order.id), [OrderEvent(OrderEventKind.ACKNOWLEDGE, at=now), fill]
    )
