"""Issue 10, acceptance 3 against Alpaca's API (a local server speaking it): a dispatcher
that dies after the send and before recording it resends on restart, and Alpaca holds the
order once (the client order id is its idempotency key; the adapter answers a duplicate
with the order the first send made)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cluster.db import Database, PoolSize
from cluster.orders.dispatch import Dispatcher
from cluster.orders.router import BrokerRouter
from cluster.orders.service import OrderService
from cluster.orders.wiring import calendar_around
from cluster.retry import Backoff
from cluster.settings import Settings
from domain.clock import FakeClock
from domain.orders import OrderStatus
from tests.kit.alpaca_broker_server import AlpacaBrokerServer
from tests.kit.orders import funded_account, request
from tests.kit.quotes import ScriptedQuotes

OPEN = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 New York


class Crash(BaseException):
    """What a killed process leaves: nothing after this point runs."""


@pytest.fixture
async def alpaca() -> AsyncIterator[AlpacaBrokerServer]:
    server = AlpacaBrokerServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, PoolSize(2, 2))
    yield database
    database.dispose()


@pytest.mark.parametrize("point", ["before_send", "after_send"])
async def test_killed_dispatcher_resends_and_alpaca_holds_each_order_once(
    alpaca: AlpacaBrokerServer, settings: Settings, db: Database, point: str
) -> None:
    broker = f"alpaca-{uuid.uuid4().hex[:6]}"  # this test's requests only
    s = settings.with_overrides(
        broker="alpaca",
        alpaca_base_url=alpaca.base_url,
        alpaca_key_id=alpaca.key_id,
        alpaca_secret_key=alpaca.secret_key,
    )
    service = OrderService(
        db, FakeClock(OPEN), calendar_around(OPEN), ScriptedQuotes(), broker_name=broker
    )
    account = funded_account(db, service, "100000")
    orders = [
        service.submit(account, request(type="limit", qty="1", limit_price=f"{90 + i}")).order
        for i in range(3)
    ]
    crashed: list[str] = []

    def die_once(at: str) -> None:
        if at == point and not crashed:
            crashed.append(at)
            raise Crash(at)

    def dispatcher(hook: object) -> Dispatcher:
        router = BrokerRouter.from_settings(
            s, service, hook=hook, backoff=Backoff(base_s=0.001, cap_s=0.005, max_attempts=3)
        )
        router.broker_name = broker
        return Dispatcher(service, router, hook=hook)  # type: ignore[arg-type]

    with pytest.raises(Crash):
        await dispatcher(die_once).run_once()
    restarted = dispatcher(None)
    assert await restarted.run_once() == {"sent": 3}
    assert await restarted.run_once() == {}
    for order in orders:
        assert service.get_order(order.id).status is OrderStatus.NEW
        coid = str(order.client_order_id)
        assert [o["client_order_id"] for o in alpaca.orders.values()].count(coid) == 1
    assert len(alpaca.orders) == 3
    assert service.check_invariants(account) == []
    assert service.buying_power(account) == Decimal("100000") - Decimal(90 + 91 + 92)
