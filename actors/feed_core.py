"""The logic of one feed shard, as a plain asyncio object (the actor is a thin shell).

Flow is one way: each provider of the chain feeds ``_on_event``; every tick updates that
provider's health in the symbol's ``FailoverPolicy`` (hot standby: all providers stay
subscribed, or standbys would look stale), and only the *active* provider's events are
renumbered, recorded, staged for the cache and fanned out to consumers. A check loop
re-judges every symbol each ``check_interval_s``; a switch becomes a ``SwitchEvent``
kept for the gateway's ``feed`` channel, a metric, and one log line per group of
symbols that moved together (a provider outage moves them all at once).

Sequence rule (also the restart rule): ``seq`` is per symbol, assigned here, +1 per
forwarded event. Each incarnation of a shard has a new ``epoch``. A restarted shard
continues from the seq it finds in the Redis cache plus ``RESTART_SEQ_GAP`` (or from 0
when the cache has nothing), so a subscriber sees both an epoch change and a jump, and
never a seq that looks like a continuation of what it already had.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from actors.feed_state import ConsumerHub, SymbolBook, Wire
from cluster import metrics
from cluster.marketdata.cache import CachedSymbol, FeedCache
from cluster.marketdata.provider import ErrorHook, MarketDataProvider
from domain.clock import Clock
from domain.errors import TransientError
from domain.failover import FailoverConfig, FailoverPolicy, SwitchEvent
from domain.marketdata import BarAggregator, MarketEvent, Quote, Trade

__all__ = ["RESTART_SEQ_GAP", "FeedCore"]

log = logging.getLogger(__name__)

RESTART_SEQ_GAP = 1000
MAX_BATCH = 5000
YIELD_EVERY = 256  # events handled before the event loop gets a turn
ProviderFactory = Callable[[str, ErrorHook], MarketDataProvider]
Publisher = Callable[[str, str, dict[str, Any]], Awaitable[Any] | Any]


def _switches_metric() -> metrics._Metric:
    return metrics.counter(
        "elson_feed_switches_total", "Feed provider switches", ("shard", "from", "to", "reason")
    )


def _dropped_metric() -> metrics._Metric:
    return metrics.counter(
        "elson_feed_dropped_total", "Events dropped for slow feed consumers", ("shard",)
    )


def _errors_metric() -> metrics._Metric:
    return metrics.counter(
        "elson_feed_provider_errors_total", "Errors reported by providers", ("shard", "provider")
    )


class FeedCore:
    def __init__(
        self,
        *,
        shard: int,
        symbols: Iterable[str],
        chain: list[str],
        make_provider: ProviderFactory,
        failover: FailoverConfig,
        clock: Clock,
        market_open: Callable[[datetime], bool],
        epoch: str,
        cache: FeedCache | None = None,
        publish: Publisher | None = None,
        bar_history: int = 120,
        consumer_buffer: int = 10_000,
        consumer_ttl_s: float = 30.0,
        cache_flush_s: float = 0.25,
    ) -> None:
        self.shard, self.epoch, self.chain = shard, epoch, list(chain)
        self.symbols = sorted(set(symbols))
        self.clock, self.cache, self._publish = clock, cache, publish
        self._make, self._market_open_fn = make_provider, market_open
        self.failover = failover
        self.books = {s: SymbolBook(s, bar_history) for s in self.symbols}
        self.policies = {s: FailoverPolicy(self.chain, failover, key=s) for s in self.symbols}
        self.hub = ConsumerHub(consumer_buffer, consumer_ttl_s)
        self.aggregator = BarAggregator()
        self.providers: dict[str, MarketDataProvider] = {}
        self.provider_errors = dict.fromkeys(self.chain, 0)
        self.switches: deque[dict[str, Any]] = deque(maxlen=500)
        self.cache_flush_s = cache_flush_s
        self.forwarded = 0
        self.market_open = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._tag = {"shard": str(shard)}

    # -- lifecycle -------------------------------------------------------------------

    def restore(self, cached: dict[str, CachedSymbol]) -> None:
        """Last values and seq from the cache (see the sequence rule in the docstring)."""
        for symbol, found in cached.items():
            book = self.books.get(symbol)
            if book is None:
                continue
            book.seq = found.seq + RESTART_SEQ_GAP if found.seq else 0
            book.latest.update(found.latest)
            book.bars.extend(found.bars)

    async def start(self) -> None:
        if self._tasks:
            return
        for name in self.chain:
            self._tasks.append(asyncio.create_task(self._run_provider(name), name=f"feed-{name}"))
        self._tasks.append(asyncio.create_task(self._check_loop(), name="feed-check"))
        if self.cache is not None:
            self._tasks.append(asyncio.create_task(self._flush_loop(), name="feed-cache"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for provider in self.providers.values():
            with contextlib.suppress(Exception):
                await provider.stop()
        if self.cache is not None:
            with contextlib.suppress(Exception):
                await self.cache.flush()

    async def _run_provider(self, name: str) -> None:
        """Keep one provider running; a failed or ended stream is an error, then a restart."""
        provider = self._make(name, lambda exc: self.on_provider_error(name, exc))
        self.providers[name] = provider
        attempt = 0
        while True:
            try:
                await provider.subscribe(self.symbols)
                await provider.start()
                burst = 0
                async for event in provider.events():
                    attempt = 0
                    self.on_event(name, event)
                    burst += 1
                    if burst >= YIELD_EVERY:
                        # ``queue.get`` on a non-empty queue never yields: without this a
                        # busy provider starves polls, snapshots and the check loop.
                        burst = 0
                        await asyncio.sleep(0)
                self.on_provider_error(name, TransientError(f"{name} stream ended"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.on_provider_error(name, exc)
            with contextlib.suppress(Exception):
                await provider.stop()
            attempt += 1
            await asyncio.sleep(min(30.0, 0.25 * 2**attempt))

    # -- hot path ----------------------------------------------------------------------

    def on_provider_error(self, name: str, exc: Exception) -> None:
        """Counted into every symbol's breaker for ``name`` (one connection serves all)."""
        now = self.clock.now()
        self.provider_errors[name] = self.provider_errors.get(name, 0) + 1
        _errors_metric().inc(1, self._tag | {"provider": name})
        for policy in self.policies.values():
            policy.on_error(name, now)

    def on_event(self, name: str, event: MarketEvent) -> None:
        symbol = event.symbol
        policy = self.policies.get(symbol)
        if policy is None:
            return  # not ours (a provider that ignores subscriptions)
        now = self.clock.now()
        mid = event.mid if isinstance(event, Quote) else None
        exchange_ts = event.exchange_ts or now
        policy.on_tick(name, exchange_ts, now, mid)
        if name != policy.active:
            return
        book = self.books[symbol]
        if isinstance(event, Trade):
            bar = self.aggregator.add(event)
            if bar is not None:
                self._forward(book, bar)
            book.on_trade(event.price, event.size, event.exchange_ts, name)
        self._forward(book, event)

    def _forward(self, book: SymbolBook, event: MarketEvent) -> None:
        wire = event.to_wire()
        wire["seq"] = book.next_seq()
        book.record(wire)
        self.hub.deliver(book.symbol, wire)
        if self.cache is not None:
            self.cache.stage(wire)
        self.forwarded += 1

    # -- periodic work -----------------------------------------------------------------

    async def _check_loop(self) -> None:
        interval = self.failover.check_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)
            try:
                self.check(self.clock.now())
            except Exception:
                log.exception("feed shard %d: check failed", self.shard)

    def _is_open(self, now: datetime) -> bool:
        try:
            return bool(self._market_open_fn(now))
        except Exception:
            return False  # outside the calendar: fail closed (only breakers count)

    def check(self, now: datetime) -> list[SwitchEvent]:
        self.market_open = self._is_open(now)
        moved = [
            ev
            for policy in self.policies.values()
            if (ev := policy.evaluate(now, self.market_open)) is not None
        ]
        if moved:
            self._on_switches(moved)
        for bar in self.aggregator.flush(now):
            book = self.books[bar.symbol]
            book.closed_minute(bar.start)
            self._forward(book, bar)
        if self.hub.unreported_drops:
            _dropped_metric().inc(self.hub.unreported_drops, self._tag)
            self.hub.unreported_drops = 0
        self.hub.expire()
        self._export_staleness(now)
        return moved

    def _export_staleness(self, now: datetime) -> None:
        """``elson_feed_staleness_seconds{shard}``: the oldest active provider's silence
        over the shard's symbols while the market is open (0 while it is closed, when no
        tick is expected), for the ``ElsonFeedStale`` alert."""
        worst = 0.0
        if self.market_open:
            for policy in self.policies.values():
                last = policy.health(policy.active).last_received
                if last is not None:
                    worst = max(worst, (now - last).total_seconds())
        try:
            metrics.gauge(
                "elson_feed_staleness_seconds", "Oldest silence of a shard's feed", ("shard",)
            ).set(worst, self._tag)
        except Exception:  # metrics never break the feed
            log.debug("staleness gauge export failed", exc_info=True)

    def _on_switches(self, moved: list[SwitchEvent]) -> None:
        groups: dict[tuple[str, str, str, bool], list[str]] = {}
        for ev in moved:
            groups.setdefault(
                (ev.from_provider, ev.to_provider, ev.reason, ev.degraded), []
            ).append(ev.symbol_or_chain)
        for (frm, to, reason, degraded), symbols in groups.items():
            at = moved[0].at.isoformat()
            record = {
                "type": "feed_switch",
                "shard": self.shard,
                "from": frm,
                "to": to,
                "reason": reason,
                "degraded": degraded,
                "symbols": symbols,
                "at": at,
            }
            self.switches.append(record)
            tags = self._tag | {"from": frm, "to": to, "reason": reason}
            _switches_metric().inc(len(symbols), tags)
            shown = ",".join(symbols[:10]) + (",..." if len(symbols) > 10 else "")
            log.warning(
                "feed shard %d: %d symbol(s) %s -> %s (%s): %s",
                self.shard,
                len(symbols),
                frm,
                to,
                reason,
                shown,
            )
            if self._publish is not None:
                self._tasks.append(asyncio.create_task(self._publish_switch(record)))
        self._tasks = [t for t in self._tasks if not t.done()]

    async def _publish_switch(self, record: dict[str, Any]) -> None:
        try:
            result = self._publish("feed", "feed.switch", record)  # type: ignore[misc]
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # counted by the Redis client; keep the shard going
            log.warning("feed shard %d: switch not published: %s", self.shard, exc)

    async def _flush_loop(self) -> None:
        assert self.cache is not None
        while True:
            await asyncio.sleep(self.cache_flush_s)
            await self.cache.flush()

    # -- consumer API ----------------------------------------------------------------------

    def subscribe(
        self, consumer_id: str, symbols: Iterable[str], max_buffer: int | None = None
    ) -> dict[str, Any]:
        owned = [s.upper() for s in symbols if s.upper() in self.books]
        self.hub.subscribe(consumer_id, owned, max_buffer)
        return {
            "epoch": self.epoch,
            "shard": self.shard,
            "seqs": {s: self.books[s].seq for s in owned},
        }

    async def poll(
        self, consumer_id: str, timeout_s: float, max_events: int = MAX_BATCH
    ) -> dict[str, Any]:
        subscribed, events, dropped = await self.hub.poll(consumer_id, timeout_s, max_events)
        return {
            "epoch": self.epoch,
            "shard": self.shard,
            "subscribed": subscribed,
            "events": events,
            "dropped": dropped,
        }

    def snapshot(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {
            s.upper(): self.books[s.upper()].snapshot() for s in symbols if s.upper() in self.books
        }

    def bars(self, symbol: str, limit: int) -> list[Wire]:
        book = self.books.get(symbol.upper())
        if book is None or limit <= 0:
            return []
        return list(book.bars)[-limit:]

    def status(self) -> dict[str, Any]:
        now = self.clock.now()
        symbols = {}
        for symbol, policy in self.policies.items():
            book = self.books[symbol]
            providers = {}
            for name in self.chain:
                health = policy.health(name)
                providers[name] = {
                    "breaker": health.breaker.state(now).value,
                    "last_received": health.last_received.isoformat()
                    if health.last_received
                    else None,
                    "problems": [p.value for p in policy.problems(name, now, self.market_open)],
                }
            last = policy.health(policy.active).last_received
            symbols[symbol] = {
                "active": policy.active,
                "degraded": policy.degraded,
                "seq": book.seq,
                "staleness_s": (now - last).total_seconds() if last else None,
                "providers": providers,
            }
        return {
            "shard": self.shard,
            "epoch": self.epoch,
            "market_open": self.market_open,
            "forwarded": self.forwarded,
            "providers": {
                name: {
                    "state": str(getattr(p, "state", "unknown")),
                    "errors": self.provider_errors.get(name, 0),
                }
                for name, p in self.providers.items()
            },
            "symbols": symbols,
            "switches": list(self.switches)[-50:],
            "consumers": {
                cid: {
                    "symbols": len(c.symbols),
                    "buffered": len(c.buffer),
                    "dropped": c.dropped_total,
                }
                for cid, c in self.hub.consumers.items()
            },
            "cache": self.cache.health() if self.cache is not None else {"state": "disabled"},
        }
