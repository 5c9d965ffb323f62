"""The Alpaca stream and REST adapters against a local server speaking the vendor protocol."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from cluster.marketdata import ProviderState, make_provider
from cluster.marketdata.alpaca_rest import AlpacaRestClient
from cluster.marketdata.alpaca_stream import AlpacaStreamProvider
from cluster.retry import Backoff
from domain.clock import FakeClock
from domain.errors import OperatorError, TransientError
from domain.marketdata import Bar, MarketEvent, Quote, Trade
from tests.kit.alpaca_stream_server import AlpacaStreamServer

NOW = datetime(2021, 2, 22, 15, 51, 45, tzinfo=UTC)
FAST = Backoff(base_s=0.01, cap_s=0.05, max_attempts=5)

TRADE = {
    "T": "t",
    "S": "AAPL",
    "i": 96921,
    "x": "V",
    "p": Decimal("126.550000000000000001"),  # more digits than a float holds
    "s": 1,
    "t": "2021-02-22T15:51:44.208Z",
    "c": ["@", "I"],
    "z": "C",
}
QUOTE = {
    "T": "q",
    "S": "AAPL",
    "bx": "V",
    "bp": Decimal("126.5"),
    "bs": 3,
    "ax": "V",
    "ap": Decimal("126.57"),
    "as": 2,
    "t": "2021-02-22T15:51:44.208123456Z",
    "c": ["R"],
    "z": "C",
}
CROSSED = {**QUOTE, "bp": Decimal("127.00")}
BAR = {
    "T": "b",
    "S": "AAPL",
    "o": Decimal("126.3"),
    "h": Decimal("126.6"),
    "l": Decimal("126.25"),
    "c": Decimal("126.55"),
    "v": 5100,
    "t": "2021-02-22T15:51:00Z",
    "n": 42,
    "vw": Decimal("126.45"),
}
SNAPSHOT = {
    "latestTrade": {k: v for k, v in TRADE.items() if k not in ("T", "S")},
    "latestQuote": {k: v for k, v in QUOTE.items() if k not in ("T", "S")},
    "minuteBar": {k: v for k, v in BAR.items() if k not in ("T", "S")},
    "dailyBar": {
        **{k: v for k, v in BAR.items() if k not in ("T", "S")},
        "t": "2021-02-22T05:00:00Z",
    },
    "prevDailyBar": None,
}


@pytest.fixture
async def server() -> AsyncIterator[AlpacaStreamServer]:
    async with AlpacaStreamServer(
        script=[TRADE, CROSSED, QUOTE, BAR], snapshots={"AAPL": SNAPSHOT}
    ) as srv:
        yield srv


def provider_for(server: AlpacaStreamServer, **overrides: Any) -> AlpacaStreamProvider:
    kwargs: dict[str, Any] = {
        "key_id": server.key_id,
        "secret": server.secret,
        "url": server.ws_url,
        "rest_url": server.rest_url,
        "clock": FakeClock(NOW),
        "backoff": FAST,
        "ready_timeout_s": 2.0,
        "io_timeout_s": 2.0,
    }
    kwargs.update(overrides)
    provider = make_provider("alpaca", **kwargs)
    assert isinstance(provider, AlpacaStreamProvider)
    return provider


async def take(
    stream: AsyncIterator[MarketEvent], n: int, within: float = 2.0
) -> list[MarketEvent]:
    out: list[MarketEvent] = []
    async with asyncio.timeout(within):
        while len(out) < n:
            out.append(await anext(stream))
    return out


async def test_subscribe_then_receives_trade_quote_bar_with_exact_decimals(
    server: AlpacaStreamServer,
) -> None:
    provider = provider_for(server)
    await provider.subscribe(["AAPL"])
    await provider.start()
    try:
        trade, quote, bar = await take(provider.events(), 3)
    finally:
        await provider.stop()

    assert trade == Trade(
        symbol="AAPL",
        price=Decimal("126.550000000000000001"),
        size=1,
        exchange_ts=datetime(2021, 2, 22, 15, 51, 44, 208000, tzinfo=UTC),
        received_ts=NOW,
        provider="alpaca",
        seq=1,
    )
    assert isinstance(quote, Quote)
    assert (quote.bid_price, quote.bid_size, quote.ask_price, quote.ask_size) == (
        Decimal("126.5"),
        3,
        Decimal("126.57"),
        2,
    )
    assert quote.seq == 2  # the crossed quote between them was dropped, not numbered
    assert isinstance(bar, Bar)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        Decimal("126.3"),
        Decimal("126.6"),
        Decimal("126.25"),
        Decimal("126.55"),
        5100,
    )
    assert bar.start == datetime(2021, 2, 22, 15, 51, tzinfo=UTC)
    assert provider.rejected == 1
    assert server.connections[0].requests[1] == {
        "action": "subscribe",
        "trades": ["AAPL"],
        "quotes": ["AAPL"],
        "bars": ["AAPL"],
    }
    assert provider.state is ProviderState.STOPPED


async def test_auth_failure_raises_operator_error_and_does_not_retry(
    server: AlpacaStreamServer,
) -> None:
    errors: list[Exception] = []
    provider = provider_for(server, secret="wrong-secret-value", on_error=errors.append)

    with pytest.raises(OperatorError) as info:
        await provider.start()

    assert "402" in info.value.message and "auth failed" in info.value.message
    assert "wrong-secret-value" not in str(info.value)
    assert [type(e) for e in errors] == [OperatorError]
    await asyncio.sleep(0.2)  # a retrying client would have reconnected by now
    assert len(server.connections) == 1
    assert provider.state is ProviderState.STOPPED


async def test_server_drops_connection_then_client_reconnects_and_resubscribes(
    server: AlpacaStreamServer,
) -> None:
    errors: list[Exception] = []
    provider = provider_for(server, on_error=errors.append)
    await provider.subscribe(["AAPL"])
    await provider.start()
    stream = provider.events()
    try:
        await take(stream, 3)
        await provider.subscribe(["MSFT"])
        await server.wait_for(lambda s: s.connections[0].subscribed("trades", "MSFT"))

        await server.drop_all()
        await server.wait_for(
            lambda s: (
                len(s.subscribed_connections("trades", "AAPL")) == 2
                and s.connections[1].subscribed("quotes", "MSFT")
            )
        )
        await take(stream, 3)  # the server replays its script to the new subscription
        late = {**TRADE, "S": "MSFT", "p": Decimal("250.01"), "t": "2021-02-22T15:52:00Z"}
        await asyncio.wait_for(server.publish(late), 1)
        (event,) = await take(stream, 1)
    finally:
        await provider.stop()

    assert isinstance(event, Trade)
    assert (event.symbol, event.price, event.seq) == ("MSFT", Decimal("250.01"), 1)
    assert provider.connects == 2
    assert any(isinstance(e, TransientError) for e in errors)
    resubscribe = server.connections[1].requests[1]
    assert resubscribe["action"] == "subscribe"
    assert sorted(resubscribe["trades"]) == ["AAPL", "MSFT"]


async def test_unsubscribe_updates_server_subscription(server: AlpacaStreamServer) -> None:
    provider = provider_for(server)
    await provider.subscribe(["AAPL", "MSFT"])
    await provider.start()
    try:
        await provider.unsubscribe(["AAPL"])
        await server.wait_for(lambda s: not s.connections[0].subscribed("bars", "AAPL"))
        await server.wait_for(lambda s: s.connections[0].subscribed("bars", "MSFT"))
    finally:
        await provider.stop()
    assert provider.symbols == {"MSFT"}


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_start_stop_cycles_leave_no_tasks_sockets_or_fds(
    server: AlpacaStreamServer,
) -> None:
    # Warm up once so lazily created loop resources are in the baseline.
    warm = provider_for(server)
    await warm.start()
    await warm.stop()
    await server.wait_for(lambda s: not s.live)
    gc.collect()
    tasks, fds = len(asyncio.all_tasks()), _fds()

    provider = provider_for(server)
    await provider.subscribe(["AAPL"])
    for _ in range(100):
        await provider.start()
        await provider.stop()
        await provider.stop()  # idempotent

    await server.wait_for(lambda s: not s.live, within=3.0)
    async with asyncio.timeout(2.0):
        while len(asyncio.all_tasks()) > tasks or _fds() > fds:
            gc.collect()
            await asyncio.sleep(0.01)
    assert len(server.connections) == 101
    assert provider.state is ProviderState.STOPPED


async def test_snapshot_via_rest_returns_exact_domain_types(server: AlpacaStreamServer) -> None:
    provider = provider_for(server)
    snaps = await provider.snapshot(["aapl", "ZZZZ"])

    assert set(snaps) == {"AAPL"}
    snap = snaps["AAPL"]
    assert snap.trade is not None and snap.trade.price == Decimal("126.550000000000000001")
    assert snap.quote is not None and snap.quote.ask_price == Decimal("126.57")
    assert snap.bar is not None and snap.bar.low == Decimal("126.25")
    assert snap.daily_bar is not None and snap.daily_bar.timeframe == "1Day"
    assert server.rest_requests[0] == {"key": "test-key", "symbols": "AAPL,ZZZZ", "feed": "iex"}


def rest_client(server: AlpacaStreamServer, secret: str | None = None) -> AlpacaRestClient:
    return AlpacaRestClient(
        key_id=server.key_id,
        secret=secret or server.secret,
        clock=FakeClock(NOW),
        base_url=server.rest_url,
        backoff=Backoff(base_s=0.01, cap_s=0.02, max_attempts=3),
    )


async def test_snapshot_when_server_errors_then_retries_transient(
    server: AlpacaStreamServer,
) -> None:
    server.rest_fail_with = [503, 429]
    snaps = await rest_client(server).snapshots(["AAPL"])
    assert "AAPL" in snaps and len(server.rest_requests) == 3

    server.rest_fail_with = [500, 502, 503]
    with pytest.raises(TransientError):
        await rest_client(server).snapshots(["AAPL"])


async def test_snapshot_with_bad_credentials_raises_operator_error_once(
    server: AlpacaStreamServer,
) -> None:
    with pytest.raises(OperatorError) as info:
        await rest_client(server, secret="nope-secret").snapshots(["AAPL"])
    assert "403" in info.value.message and "nope-secret" not in info.value.message
    assert len(server.rest_requests) == 1


async def test_unknown_provider_spec_is_a_clear_error() -> None:
    with pytest.raises(OperatorError, match="unknown market-data provider 'bloomberg'"):
        make_provider("bloomberg")
