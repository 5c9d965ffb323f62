"""The pre-trade quote lookup without Redis (issue 18): Redis stopped or frozen, the feed
shards running: the shard's quote, within a second. Neither: ``None`` within a second, and
the reason names both places."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from cluster.clock import clock_for
from cluster.marketdata.latest import CachedQuoteLookup, FallbackQuoteLookup
from cluster.marketdata.shard_quotes import ShardQuotes
from cluster.redis_client import ResilientRedis
from cluster.settings import Settings
from tests.integration.feeds.conftest import feed_settings, running_feed, wait_for
from tests.kit.redis_server import RedisProcess

pytestmark = pytest.mark.ray

ANSWER_WITHIN_S = 1.0


def lookup_for(s: Settings) -> FallbackQuoteLookup:
    """What ``quote_lookup_for`` builds in a replica, from a plain process connected to Ray."""
    now = clock_for(s.clock_start, s.clock_anchor).now
    cache = CachedQuoteLookup(ResilientRedis.from_settings(s), now)
    return FallbackQuoteLookup(cache, ShardQuotes(s.ray_namespace, s.feed_shards, now))


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_lookup_when_redis_out_and_shards_up_then_the_shard_quote(
    settings: Settings, ray_cluster: None, tmp_path: Path, outage: str
) -> None:
    proc = RedisProcess(tmp_path / "redis")
    proc.start()
    assert proc.proc is not None
    pid = proc.proc.pid
    s = feed_settings(settings, redis_url=proc.url, feed_shards=2)
    lookup = lookup_for(s)
    try:
        with running_feed(s):
            wait_for(lambda: lookup.lookup("MSFT").quote, 10, what="a first quote")
            if outage == "stopped":
                proc.stop()
            else:
                os.kill(pid, signal.SIGSTOP)
            try:
                for symbol in ("AAPL", "MSFT", "AAPL"):  # the first meets Redis's timeout
                    started = time.monotonic()
                    answer = lookup.lookup(symbol)
                    took = time.monotonic() - started
                    print(f"redis {outage}: {symbol} from {answer.source} in {took:.3f} s")
                    assert took < ANSWER_WITHIN_S, (symbol, took)
                    assert answer.source == "shard", answer.reason
                    assert answer.quote is not None and answer.quote.symbol == symbol
                    assert answer.quote.ask_price > 0
                assert lookup.cache.redis.health.ok is False  # it was Redis that was out
            finally:
                if outage == "frozen":
                    os.kill(pid, signal.SIGCONT)
    finally:
        lookup.cache.redis.close()
        proc.stop()


def test_lookup_when_neither_redis_nor_shards_then_none_quickly_saying_so(
    settings: Settings, ray_cluster: None, tmp_path: Path
) -> None:
    proc = RedisProcess(tmp_path / "redis")
    proc.start()
    s = feed_settings(settings, redis_url=proc.url)  # a namespace where no shard runs
    proc.stop()
    lookup = lookup_for(s)
    try:
        started = time.monotonic()
        answer = lookup.lookup("aapl")
        took = time.monotonic() - started
        print(f"neither: None in {took:.3f} s")
        assert took < ANSWER_WITHIN_S
        assert answer.quote is None and lookup.latest_quote("AAPL") is None
        assert answer.reason.startswith(
            "no fresh quote for AAPL from the feed cache or the feed shards"
        )
        assert "feed cache is unavailable" in answer.reason
        assert "feed shard 0 is not running" in answer.reason
    finally:
        lookup.cache.redis.close()
