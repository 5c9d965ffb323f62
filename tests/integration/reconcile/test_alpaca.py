"""The reconciler against the local fake Alpaca server: REST snapshots become fills with
deterministic execution ids, and broker-side status changes reach the database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import ray

from cluster.orders.router import BrokerRouter
from cluster.orders.service import OrderService
from cluster.retry import Backoff
from cluster.settings import Settings
from domain.clock import FakeClock
from tests.integration.paper.conftest import WEDNESDAY
from tests.kit.alpaca_broker_server import AlpacaBrokerServer
from tests.kit.orders import close_open_orders, funded_account, request
from tests.kit.quotes import ScriptedQuotes, call

D = Decimal


@pytest.fixture
async def alpaca() -> AsyncIterator[AlpacaBrokerServer]:
    server = AlpacaBrokerServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def setup(
    ray_cluster: None,
    alpaca: AlpacaBrokerServer,
    paper_settings: Settings,
    test_db: Any,
    calendar: Any,
) -> AsyncIterator[tuple[Any, BrokerRouter, OrderService, Any]]:
    from actors.reconciler import ensure

    settings = paper_settings.with_overrides(
        broker="alpaca",
        alpaca_base_url=alpaca.base_url,
        alpaca_key_id=alpaca.key_id,
        alpaca_secret_key=alpaca.secret_key,
    )
    service = OrderService(
        test_db, FakeClock(WEDNESDAY), calendar, ScriptedQuotes(), broker_name="alpaca"
    )
    router = BrokerRouter.from_settings(
        settings, service, backoff=Backoff(base_s=0.001, cap_s=0.005, max_attempts=3)
    )
    name = f"test.reconciler.{uuid.uuid4().hex[:10]}"
    ensure(settings, name=name, paper_name="test.no-paper")
    reconciler = ray.get_actor(name, namespace=settings.ray_namespace)
    account = funded_account(test_db, service, "100000")
    yield reconciler, router, service, account
    ray.kill(reconciler, no_restart=True)
    close_open_orders(service, [account])


async def test_fills_and_cancel_at_alpaca_then_reconciler_books_each_once(
    setup: Any, alpaca: AlpacaBrokerServer
) -> None:
    reconciler, router, service, account = setup
    stored = service.submit(account, request(type="limit", qty="10", limit_price="90")).order
    order = await router.submit(stored)
    broker_id = router._broker_order_id(order.id)
    assert broker_id is not None

    alpaca.orders[broker_id].update(
        status="partially_filled", filled_qty="4", filled_avg_price="89.50"
    )
    assert (await call(reconciler.run_once.remote()))["applied"] == 1
    assert service.get_order(order.id).status.value == "partially_filled"

    alpaca.orders[broker_id].update(status="filled", filled_qty="10", filled_avg_price="89.20")
    assert (await call(reconciler.run_once.remote()))["applied"] == 1
    assert (await call(reconciler.run_once.remote()))["applied"] == 0

    order = service.get_order(order.id)
    assert order.status.value == "filled"
    # Ids are "<broker id>:<cumulative qty>" (domain.ports.BrokerOrderState.fill_since).
    assert len(order.execution_ids) == 2
    assert all(e.startswith(f"{broker_id}:") for e in order.execution_ids)
    assert order.filled_qty == 10 and order.filled_avg_price == D("89.2")
    assert service.cash(account) == D("100000") - D("358.00") - D("534.00")
    assert service.check_invariants(account) == []


async def test_cancel_routed_to_alpaca_then_reconciler_records_canceled(
    setup: Any, alpaca: AlpacaBrokerServer
) -> None:
    reconciler, router, service, account = setup
    stored = service.submit(account, request(type="limit", qty="10", limit_price="90")).order
    order = await router.submit(stored)
    pending = await router.cancel(service.request_cancel(account, order.id))
    assert pending.status.value == "pending_cancel"

    await call(reconciler.run_once.remote())

    assert service.get_order(order.id).status.value == "canceled"
    assert service.buying_power(account) == D("100000.00")
