"""BrokerRouter: paper orders through the named actor, Alpaca orders through the adapter
against the local fake Alpaca server, start-up refusal of an unknown broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import ray

from cluster.orders.router import BrokerRouter
from cluster.orders.service import OrderService
from cluster.settings import Settings
from domain.errors import OperatorError, TransientError
from domain.order_request import ReplaceRequest
from tests.integration.paper.conftest import WEDNESDAY, Desk
from tests.kit.alpaca_broker_server import AlpacaBrokerServer
from tests.kit.orders import funded_account, request
from tests.kit.quotes import call

S = timedelta(seconds=1)


def paper_router(desk: Desk, settings: Settings) -> BrokerRouter:
    return BrokerRouter.from_settings(settings, desk.service, paper_name=desk.actor_name)


async def test_paper_submit_cancel_replace_through_router_then_actor_books_them(
    desk: Desk, paper_settings: Settings
) -> None:
    router = paper_router(desk, paper_settings)
    stored = desk.service.submit(
        desk.account, request(type="limit", qty="10", limit_price="90")
    ).order
    working = await router.submit(stored)
    assert working.status.value == "new"

    old, new = desk.service.request_replace(
        desk.account, stored.id, ReplaceRequest.parse(working, limit_price="91")
    )
    routed = await router.replace(old, new)
    assert routed.id == new.id and routed.status.value == "new"
    assert desk.order(old.id).status.value == "replaced"

    pending = desk.service.request_cancel(desk.account, new.id)
    assert (await router.cancel(pending)).status.value == "canceled"
    assert desk.kinds(new.id) == ["created", "acknowledge", "cancel_requested", "canceled"]


async def test_paper_submit_when_actor_restarting_then_acknowledged_once(
    make_desk: Any, paper_settings: Settings
) -> None:
    # After the restart the actor runs on settings.clock_start (a Wednesday, open).
    desk = await make_desk(clock_start=WEDNESDAY)
    router = paper_router(desk, paper_settings)
    stored = desk.service.submit(
        desk.account, request(type="limit", qty="10", limit_price="90")
    ).order
    before = (await call(desk.actor.ping.remote()))["incarnation"]
    ray.kill(desk.actor, no_restart=False)

    routed = await router.submit(stored)
    await router.submit(routed)  # a retry of a routed order is a no-op

    assert routed.status.value == "new"
    assert (await call(desk.actor.ping.remote()))["incarnation"] != before
    assert desk.kinds(stored.id) == ["created", "acknowledge"]


async def test_paper_actor_missing_then_transient_error(
    desk: Desk, paper_settings: Settings
) -> None:
    router = BrokerRouter.from_settings(paper_settings, desk.service, paper_name="test.nobody")
    stored = desk.service.submit(
        desk.account, request(type="limit", qty="10", limit_price="90")
    ).order
    with pytest.raises(TransientError):
        await router.submit(stored)
    assert desk.order(stored.id).status.value == "pending_new"


def test_unknown_broker_name_then_operator_error_at_startup(
    paper_settings: Settings, desk_service: OrderService
) -> None:
    with pytest.raises(OperatorError, match="unknown broker"):
        BrokerRouter.from_settings(paper_settings.with_overrides(broker="ib"), desk_service)


# -- alpaca ------------------------------------------------------------------------------


@pytest.fixture
def desk_service(test_db: Any, calendar: Any) -> OrderService:
    from domain.clock import FakeClock
    from tests.kit.quotes import ScriptedQuotes

    return OrderService(test_db, FakeClock(WEDNESDAY), calendar, ScriptedQuotes())


@pytest.fixture
async def alpaca() -> AsyncIterator[AlpacaBrokerServer]:
    server = AlpacaBrokerServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def alpaca_router(
    alpaca: AlpacaBrokerServer, paper_settings: Settings, test_db: Any, calendar: Any
) -> tuple[BrokerRouter, OrderService, Any]:
    from cluster.retry import Backoff
    from domain.clock import FakeClock
    from tests.kit.quotes import ScriptedQuotes

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
    return router, service, funded_account(test_db, service, "100000")


async def test_alpaca_submit_when_broker_acks_then_order_new_with_broker_id(
    alpaca_router: Any, alpaca: AlpacaBrokerServer
) -> None:
    router, service, account = alpaca_router
    stored = service.submit(account, request(type="limit", qty="10", limit_price="90")).order
    routed = await router.submit(stored)
    assert routed.status.value == "new"
    assert router._broker_order_id(stored.id) in alpaca.orders


async def test_alpaca_submit_when_broker_rejects_then_order_rejected_with_its_reason(
    alpaca_router: Any, alpaca: AlpacaBrokerServer
) -> None:
    router, service, account = alpaca_router
    stored = service.submit(account, request(type="limit", qty="10", limit_price="90")).order
    alpaca.reject_next(403, "insufficient buying power", code=40310000)
    routed = await router.submit(stored)
    assert routed.status.value == "rejected"
    assert routed.reject_reason == "insufficient buying power"


async def test_alpaca_submit_when_credentials_refused_then_operator_error_and_order_kept(
    alpaca_router: Any, alpaca: AlpacaBrokerServer
) -> None:
    router, service, account = alpaca_router
    stored = service.submit(account, request(type="limit", qty="10", limit_price="90")).order
    alpaca.auth_fail_next(401)
    with pytest.raises(OperatorError):
        await router.submit(stored)
    assert service.get_order(stored.id).status.value == "pending_new"
    service.apply_events(stored.id, [_reject(stored)])  # leave nothing open


async def test_alpaca_submit_when_broker_keeps_failing_then_transient_error(
    alpaca_router: Any, alpaca: AlpacaBrokerServer
) -> None:
    router, service, account = alpaca_router
    stored = service.submit(account, request(type="limit", qty="10", limit_price="90")).order
    alpaca.fail_next(3, 503)
    with pytest.raises(TransientError):
        await router.submit(stored)
    assert alpaca.count("POST", "/v2/orders") == 3
    service.apply_events(stored.id, [_reject(stored)])


def _reject(order: Any) -> Any:
    from domain.orders import OrderEvent, OrderEventKind

    return OrderEvent(OrderEventKind.REJECT, WEDNESDAY, reason="test teardown")
