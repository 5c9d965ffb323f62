"""Closed bars of a live runner's symbols from the feed shards: in order, each once.

The runner acts on a bar once and never goes back, so what it is handed must be, per
symbol, the feed's closed bars in strictly increasing ``start``, none twice, none
missing while the feed still holds it. ``FeedClient`` alone does not give that: its
batches report gaps (a shard restarted, dropped our oldest events, a seq jumped) but the
events in between are gone, and a bar closed between reading the history and subscribing
reaches neither. So :class:`FeedBarSource` keeps, per symbol, the start of the last bar
it handed out (``last``) and:

- ``history`` hands out the shards' recent bars (indicators after a runner restart) and
  sets ``last`` to the newest; a shard that answered with no bars sets the beginning of
  time, so every bar it closes later is new;
- ``run`` subscribes (retrying while the shards are not up yet), then catches up from the
  shards' recent bars (``bars``: what the shard recorded, restored from the Redis cache
  after a shard restart) and does so again whenever a batch reports a gap; only bars
  after ``last`` go out, before the batch's own;
- ``since`` (to ``run``) is where a restarted runner stands: no bar at or before it is
  delivered again, and those after it that the shard still holds are caught up;
- bars out of order within a batch are put in order; a bar at or before ``last`` (a
  replay, a provider's correction of a minute already delivered, a late bar) is skipped
  and counted in ``skipped``: a later bar has been acted on.

Limits: a catch-up reaches back ``backfill`` bars (the shard keeps ``feed_bar_history``);
bars a shard forwarded but had not yet flushed to Redis when it died are lost with it; a
symbol whose place is unknown (its shard did not answer ``history``, no ``since``) starts
from its first live bar.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cluster import names
from cluster.marketdata.client import FeedClient
from cluster.marketdata.sharding import shard_of

__all__ = ["BEGINNING", "Deliver", "FeedBarSource"]

log = logging.getLogger(__name__)

Wire = dict[str, Any]
Deliver = Callable[[list[Wire]], Awaitable[Any]]

#: ``last`` of a symbol whose shard had no bars: everything it closes later is new.
BEGINNING = datetime.min.replace(tzinfo=UTC)


def bar_start(wire: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(wire["start"]).replace("Z", "+00:00")).astimezone(UTC)


class FeedBarSource:
    def __init__(
        self, namespace: str, shards: int, consumer_id: str, *, backfill: int = 120
    ) -> None:
        self.namespace, self.shards, self.backfill = namespace, shards, backfill
        self.client = FeedClient(namespace, shards, consumer_id=consumer_id)
        self.last: dict[str, datetime] = {}
        self.skipped = 0

    async def _shard_bars(self, symbol: str, limit: int) -> list[Wire] | None:
        """The shard's recent closed bars of ``symbol`` (oldest first); None: no answer."""
        handle: Any = names.get_actor(
            names.feed_shard(shard_of(symbol, self.shards)), self.namespace
        )
        if handle is None:  # no shard (yet)
            return None
        try:
            return list(await asyncio.wait_for(handle.bars.remote(symbol, limit), 10))
        except Exception:
            log.warning("bar source: no bars from the shard for %s", symbol, exc_info=True)
            return None

    async def history(self, symbols: Iterable[str], limit: int) -> list[Wire]:
        """The shards' recent closed bars, each symbol's oldest first; sets ``last``."""
        out: list[Wire] = []
        for symbol in sorted({s.upper() for s in symbols}):
            bars = await self._shard_bars(symbol, limit)
            if bars is None:
                continue
            self.last.setdefault(symbol, BEGINNING)
            out.extend(self._fresh(bars, count_skipped=False))
        return out

    def _fresh(self, bars: Iterable[Wire], *, count_skipped: bool = True) -> list[Wire]:
        """``bars`` in order of start, without those at or before their symbol's ``last``
        (which moves to the newest kept)."""
        out = []
        for bar in sorted(bars, key=bar_start):  # stable: a correction stays after
            symbol, start = str(bar["symbol"]).upper(), bar_start(bar)
            last = self.last.get(symbol)
            if last is not None and start <= last:
                if count_skipped:
                    self.skipped += 1
                continue
            self.last[symbol] = start
            out.append(bar)
        return out

    async def _catch_up(self, symbols: Iterable[str], deliver: Deliver) -> None:
        """Bars after ``last`` that the shards hold (missed in a gap or before ``run``)."""
        for symbol in symbols:
            if symbol not in self.last:
                continue  # place unknown: from the first live bar
            bars = await self._shard_bars(symbol, self.backfill)
            fresh = self._fresh(bars or [], count_skipped=False)
            if fresh:
                await deliver(fresh)

    async def _subscribe(self, symbols: list[str]) -> None:
        backoff = 0.1
        while True:
            try:
                await self.client.subscribe(symbols)
                return
            except Exception as exc:  # shards not up yet (bootstrap order) or restarting
                log.warning("bar source: subscribe failed (%s), retrying", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def run(
        self,
        symbols: Iterable[str],
        deliver: Deliver,
        since: Mapping[str, datetime] | None = None,
    ) -> None:
        """Hand every new closed bar of ``symbols`` to ``deliver`` until cancelled."""
        wanted = sorted({s.upper() for s in symbols})
        for symbol, start in (since or {}).items():
            key = symbol.upper()
            self.last[key] = max(self.last.get(key, start), start)
        await self._subscribe(wanted)
        await self._catch_up(wanted, deliver)
        async for batch in self.client.batches():
            if batch.gaps:
                log.info("bar source: feed gap on shard %d, catching up", batch.shard)
                hit = [s for s in wanted if shard_of(s, self.shards) == batch.shard]
                await self._catch_up(hit, deliver)
            fresh = self._fresh(e for e in batch.events if e.get("type") == "bar")
            if fresh:
                await deliver(fresh)

    async def close(self) -> None:
        await self.client.close()
