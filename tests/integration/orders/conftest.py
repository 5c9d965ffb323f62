"""Fixtures for the order service against the real PostgreSQL of the session.

Each test gets accounts of its own (fresh UUIDs), so tests share the session database
without seeing each other's orders. Quotes and the clock are fakes of the outside world.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from cluster.db import Database, PoolSize
from cluster.orders.service import OrderService
from domain.clock import FakeClock
from domain.market_hours import MarketCalendar
from domain.marketdata import Quote

#: Tuesday 2026-11-24 10:00 New York: the regular session is open.
OPEN_TUESDAY = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
#: Saturday 2026-11-28 12:00 New York: closed.
SATURDAY = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)


class FakeQuotes:
    """Quotes set by the test; ``fail`` makes every lookup raise (a provider outage)."""

    def __init__(self) -> None:
        self.quotes: dict[str, Quote] = {}
        self.fail = False

    def set(self, symbol: str, bid: str, ask: str) -> None:
        self.quotes[symbol] = Quote(
            symbol=symbol,
            bid_price=Decimal(bid),
            bid_size=100,
            ask_price=Decimal(ask),
            ask_size=100,
            exchange_ts=OPEN_TUESDAY,
            received_ts=OPEN_TUESDAY,
            provider="test",
        )

    def latest_quote(self, symbol: str) -> Quote | None:
        if self.fail:
            raise RuntimeError("quote provider down")
        return self.quotes.get(symbol)


class Recorder:
    """What the service wrote to the durable event log since the fixture started (the
    service publishes nothing itself: its events are rows written with each change)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        with db.session() as s:
            self.start = int(
                s.execute(text("SELECT coalesce(max(id), 0) FROM events")).scalar_one()
            )

    @property
    def calls(self) -> list[tuple[str, str, dict[str, Any]]]:
        with self.db.session() as s:
            rows = s.execute(
                text("SELECT stream, type, data FROM events WHERE id > :start ORDER BY id"),
                {"start": self.start},
            ).all()
        return [(r.stream, r.type, dict(r.data)) for r in rows]

    def events(self) -> list[str]:
        return [event for _, event, _ in self.calls]


def create_account(url: str, *, status: str = "active") -> str:
    """A user and an account of its own, via SQL (accounts belong to another capability)."""
    user, account = uuid.uuid4(), uuid.uuid4()
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO users (id, email, password_hash) VALUES (:id, :email, 'x')"),
                {"id": user, "email": f"{user.hex}@example.com"},
            )
            conn.execute(
                text(
                    "INSERT INTO accounts (id, owner_user_id, type, status) "
                    "VALUES (:id, :user, 'individual', :status)"
                ),
                {"id": account, "user": user, "status": status},
            )
    finally:
        engine.dispose()
    return str(account)


@pytest.fixture(scope="session")
def calendar() -> MarketCalendar:
    return MarketCalendar(date(2026, 1, 1), date(2027, 6, 30))


@pytest.fixture(scope="session")
def orders_db(database_url: str) -> Iterator[Database]:
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
def published(orders_db: Database) -> Recorder:
    return Recorder(orders_db)


@pytest.fixture
def service(
    orders_db: Database,
    clock: FakeClock,
    calendar: MarketCalendar,
    quotes: FakeQuotes,
) -> OrderService:
    return OrderService(orders_db, clock, calendar, quotes)


@pytest.fixture
def new_account(database_url: str) -> Callable[..., str]:
    return lambda **kw: create_account(database_url, **kw)


@pytest.fixture
def account(new_account: Callable[..., str]) -> str:
    return new_account()
