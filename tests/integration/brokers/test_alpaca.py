"""AlpacaBroker against a real local HTTP server speaking Alpaca's v2 order API."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cluster.brokers.alpaca import AlpacaBroker, to_state
from cluster.retry import Backoff
from domain.errors import OperatorError, TransientError
from domain.ids import AccountId, OrderId
from domain.order_request import OrderRequest
from domain.orders import Order, OrderStatus
from domain.ports import BrokerPort, BrokerRejected
from tests.kit.alpaca_broker_server import AlpacaBrokerServer

BACKOFF = Backoff(base_s=0.005, cap_s=0.02, max_attempts=4)
SLACK_S = 0.25  # request latency on a busy 2-core machine, on top of the backoff delay
SECRET = "test-secret"


def _order(**fields: object) -> Order:
    spec: dict[str, object] = {
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "time_in_force": "day",
        "qty": "10",
        "limit_price": "150.00",
    }
    spec.update(fields)
    request = OrderRequest.parse(**spec)  # type: ignore[arg-type]
    return request.to_order(
        OrderId(str(uuid.uuid4())), AccountId(str(uuid.uuid4())), datetime.now(UTC)
    )


class Harness:
    def __init__(self, server: AlpacaBrokerServer) -> None:
        self.server = server
        self.delays: list[float] = []
        self.alerts: list[str] = []

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(delay)

    def broker(
        self, *, backoff: Backoff = BACKOFF, timeout_s: float = 2.0, **kw: str
    ) -> AlpacaBroker:
        return AlpacaBroker(
            kw.get("base_url", self.server.base_url),
            kw.get("key_id", self.server.key_id),
            kw.get("secret_key", SECRET),
            None,
            backoff,
            timeout_s,
            on_alert=self.alerts.append,
            sleep=self.sleep,
            rng=random.Random(7),
        )


@pytest.fixture
async def server() -> AsyncIterator[AlpacaBrokerServer]:
    srv = AlpacaBrokerServer(secret_key=SECRET)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
def harness(server: AlpacaBrokerServer) -> Harness:
    return Harness(server)


@pytest.fixture
async def broker(harness: Harness) -> AsyncIterator[AlpacaBroker]:
    async with harness.broker() as b:
        yield b


def _assert_backoff(delays: list[float], backoff: Backoff = BACKOFF) -> None:
    for n, delay in enumerate(delays):
        assert 0 <= delay <= min(backoff.cap_s, backoff.base_s * 2**n)


def _assert_gaps(server: AlpacaBrokerServer, backoff: Backoff = BACKOFF) -> None:
    for gap in server.gaps():
        assert 0 <= gap <= backoff.cap_s + SLACK_S


# -- round trip -------------------------------------------------------------------------


async def test_adapter_satisfies_the_broker_port(broker: AlpacaBroker) -> None:
    port: BrokerPort = broker
    assert port is broker


async def test_submit_get_list_replace_cancel_round_trip(broker: AlpacaBroker) -> None:
    order = _order()
    submitted = await broker.submit(order)
    assert submitted.status is OrderStatus.NEW
    assert submitted.client_order_id == order.id
    assert submitted.filled_qty == 0 and submitted.filled_avg_price is None

    got = await broker.get(submitted.broker_order_id)
    assert got == submitted
    assert [s.broker_order_id for s in await broker.list_open()] == [submitted.broker_order_id]

    replaced = await broker.replace(submitted.broker_order_id, limit_price=Decimal("151.25"))
    assert replaced.broker_order_id != submitted.broker_order_id
    old = await broker.get(submitted.broker_order_id)
    assert old is not None and old.status is OrderStatus.REPLACED
    assert old.replaced_by == replaced.broker_order_id

    await broker.cancel(replaced.broker_order_id)
    canceled = await broker.get(replaced.broker_order_id)
    assert canceled is not None and canceled.status is OrderStatus.CANCELED
    assert await broker.list_open() == []


async def test_market_order_fills_and_maps_decimals(
    broker: AlpacaBroker, server: AlpacaBrokerServer
) -> None:
    state = await broker.submit(_order(type="market", limit_price=None, qty="3"))
    assert state.status is OrderStatus.FILLED
    assert state.filled_qty == Decimal("3")
    assert state.filled_avg_price == Decimal("190.25")
    fill = state.fill_since(None)
    assert fill is not None and fill.qty == 3 and fill.price == Decimal("190.25")
    assert fill.execution_id == f"{state.broker_order_id}:3"
    sent = server.requests[0].body
    assert sent["qty"] == "3" and isinstance(sent["qty"], str)
    assert await broker.list_positions() == {"AAPL": Decimal("3")}
    account = await broker.get_account()
    assert account["cash"] == Decimal("100000")


async def test_get_when_unknown_order_then_none(broker: AlpacaBroker) -> None:
    assert await broker.get(str(uuid.uuid4())) is None


# -- retries ----------------------------------------------------------------------------


async def test_submit_when_5xx_then_retried_with_jittered_backoff(
    broker: AlpacaBroker, server: AlpacaBrokerServer, harness: Harness
) -> None:
    server.fail_next(2, 503)
    state = await broker.submit(_order())
    assert state.status is OrderStatus.NEW
    assert server.count("POST") == 3
    assert len(harness.delays) == 2
    _assert_backoff(harness.delays)
    _assert_gaps(server)


async def test_when_5xx_persists_then_transient_error_after_max_attempts(
    broker: AlpacaBroker, server: AlpacaBrokerServer, harness: Harness
) -> None:
    server.fail_next(10, 500)
    with pytest.raises(TransientError, match="after 4 attempts"):
        await broker.list_open()
    assert server.count() == BACKOFF.max_attempts
    assert len(harness.delays) == BACKOFF.max_attempts - 1
    _assert_backoff(harness.delays)
    _assert_gaps(server)


async def test_when_429_then_retry_after_is_honoured_and_capped(
    harness: Harness, server: AlpacaBrokerServer
) -> None:
    backoff = Backoff(base_s=0.001, cap_s=0.05, max_attempts=3)
    server.fail_next(1, 429, retry_after=0.03)
    server.fail_next(1, 429, retry_after=30)
    async with harness.broker(backoff=backoff) as broker:
        assert await broker.list_open() == []
    assert harness.delays == [0.03, 0.05]
    gaps = server.gaps()
    assert gaps[0] >= 0.03
    assert all(g <= backoff.cap_s + SLACK_S for g in gaps)


async def test_when_timeouts_persist_then_transient_error_after_bounded_retries(
    harness: Harness, server: AlpacaBrokerServer
) -> None:
    server.delay_next(10, 1.0)
    async with harness.broker(timeout_s=0.05) as broker:
        with pytest.raises(TransientError, match="timeout"):
            await broker.get(str(uuid.uuid4()))
    assert server.count() == BACKOFF.max_attempts
    _assert_backoff(harness.delays)


async def test_when_connection_refused_then_transient_error(harness: Harness) -> None:
    async with harness.broker(base_url="http://127.0.0.1:9") as broker:
        with pytest.raises(TransientError, match="transport error"):
            await broker.list_open()
    assert len(harness.delays) == BACKOFF.max_attempts - 1


async def test_submit_when_first_attempt_applied_but_timed_out_then_no_duplicate(
    harness: Harness, server: AlpacaBrokerServer
) -> None:
    server.delay_after_next(1, 1.0)
    order = _order()
    async with harness.broker(timeout_s=0.2) as broker:
        state = await broker.submit(order)
    assert state.client_order_id == order.id
    assert len(server.orders) == 1
    assert server.count("POST") == 2
    assert server.count("GET", "/v2/orders:by_client_order_id") == 1


async def test_cancel_when_first_attempt_applied_but_timed_out_then_succeeds(
    harness: Harness, server: AlpacaBrokerServer
) -> None:
    async with harness.broker(timeout_s=0.2) as broker:
        state = await broker.submit(_order())
        server.delay_after_next(1, 1.0)
        await broker.cancel(state.broker_order_id)
        got = await broker.get(state.broker_order_id)
    assert got is not None and got.status is OrderStatus.CANCELED
    assert server.count("DELETE") == 2


# -- rejections -------------------------------------------------------------------------


async def test_submit_when_422_then_rejected_once_with_broker_reason(
    broker: AlpacaBroker, server: AlpacaBrokerServer, harness: Harness
) -> None:
    server.reject_next(422, "qty must be > 0", code=40010001)
    with pytest.raises(BrokerRejected) as info:
        await broker.submit(_order())
    assert info.value.reason == "qty must be > 0"
    assert info.value.status_code == 422 and info.value.broker_code == "40010001"
    assert server.count() == 1
    assert harness.delays == []


async def test_submit_when_403_insufficient_buying_power_then_rejected_not_halted(
    broker: AlpacaBroker, server: AlpacaBrokerServer, harness: Harness
) -> None:
    server.reject_next(403, "insufficient buying power", code=40310000)
    with pytest.raises(BrokerRejected, match="insufficient buying power"):
        await broker.submit(_order())
    assert server.count() == 1
    assert broker.halted is None and broker.alerts == 0
    assert (await broker.submit(_order())).status is OrderStatus.NEW


async def test_replace_when_nothing_to_change_then_rejected_without_traffic(
    broker: AlpacaBroker, server: AlpacaBrokerServer
) -> None:
    with pytest.raises(BrokerRejected):
        await broker.replace(str(uuid.uuid4()))
    assert server.count() == 0


# -- operator errors --------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_when_auth_fails_then_operator_error_alert_and_routing_stops(
    broker: AlpacaBroker, server: AlpacaBrokerServer, harness: Harness, status: int
) -> None:
    server.auth_fail_next(status)
    with pytest.raises(OperatorError) as info:
        await broker.submit(_order())
    message = str(info.value)
    assert "alpaca" in message and server.base_url in message and f"HTTP {status}" in message
    assert SECRET not in message
    assert broker.alerts == 1 and harness.alerts == [message]
    assert server.count() == 1

    with pytest.raises(OperatorError):
        await broker.list_open()
    with pytest.raises(OperatorError):
        await broker.get(str(uuid.uuid4()))
    assert server.count() == 1  # no traffic while halted

    broker.reset()
    assert await broker.list_open() == []
    assert server.count() == 2


async def test_when_credentials_are_wrong_then_operator_error_without_secret(
    harness: Harness, server: AlpacaBrokerServer
) -> None:
    async with harness.broker(secret_key="wrong-secret-value") as broker:
        with pytest.raises(OperatorError) as info:
            await broker.get_account()
    assert "wrong-secret-value" not in str(info.value)
    assert server.count() == 1


# -- mapping ----------------------------------------------------------------------------


def test_to_state_maps_alpaca_only_statuses_and_refuses_unknown_ones() -> None:
    base = {"id": "o1", "client_order_id": "c1", "qty": "5", "filled_qty": "0"}
    assert to_state({**base, "status": "held"}).status is OrderStatus.ACCEPTED
    assert to_state({**base, "status": "calculated"}).status is OrderStatus.DONE_FOR_DAY
    filled = {**base, "status": "calculated", "filled_qty": "5", "filled_avg_price": "1.5"}
    assert to_state(filled).status is OrderStatus.FILLED
    with pytest.raises(OperatorError, match="unknown order status"):
        to_state({**base, "status": "teleported"})
