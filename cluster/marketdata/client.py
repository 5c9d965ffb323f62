"""The consumer side of the feed shards: subscribe, then iterate batches with gap reports.

Why long-poll batches and not a push per tick: a consumer pulls when it is ready, so a
slow one can never block a shard (the shard keeps a bounded buffer per consumer and drops
the oldest, telling us how many), and one actor call carries many events.

Gap rule (matches ``actors/feed_core``): ``seq`` is per symbol and +1 per event within a
shard epoch. A ``Gap`` is reported when the next seq of a symbol is not last + 1, when a
shard's epoch changes (it restarted: everything between is lost even if the seq looks
adjacent), or when the shard dropped events for us (``dropped``). After a restart the
shard has forgotten us: ``poll`` answers ``subscribed: False`` and we subscribe again.

The package is ``cluster`` so it must not import ``actors``: shards are looked up by
name and their methods called by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from cluster import names
from cluster.marketdata.sharding import partition

__all__ = ["Batch", "FeedClient", "Gap"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Gap:
    """Events the consumer did not get. ``reason``: ``seq``, ``epoch`` or ``dropped``."""

    shard: int
    reason: str
    symbol: str | None = None
    expected: int | None = None  # the seq we expected next
    got: int | None = None  # the seq that arrived
    count: int | None = None  # for ``dropped``: how many


@dataclass(frozen=True, slots=True)
class Batch:
    shard: int
    epoch: str
    events: list[dict[str, Any]]
    gaps: list[Gap] = field(default_factory=list)


class FeedClient:
    def __init__(
        self,
        namespace: str,
        n_shards: int,
        *,
        consumer_id: str | None = None,
        max_buffer: int = 10_000,
        poll_timeout_s: float = 1.0,
        call_timeout_s: float = 5.0,
        queue_size: int = 64,
    ) -> None:
        self.namespace, self.n_shards = namespace, n_shards
        self.consumer_id = consumer_id or f"feedclient-{uuid.uuid4().hex[:12]}"
        self.max_buffer = max_buffer
        self.poll_timeout_s, self.call_timeout_s = poll_timeout_s, call_timeout_s
        self._symbols: dict[int, list[str]] = {}
        self._epochs: dict[int, str] = {}
        self._seqs: dict[str, int] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._queue: asyncio.Queue[Batch] = asyncio.Queue(queue_size)
        self.gaps_seen = 0
        self._closed = False

    async def subscribe(self, symbols: Iterable[str]) -> None:
        for shard, wanted in partition(symbols, self.n_shards).items():
            known = self._symbols.setdefault(shard, [])
            known.extend(s for s in wanted if s not in known)
            gaps = await self._subscribe_shard(shard)
            if gaps:
                await self._put(Batch(shard, self._epochs[shard], [], gaps))
            if shard not in self._tasks:
                self._tasks[shard] = asyncio.create_task(self._poll_loop(shard))

    async def _call(self, shard: int, method: str, *args: Any) -> Any:
        handle = names.get_actor(names.feed_shard(shard), self.namespace)
        if handle is None:
            raise LookupError(f"feed shard {shard} not found")
        ref = getattr(handle, method).remote(*args)
        return await asyncio.wait_for(ref, self.call_timeout_s + self.poll_timeout_s)

    async def _subscribe_shard(self, shard: int) -> list[Gap]:
        reply = await self._call(
            shard, "subscribe", self.consumer_id, self._symbols[shard], self.max_buffer
        )
        gaps = []
        epoch = reply["epoch"]
        changed = shard in self._epochs and self._epochs[shard] != epoch
        if changed:
            gaps.append(Gap(shard, "epoch"))
        for symbol, seq in reply["seqs"].items():
            last = self._seqs.get(symbol)
            if changed and last is not None:
                gaps.append(Gap(shard, "epoch", symbol, last + 1, seq + 1))
            self._seqs[symbol] = seq
        self._epochs[shard] = epoch
        return gaps

    async def _poll_loop(self, shard: int) -> None:
        backoff = 0.05
        while not self._closed:
            try:
                reply = await self._call(shard, "poll", self.consumer_id, self.poll_timeout_s)
                gaps: list[Gap] = []
                if not reply["subscribed"] or reply["epoch"] != self._epochs.get(shard):
                    gaps = await self._subscribe_shard(shard)
                    if not reply["subscribed"]:
                        if gaps:
                            await self._put(Batch(shard, reply["epoch"], [], gaps))
                        continue
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # shard restarting, replaced, or slow: retry soon
                log.debug("feed client: shard %d poll failed: %s", shard, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            gaps.extend(self._check(shard, reply))
            if reply["events"] or gaps:
                await self._put(Batch(shard, reply["epoch"], reply["events"], gaps))

    def _check(self, shard: int, reply: dict[str, Any]) -> list[Gap]:
        gaps = []
        if reply["dropped"]:
            gaps.append(Gap(shard, "dropped", count=reply["dropped"]))
        for event in reply["events"]:
            symbol, seq = event["symbol"], event["seq"]
            last = self._seqs.get(symbol)
            if last is not None and seq != last + 1:
                gaps.append(Gap(shard, "seq", symbol, last + 1, seq))
            self._seqs[symbol] = seq
        return gaps

    async def _put(self, batch: Batch) -> None:
        self.gaps_seen += len(batch.gaps)
        await self._queue.put(batch)

    async def batches(self) -> AsyncIterator[Batch]:
        while not self._closed:
            yield await self._queue.get()

    async def close(self) -> None:
        self._closed = True
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for shard in self._symbols:
            with contextlib.suppress(Exception):
                await self._call(shard, "unsubscribe", self.consumer_id, None)
