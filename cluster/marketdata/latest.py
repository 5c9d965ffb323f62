"""The latest quote of a symbol for the pre-trade checks: the feed cache, then the shards.

The order service runs in a request's worker thread and needs the ask for a market buy's
reservation. One HGET on the cache the feed shards keep (``feed:last:<SYMBOL>``, see
``cluster.marketdata.cache``) is the cheap path. Redis is a cache, not the record: when
it is down or slow (its client fails fast, see ``cluster.redis_client``), or holds no
fresh quote, ``FallbackQuoteLookup`` asks the shard that owns the symbol
(``shard_quotes``), bounded by a few hundred milliseconds. Only when neither has a quote
younger than ``max_age_s`` is the answer ``None`` and the order service fails closed;
``lookup`` then says where it looked and why each place had nothing, for the refusal.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cluster.marketdata.shard_quotes import ShardQuotes
from cluster.redis_client import RedisUnavailable, ResilientRedis
from domain.marketdata import Quote

__all__ = ["CachedQuoteLookup", "FallbackQuoteLookup", "QuoteAnswer", "quote_lookup_for"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class QuoteAnswer:
    """A fresh quote and where it came from (``cache``, ``shard``), or ``None`` and why."""

    quote: Quote | None
    source: str | None = None
    reason: str = ""


class CachedQuoteLookup:
    """The feed cache in Redis only."""

    def __init__(
        self, redis: ResilientRedis, now: Callable[[], datetime], *, max_age_s: float = 60.0
    ) -> None:
        self.redis = redis
        self.now = now
        self.max_age = timedelta(seconds=max_age_s)

    def latest(self, symbol: str) -> tuple[Quote | None, str]:
        """``(quote, "")`` when the cache has a fresh one, else ``(None, why)``."""
        key = self.redis.key("feed", "last", symbol.upper())
        try:
            raw = self.redis.call("hget", lambda r: r.hget(key, "quote"))
        except RedisUnavailable as exc:
            return None, f"the feed cache is unavailable ({exc})"
        if not raw:
            return None, f"the feed cache has no quote for {symbol.upper()}"
        quote = Quote.from_wire(json.loads(raw))
        age = self.now() - quote.received_ts
        if age > self.max_age:
            return None, f"the feed cache's quote is {age.total_seconds():.0f} s old"
        return quote, ""

    def latest_quote(self, symbol: str) -> Quote | None:
        return self.latest(symbol)[0]


class FallbackQuoteLookup:
    """``QuoteLookup`` (``cluster.orders.types``): the cache first, then the owning shard."""

    def __init__(self, cache: CachedQuoteLookup, shards: ShardQuotes | None) -> None:
        self.cache, self.shards = cache, shards

    def lookup(self, symbol: str) -> QuoteAnswer:
        quote, cache_why = self.cache.latest(symbol)
        if quote is not None:
            return QuoteAnswer(quote, "cache")
        if self.shards is None:
            shard_why = "no feed shards are configured"
        else:
            quote, shard_why = self.shards.latest(symbol)
            if quote is not None:
                return QuoteAnswer(quote, "shard")
        reason = (
            f"no fresh quote for {symbol.upper()} from the feed cache or the feed shards "
            f"({cache_why}; {shard_why})"
        )
        log.info("%s", reason)
        return QuoteAnswer(None, reason=reason)

    def latest_quote(self, symbol: str) -> Quote | None:
        return self.lookup(symbol).quote


def quote_lookup_for(services: Any) -> FallbackQuoteLookup:
    """The process's lookup: its Redis client, clock and the feed shards of its namespace."""
    s = services.settings
    now = services.clock.now
    shards = ShardQuotes(s.ray_namespace, s.feed_shards, now)
    return FallbackQuoteLookup(CachedQuoteLookup(services.redis, now), shards)
