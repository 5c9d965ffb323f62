"""A paper broker actor per test (unique name), the test's own OrderService on the same
database, and a quote driver that keeps both clocks on scripted time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import ray
from sqlalchemy import select

from cluster.db import Database, PoolSize
from cluster.orders import tables
from cluster.orders.service import OrderService
from cluster.orders.wiring import calendar_around
from cluster.settings import Settings
from domain.clock import FakeClock
from domain.ids import AccountId, OrderId
from domain.market_hours import MarketCalendar
from domain.orders import Order
from tests.kit.orders import close_open_orders, funded_account, request
from tests.kit.quotes import QuoteDriver, ScriptedQuotes, call

WEDNESDAY = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 10:00 New York, full session


@pytest.fixture(scope="session")
def paper_settings(settings: Settings, paper_database_url: str) -> Settings:
    """Background ticks and passes effectively off: tests step time themselves."""
    return settings.with_overrides(
        database_url=paper_database_url,
        paper_tick_interval_s=3600,
        reconcile_interval_s=3600,
        paper_quote_feed=False,
    )


@pytest.fixture(scope="session")
def calendar() -> MarketCalendar:
    return calendar_around(WEDNESDAY)


@pytest.fixture(scope="session")
def test_db(paper_database_url: str) -> Iterator[Database]:
    db = Database(paper_database_url, PoolSize(2, 2))
    yield db
    db.dispose()


class Desk:
    """One test's view: the actor, the service, an account, and the driver."""

    def __init__(
        self,
        actor: Any,
        actor_name: str,
        service: OrderService,
        driver: QuoteDriver,
        account: AccountId,
    ) -> None:
        self.actor = actor
        self.actor_name = actor_name
        self.service = service
        self.driver = driver
        self.account = account
        self.accounts = [account]

    async def place(self, **fields: Any) -> Order:
        """Store the order through the service, then hand it to the actor."""
        order = self.service.submit(self.account, request(**fields)).order
        assert order.status.value == "pending_new", order.reject_reason
        await call(self.actor.submit.remote(str(order.id)))
        return self.order(order.id)

    def order(self, order_id: OrderId) -> Order:
        return self.service.get_order(order_id)

    def cash(self) -> Decimal:
        return self.service.cash(self.account)

    def position(self, symbol: str) -> Decimal:
        held = {p.symbol: p.qty for p in self.service.positions(self.account)}
        return held.get(symbol, Decimal(0))

    def fills(self, order_id: OrderId) -> list[tuple[str, Decimal, Decimal]]:
        f = tables.fills.c
        with self.service.db.session() as s:
            rows = s.execute(
                select(f.execution_id, f.qty, f.price)
                .where(f.order_id == uuid.UUID(order_id))
                .order_by(f.recorded_at, f.execution_id)
            ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    def events(self, order_id: OrderId) -> list[tuple[str, dict[str, Any]]]:
        e = tables.order_events.c
        with self.service.db.session() as s:
            rows = s.execute(
                select(e.kind, e.detail).where(e.order_id == uuid.UUID(order_id)).order_by(e.id)
            ).all()
        return [(r[0], r[1]) for r in rows]

    def kinds(self, order_id: OrderId) -> list[str]:
        return [kind for kind, _ in self.events(order_id)]


@pytest.fixture
def make_desk(
    ray_cluster: None,
    paper_settings: Settings,
    test_db: Database,
    calendar: MarketCalendar,
) -> Iterator[Any]:
    """``await make_desk(start, cash="10000", **settings_overrides) -> Desk``."""
    made: list[Desk] = []

    async def build(start: datetime = WEDNESDAY, cash: str = "100000", **overrides: Any) -> Desk:
        from actors.paper_broker import ensure

        s = paper_settings.with_overrides(**overrides) if overrides else paper_settings
        name = f"test.paper.{uuid.uuid4().hex[:10]}"
        ensure(s, name=name)
        actor = ray.get_actor(name, namespace=s.ray_namespace)
        clock = FakeClock(start)
        quotes = ScriptedQuotes()
        service = OrderService(test_db, clock, calendar, quotes, broker_name="paper")
        driver = QuoteDriver(actor, clock, quotes)
        await driver.at(start)
        desk = Desk(actor, name, service, driver, funded_account(test_db, service, cash))
        made.append(desk)
        return desk

    yield build
    for desk in made:
        ray.kill(desk.actor, no_restart=True)
        close_open_orders(desk.service, desk.accounts)


@pytest.fixture
async def desk(make_desk: Any) -> AsyncIterator[Desk]:
    yield await make_desk()
