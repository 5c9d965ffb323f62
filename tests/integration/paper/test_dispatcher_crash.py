"""Issue 10, acceptance 3: kill the dispatcher after the commit and before the send, and
after the send and before its outcome is recorded: every order reaches the paper broker
exactly once, and the ledger reconciles.

A database of this module's own: the dispatcher sends every unsent request of its broker,
so it must not see the paper tests' orders. The dispatcher actor exits the process at the
named point (``crash_at``, env=test only) and Ray restarts it, as after a real crash.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
import ray
from sqlalchemy import text

from cluster.db import Database, PoolSize
from cluster.orders.service import OrderService
from cluster.orders.wiring import calendar_around
from cluster.settings import Settings
from domain.clock import FakeClock
from domain.orders import OrderStatus
from tests.conftest import own_database
from tests.integration.paper.conftest import WEDNESDAY
from tests.kit.orders import close_open_orders, funded_account, request
from tests.kit.quotes import ScriptedQuotes

pytestmark = [pytest.mark.ray]
ORDERS = 4


@pytest.fixture(scope="module")
def crash_db_url() -> Iterator[str]:
    with own_database("dispatch") as url:
        yield url


@pytest.fixture(scope="module")
def crash_db(crash_db_url: str) -> Iterator[Database]:
    db = Database(crash_db_url, PoolSize(2, 2))
    yield db
    db.dispose()


def _acks(db: Database, order_id: str) -> int:
    with db.session() as s:
        return int(
            s.execute(
                text(
                    "SELECT count(*) FROM order_events WHERE order_id = :o AND kind = 'acknowledge'"
                ),
                {"o": order_id},
            ).scalar_one()
        )


@pytest.mark.parametrize("point", ["before_send", "after_send"])
async def test_dispatcher_killed_mid_send_sends_each_order_exactly_once(
    ray_cluster: None, settings: Settings, crash_db_url: str, crash_db: Database, point: str
) -> None:
    from actors.dispatcher import ensure as ensure_dispatcher
    from actors.paper_broker import ensure as ensure_paper

    s = settings.with_overrides(
        database_url=crash_db_url,
        paper_tick_interval_s=3600,
        reconcile_interval_s=3600,
        paper_quote_feed=False,
        clock_start=WEDNESDAY,
        dispatch_poll_s=0.2,
    )
    tag = uuid.uuid4().hex[:8]
    paper_name, dispatcher_name = f"test.paper.{tag}", f"test.dispatcher.{tag}"
    ensure_paper(s, name=paper_name)
    paper = ray.get_actor(paper_name, namespace=s.ray_namespace)
    await paper.set_clock.remote(WEDNESDAY.isoformat())
    ensure_dispatcher(s, paper_name=paper_name, name=dispatcher_name)
    dispatcher = ray.get_actor(dispatcher_name, namespace=s.ray_namespace)
    first = await dispatcher.ping.remote()
    await dispatcher.crash_at.remote(point)

    clock = FakeClock(WEDNESDAY)
    service = OrderService(crash_db, clock, calendar_around(WEDNESDAY), ScriptedQuotes())
    account = funded_account(crash_db, service, "100000")
    ids = []
    for i in range(ORDERS):
        req = request(type="limit", side="buy", qty="1", limit_price=f"{50 + i}.00")
        ids.append(service.submit(account, req).order.id)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        statuses = {service.get_order(o).status for o in ids}
        if statuses == {OrderStatus.NEW}:
            break
        await asyncio.sleep(0.2)
    try:
        assert statuses == {OrderStatus.NEW}
        after = await dispatcher.ping.remote()
        assert after["incarnation"] != first["incarnation"]  # it did crash and come back
        assert [_acks(crash_db, o) for o in ids] == [1] * ORDERS
        working = (await paper.ping.remote())["working"]
        assert working == ORDERS  # the broker holds each order once
        assert await dispatcher.pending.remote() == 0
        assert service.check_invariants(account) == []
        assert service.buying_power(account) == Decimal("100000") - sum(
            Decimal(f"{50 + i}.00") for i in range(ORDERS)
        )
    finally:
        for name in (dispatcher_name, paper_name):
            ray.kill(ray.get_actor(name, namespace=s.ray_namespace), no_restart=True)
        close_open_orders(service, [account])  # the next test's paper broker restores none
