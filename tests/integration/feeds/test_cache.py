"""The feed cache against both Redis servers (the machine's and the embedded one), and a
throwaway one that we stop."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from cluster.marketdata.cache import FeedCache
from cluster.redis_client import AsyncResilientRedis
from domain.marketdata import Bar, Quote
from tests.kit.redis_server import RedisProcess

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def quote_wire(seq: int) -> dict:
    q = Quote("AAPL", Decimal("10.00"), 100, Decimal("10.02"), 100, T0, T0, "simulated", seq)
    return q.to_wire()


def bar_wire(minute: int, seq: int) -> dict:
    p = Decimal("10")
    start = T0 + timedelta(minutes=minute)
    return Bar("AAPL", p, p, p, p, 1, start, None, T0, "simulated", seq).to_wire()


async def test_flush_then_load_when_redis_up_then_latest_seq_and_bars_oldest_first(
    redis_prefix: str, redis_url: str
) -> None:
    redis = AsyncResilientRedis(redis_url, prefix=f"{redis_prefix}{uuid.uuid4().hex[:6]}:")
    cache = FeedCache(redis, ttl_s=30, bar_history=2)
    try:
        for i in range(3):
            cache.stage(bar_wire(i, i + 1))
        cache.stage(quote_wire(4))
        assert await cache.flush()
        found = (await cache.load(["AAPL", "MSFT"]))["AAPL"]
        assert found.seq == 4 and found.latest["quote"]["seq"] == 4
        assert [b["seq"] for b in found.bars] == [2, 3]  # history of 2, oldest first
        assert cache.pending == 0
    finally:
        await redis.close()


async def test_flush_when_redis_down_then_counted_kept_and_written_later(tmp_path: Path) -> None:
    proc = RedisProcess(tmp_path / "redis")
    proc.start()
    redis = AsyncResilientRedis(proc.url, prefix="t:", timeout_s=0.2, attempts=1)
    cache = FeedCache(redis, ttl_s=30, bar_history=5)
    try:
        proc.stop()
        cache.stage(quote_wire(1))
        assert await cache.flush() is False
        cache.stage(quote_wire(2))  # newer than the failed batch: wins
        assert await cache.flush() is False
        assert cache.health()["state"] == "degraded"
        assert cache.health()["failures_total"] == 2
        proc.start()
        assert await cache.flush()
        found = (await cache.load(["AAPL"]))["AAPL"]
        assert found.seq == 2 and found.latest["quote"]["seq"] == 2
        assert cache.health()["state"] == "up"
    finally:
        await redis.close()
        proc.stop()
