"""Redis stops mid-stream: ticks keep flowing from memory, failures are counted and
readiness says degraded; Redis back: cache writes resume. Uses a throwaway Redis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import ray
import redis

from cluster import names
from cluster.marketdata.client import FeedClient
from cluster.readiness import run_checks
from cluster.settings import Settings
from serve.services import actor_check
from tests.integration.feeds.conftest import feed_settings, metric_total, running_feed, wait_for
from tests.kit.redis_server import RedisProcess

pytestmark = pytest.mark.ray


async def quotes_within(client: FeedClient, seconds: float) -> int:
    """Quotes received during ``seconds`` (a bounded read of the batch stream)."""
    count = 0
    try:
        async with asyncio.timeout(seconds):
            async for batch in client.batches():
                count += sum(1 for e in batch.events if e["type"] == "quote")
    except TimeoutError:
        pass
    return count


def cached_seq(r: redis.Redis, prefix: str, symbol: str) -> int:
    raw = r.hget(f"{prefix}feed:last:{symbol}", "seq")
    return int(raw) if raw else 0


def health(shard: Any) -> dict[str, Any]:
    return ray.get(shard.health.remote(), timeout=10)  # type: ignore[no-any-return]


async def test_when_redis_stops_then_ticks_flow_failures_counted_and_writes_resume(
    settings: Settings, ray_cluster: None, tmp_path: Path
) -> None:
    proc = RedisProcess(tmp_path / "redis")
    proc.start()
    s = feed_settings(settings, redis_url=proc.url, redis_key_prefix="feed-outage:")
    r = redis.Redis.from_url(proc.url)
    try:
        with running_feed(s) as shards:
            shard = shards[0]
            readiness = actor_check(names.feed_shard(0), s.ray_namespace)
            client = FeedClient(s.ray_namespace, s.feed_shards, poll_timeout_s=0.3)
            try:
                await client.subscribe(["AAPL", "MSFT"])
                assert await quotes_within(client, 1.0) > 0
                wait_for(lambda: cached_seq(r, s.redis_key_prefix, "AAPL") > 0, 5, what="cache")
                assert run_checks([readiness]).checks[readiness.name]["state"] == "up"
                failures_before = health(shard)["failures_total"]
                exported_before = metric_total("elson_redis_failures_total", op="feed_cache_write")

                proc.stop()
                flowing = await quotes_within(client, 2.0)
                down = health(shard)
                report = run_checks([readiness])
                print(f"\nredis down: {flowing} quotes in 2 s; cache health {down}")
                assert flowing > 10  # ~20 quotes/s for 2 symbols: still delivered
                assert down["state"] == "degraded"
                assert down["failures_total"] > failures_before
                assert down["failed_flushes"] > 0
                assert report.checks[readiness.name]["state"] == "degraded"
                assert report.status.value == "degraded"
                wait_for(
                    lambda: (
                        metric_total("elson_redis_failures_total", op="feed_cache_write")
                        > exported_before
                    ),
                    20,
                    0.5,
                    "elson_redis_failures_total to rise in the cluster's metrics",
                )

                proc.start()  # same port, empty (no persistence)
                wait_for(lambda: health(shard)["state"] == "up", 10, what="redis recovered")
                seq_now = ray.get(shard.status.remote(), timeout=10)["symbols"]["AAPL"]["seq"]
                wait_for(
                    lambda: cached_seq(r, s.redis_key_prefix, "AAPL") >= seq_now,
                    5,
                    what="cache writes resumed",
                )
                quote = json.loads(r.hget(f"{s.redis_key_prefix}feed:last:AAPL", "quote") or "{}")
                assert quote.get("symbol") == "AAPL"
                assert run_checks([readiness]).checks[readiness.name]["state"] == "up"
            finally:
                async with asyncio.timeout(10):
                    await client.close()
    finally:
        r.close()
        proc.stop()
