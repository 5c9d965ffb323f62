"""Redis cache of each symbol's latest quote, trade, bar, sequence number and recent bars.

Why: a restarted feed shard (or a REST replica) should answer with the last known
prices at once instead of waiting for the next tick, and a restarted shard continues its
sequence numbers from here. Why off the hot path: a tick must reach consumers whether or
not Redis answers, so the shard only *stages* values in memory (the newest per symbol
wins) and a background task flushes them in one pipeline every ``flush_s``.

Failures are never silent: ``AsyncResilientRedis`` counts each failed call
(``elson_redis_failures_total``), logs once per burst and flips its health flag; the
staged values are kept (newest wins) and written by the next successful flush.

Keys (under the settings prefix): ``feed:last:<SYMBOL>`` is a hash with ``quote``,
``trade``, ``bar`` (wire JSON) and ``seq``; ``feed:bars:<SYMBOL>`` is a list of recent
bar wire JSON, newest first. Both expire after ``ttl_s`` without writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cluster.redis_client import AsyncResilientRedis, RedisUnavailable

__all__ = ["CachedSymbol", "FeedCache"]

Wire = dict[str, Any]


@dataclass
class CachedSymbol:
    """What the cache remembered for one symbol."""

    seq: int = 0
    latest: dict[str, Wire] = field(default_factory=dict)  # "quote" | "trade" | "bar"
    bars: list[Wire] = field(default_factory=list)  # oldest first


class FeedCache:
    def __init__(self, redis: AsyncResilientRedis, *, ttl_s: int, bar_history: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.bar_history = bar_history
        self._latest: dict[str, dict[str, Wire]] = {}
        self._seq: dict[str, int] = {}
        self._bars: dict[str, list[Wire]] = {}
        self.flushes = 0
        self.failed_flushes = 0

    def _last_key(self, symbol: str) -> str:
        return self.redis.key("feed", "last", symbol)

    def _bars_key(self, symbol: str) -> str:
        return self.redis.key("feed", "bars", symbol)

    # -- hot path: memory only ---------------------------------------------------------

    def stage(self, wire: Wire) -> None:
        """Remember an event for the next flush; ``wire`` is its ``to_wire()`` dict."""
        symbol, kind = wire["symbol"], wire["type"]
        self._seq[symbol] = wire["seq"]
        if kind in ("quote", "trade", "bar"):
            self._latest.setdefault(symbol, {})[kind] = wire
        if kind == "bar":
            bars = self._bars.setdefault(symbol, [])
            bars.append(wire)
            del bars[: max(0, len(bars) - self.bar_history)]

    @property
    def pending(self) -> int:
        return len(self._seq)

    # -- background --------------------------------------------------------------------

    async def flush(self) -> bool:
        """Write what is staged in one pipeline; False (values kept) if Redis failed."""
        if not self._seq:
            return True
        latest, seqs, bars = self._latest, self._seq, self._bars
        self._latest, self._seq, self._bars = {}, {}, {}

        async def write(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            for symbol, seq in seqs.items():
                key = self._last_key(symbol)
                mapping: dict[str, Any] = {"seq": seq}
                mapping.update({k: json.dumps(v) for k, v in latest.get(symbol, {}).items()})
                pipe.hset(key, mapping=mapping)
                pipe.expire(key, self.ttl_s)
            for symbol, items in bars.items():
                key = self._bars_key(symbol)
                pipe.lpush(key, *[json.dumps(b) for b in items])
                pipe.ltrim(key, 0, self.bar_history - 1)
                pipe.expire(key, self.ttl_s)
            return await pipe.execute()

        try:
            await self.redis.call("feed_cache_write", write)
        except RedisUnavailable:
            self.failed_flushes += 1
            self._merge_back(latest, seqs, bars)
            return False
        self.flushes += 1
        return True

    def _merge_back(
        self, latest: dict[str, dict[str, Wire]], seqs: dict[str, int], bars: dict[str, list[Wire]]
    ) -> None:
        """Put a failed batch back under anything staged since (newer values win)."""
        for symbol, seq in seqs.items():
            self._seq.setdefault(symbol, seq)
        for symbol, kinds in latest.items():
            self._latest[symbol] = {**kinds, **self._latest.get(symbol, {})}
        for symbol, items in bars.items():
            merged = items + self._bars.get(symbol, [])
            self._bars[symbol] = merged[-self.bar_history :]

    async def load(self, symbols: list[str]) -> dict[str, CachedSymbol]:
        """What Redis remembers for ``symbols``; raises ``RedisUnavailable``."""
        if not symbols:
            return {}

        async def read(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            for symbol in symbols:
                pipe.hgetall(self._last_key(symbol))
                pipe.lrange(self._bars_key(symbol), 0, self.bar_history - 1)
            return await pipe.execute()

        raw = await self.redis.call("feed_cache_read", read)
        out: dict[str, CachedSymbol] = {}
        for i, symbol in enumerate(symbols):
            fields, bar_items = raw[2 * i], raw[2 * i + 1]
            if not fields and not bar_items:
                continue
            found = CachedSymbol()
            for name, value in (fields or {}).items():
                key = name.decode() if isinstance(name, bytes) else str(name)
                if key == "seq":
                    found.seq = int(value)
                else:
                    found.latest[key] = json.loads(value)
            found.bars = [json.loads(b) for b in reversed(bar_items or [])]
            out[symbol] = found
        return out

    def health(self) -> dict[str, Any]:
        h = self.redis.health
        return {
            "state": "up" if h.ok else "degraded",
            "failures_total": h.failures,
            "last_error": h.last_error,
            "pending_symbols": self.pending,
            "flushes": self.flushes,
            "failed_flushes": self.failed_flushes,
        }
