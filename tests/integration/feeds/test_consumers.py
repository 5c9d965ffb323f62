"""Consumers of a shard: batches with seq, bounded buffers, expiry, snapshots."""

from __future__ import annotations

import asyncio
import time

import pytest
import ray

from cluster.marketdata.client import FeedClient
from cluster.settings import Settings
from tests.integration.feeds.conftest import feed_settings, metric_total, running_feed, wait_for

pytestmark = pytest.mark.ray


def test_poll_when_consumer_is_slow_then_oldest_dropped_and_counted(
    settings: Settings, ray_cluster: None
) -> None:
    s = feed_settings(settings)
    with running_feed(s) as shards:
        shard = shards[0]
        sub = ray.get(shard.subscribe.remote("slow", ["AAPL", "MSFT"], 5), timeout=10)
        start = sub["seqs"]["AAPL"]
        ray.get(shard.poll.remote("slow", 0.0), timeout=10)  # drain what came meanwhile
        # ~20 ticks/s x 2 symbols for 1 s, into a buffer of 5: the shard is not blocked.
        time.sleep(1.0)
        batch = ray.get(shard.poll.remote("slow", 0.0), timeout=10)
        assert len(batch["events"]) == 5
        assert batch["dropped"] >= 10
        seqs = [e["seq"] for e in batch["events"] if e["symbol"] == "AAPL"]
        assert seqs == sorted(seqs) and seqs[0] > start  # the newest survive, in order
        consumers = ray.get(shard.status.remote(), timeout=10)["consumers"]
        assert consumers["slow"]["dropped"] == batch["dropped"]
        wait_for(
            lambda: metric_total("elson_feed_dropped_total") >= batch["dropped"],
            20,
            0.5,
            "elson_feed_dropped_total in the cluster's metrics",
        )


def test_poll_when_consumer_stopped_polling_then_expired(
    settings: Settings, ray_cluster: None
) -> None:
    s = feed_settings(settings, feed_consumer_ttl_s=0.5)
    with running_feed(s) as shards:
        shard = shards[0]
        ray.get(shard.subscribe.remote("gone", ["AAPL"]), timeout=10)
        time.sleep(1.5)  # > ttl + one check interval
        batch = ray.get(shard.poll.remote("gone", 0.0), timeout=10)
        assert batch["subscribed"] is False and batch["events"] == []


async def test_feed_client_when_buffer_overflows_then_reports_dropped_gap(
    settings: Settings, ray_cluster: None
) -> None:
    s = feed_settings(settings)
    with running_feed(s):
        client = FeedClient(s.ray_namespace, s.feed_shards, max_buffer=3, poll_timeout_s=0.2)
        try:
            await client.subscribe(["AAPL", "MSFT"])
            await asyncio.sleep(1.0)  # do not read: the client queue fills, then the shard's
            reasons: set[str] = set()
            async with asyncio.timeout(10):
                async for batch in client.batches():
                    reasons |= {g.reason for g in batch.gaps}
                    if "dropped" in reasons:
                        break
            assert "dropped" in reasons
        finally:
            async with asyncio.timeout(10):
                await client.close()


async def test_feed_client_when_subscribed_then_gapless_seq_per_symbol(
    settings: Settings, ray_cluster: None
) -> None:
    s = feed_settings(settings, feed_shards=2, feed_symbols="AAPL,MSFT,GOOG,SPY")
    with running_feed(s):
        client = FeedClient(s.ray_namespace, s.feed_shards, poll_timeout_s=0.2)
        seen: dict[str, list[int]] = {}
        try:
            await client.subscribe(s.symbols)
            async with asyncio.timeout(10):
                async for batch in client.batches():
                    assert batch.gaps == []
                    for e in batch.events:
                        seen.setdefault(e["symbol"], []).append(e["seq"])
                    if len(seen) == 4 and min(len(v) for v in seen.values()) >= 20:
                        break
        finally:
            async with asyncio.timeout(10):
                await client.close()
    for seqs in seen.values():
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
