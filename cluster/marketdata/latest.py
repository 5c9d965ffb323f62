"""The latest quote of a symbol, read synchronously from the feed cache in Redis.

The order service runs in a request's worker thread and needs the ask for a market buy's
reservation: one HGET on the cache the feed shards keep (``feed:last:<SYMBOL>``, see
``cluster.marketdata.cache``) is cheaper than a round trip to a shard actor. When Redis
is down or the quote is older than ``max_age_s`` the lookup answers ``None`` and the
order service fails closed (a market buy without a quote is refused); the Redis failure
is counted by ``ResilientRedis``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from cluster.redis_client import RedisUnavailable, ResilientRedis
from domain.marketdata import Quote


class CachedQuoteLookup:
    def __init__(
        self, redis: ResilientRedis, now: Callable[[], datetime], *, max_age_s: float = 60.0
    ) -> None:
        self.redis = redis
        self.now = now
        self.max_age = timedelta(seconds=max_age_s)

    def latest_quote(self, symbol: str) -> Quote | None:
        key = self.redis.key("feed", "last", symbol.upper())
        try:
            raw = self.redis.call("hget", lambda r: r.hget(key, "quote"))
        except RedisUnavailable:
            return None
        if not raw:
            return None
        quote = Quote.from_wire(json.loads(raw))
        if self.now() - quote.received_ts > self.max_age:
            return None
        return quote
