"""REST market data over the real API app (uvicorn in a thread) and real shard actors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from cluster.marketdata.cache import FeedCache
from cluster.redis_client import AsyncResilientRedis
from cluster.settings import Settings
from domain.marketdata import Bar
from serve.api import create_api
from serve.services import build_services
from tests.integration.feeds.conftest import feed_settings, running_feed, wait_for
from tests.kit.api import serve_in_thread
from tests.kit.openapi_check import ResponseChecker
from tests.kit.users import ApiUser, assert_problem, signed_in

pytestmark = pytest.mark.ray

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def seed_bars(s: Settings, symbol: str, n: int) -> None:
    """Bars in the cache before the shard starts: the shard restores them."""

    async def run() -> None:
        assert s.redis_url is not None
        redis = AsyncResilientRedis(s.redis_url.get_secret_value(), prefix=s.redis_key_prefix)
        cache = FeedCache(redis, ttl_s=60, bar_history=120)
        for i in range(n):
            price = Decimal(100 + i)
            bar = Bar(
                symbol,
                price,
                price + 1,
                price - 1,
                price,
                1000,
                START + timedelta(minutes=i),
                None,
                START,
                "simulated",
                seq=i + 1,
            )
            cache.stage(bar.to_wire())
        assert await cache.flush()
        await redis.close()

    asyncio.run(run())


@pytest.fixture(scope="module")
def api(settings: Settings, ray_cluster: None) -> Iterator[tuple[httpx.Client, ApiUser]]:
    s = feed_settings(settings, feed_shards=2, login_max_failures=10_000)
    seed_bars(s, "AAPL", 3)
    services = build_services(s, in_ray=False, process_label="feed-route-tests")
    try:
        with running_feed(s), serve_in_thread(create_api(services)) as url:
            hooks = {"response": [ResponseChecker.fetch(url).hook]}  # bodies match the OpenAPI
            with httpx.Client(base_url=url, timeout=10, event_hooks=hooks) as client:
                yield client, signed_in(client)
    finally:
        services.close()


def test_snapshots_when_symbols_valid_then_latest_quote_per_symbol(
    api: tuple[httpx.Client, ApiUser],
) -> None:
    client, user = api

    def quoted() -> dict | None:
        r = client.get("/v1/marketdata/snapshots?symbols=aapl,MSFT,ZZZZ", headers=user.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        return body if all(body["snapshots"][s]["quote"] for s in ("AAPL", "MSFT")) else None

    body = wait_for(quoted, 10, 0.1, "quotes for AAPL and MSFT")
    assert body["missing"] == ["ZZZZ"]
    quote = body["snapshots"]["AAPL"]["quote"]
    assert Decimal(quote["bid_price"]) < Decimal(quote["ask_price"])
    assert quote["provider"] == "simulated" and quote["seq"] > 0


def test_snapshots_when_symbol_invalid_then_422_problem_naming_the_field(
    api: tuple[httpx.Client, ApiUser],
) -> None:
    client, user = api
    r = client.get("/v1/marketdata/snapshots?symbols=AAPL,b@d!", headers=user.headers)
    body = assert_problem(r, 422, "validation")
    assert body["errors"][0]["field"] == "symbols"
    assert body["errors"][0]["rule"] == "symbol-format"


def test_bars_when_cached_then_restored_bars_oldest_first(
    api: tuple[httpx.Client, ApiUser],
) -> None:
    client, user = api
    r = client.get("/v1/marketdata/bars/AAPL?limit=2", headers=user.headers)
    assert r.status_code == 200, r.text
    bars = r.json()["bars"]
    assert [b["open"] for b in bars] == ["101", "102"]
    assert bars[0]["start"] < bars[1]["start"]


def test_bars_when_symbol_invalid_then_422_naming_symbol(
    api: tuple[httpx.Client, ApiUser],
) -> None:
    client, user = api
    body = assert_problem(
        client.get("/v1/marketdata/bars/1ABC", headers=user.headers), 422, "validation"
    )
    assert body["errors"][0]["field"] == "symbol"
    body = assert_problem(
        client.get("/v1/marketdata/bars/AAPL?limit=0", headers=user.headers), 422, "validation"
    )
    assert body["errors"][0]["field"] == "limit"


def test_feed_status_when_running_then_provider_per_symbol(
    api: tuple[httpx.Client, ApiUser],
) -> None:
    client, user = api
    r = client.get("/v1/marketdata/feed/status", headers=user.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "up"
    assert sorted(s["shard"] for s in body["shards"]) == [0, 1]
    symbols = {sym: info for shard in body["shards"] for sym, info in shard["symbols"].items()}
    assert set(symbols) == {"AAPL", "MSFT"}
    assert all(info["active"] == "simulated" for info in symbols.values())


def test_marketdata_when_no_token_then_401(api: tuple[httpx.Client, ApiUser]) -> None:
    client, _ = api
    assert_problem(client.get("/v1/marketdata/feed/status"), 401, "unauthenticated")
