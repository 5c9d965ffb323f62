"""Live quotes for the paper broker from the market-data feed shards.

The seam: ``PaperBroker`` takes any ``QuoteSource``; this one wraps
``cluster.marketdata.client.FeedClient`` (long-poll batches from the shards). Shards may
start after the broker (or restart): subscribing is retried until it succeeds, and the
client itself resubscribes after a shard restart. Gaps are ignored on purpose: the
engine only needs the latest top of book, not every tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Deliver = Callable[[list[dict[str, Any]]], Awaitable[Any]]


class QuoteSource(Protocol):
    """Pushes ``Quote.to_wire`` dicts of the subscribed symbols to ``deliver``."""

    async def run(self, symbols: Iterable[str], deliver: Deliver) -> None: ...

    async def add(self, symbols: Iterable[str]) -> None: ...

    async def close(self) -> None: ...


class FeedQuoteSource:
    def __init__(
        self, namespace: str, shards: int, consumer_id: str, *, retry_s: float = 2.0
    ) -> None:
        from cluster.marketdata.client import FeedClient

        self.client = FeedClient(namespace, shards, consumer_id=consumer_id)
        self.retry_s = retry_s
        self.symbols: set[str] = set()
        self.delivered = 0

    async def run(self, symbols: Iterable[str], deliver: Deliver) -> None:
        self.symbols |= set(symbols)
        while True:
            try:
                await self.client.subscribe(sorted(self.symbols))
                break
            except Exception as exc:  # shards not up yet: try again
                log.debug("paper feed: subscribe failed (%s); retrying", exc)
                await asyncio.sleep(self.retry_s)
        async for batch in self.client.batches():
            quotes = [e for e in batch.events if e.get("type") == "quote"]
            if not quotes:
                continue
            try:
                await deliver(quotes)
                self.delivered += len(quotes)
            except Exception:  # one bad batch must not stop the feed
                log.exception("paper feed: delivering %d quote(s) failed", len(quotes))

    async def add(self, symbols: Iterable[str]) -> None:
        new = set(symbols) - self.symbols
        if new:
            self.symbols |= new
            await self.client.subscribe(sorted(new))

    async def close(self) -> None:
        await self.client.close()
