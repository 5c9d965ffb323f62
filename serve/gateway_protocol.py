"""Per-replica fan-out: one Redis tailer and one upstream feed subscription (the revocation
watch is ``serve.gateway_session``).

Why per replica and not per socket: a thousand sockets must not mean a thousand blocking
``XREAD`` connections, feed consumers or auth lookups. Each fan-out here reads once and
hands one encoded text to every local socket's bounded queue (``Connection.enqueue``).

Resume without loss or duplicates (``StreamFanout.register`` then ``catch_up``): the
subscription is registered *before* ``subscribed`` is answered and before the backlog is
read, so every event the tailer sees meanwhile lands in the subscription's ``pending``
list; the backlog (``AsyncEventBus.read_since`` from the client's last ``seq``) is then
sent, then ``pending`` minus what the backlog already covered, and only then does the
subscription go live. Everything is ordered by ``seq``,
and a subscription never sends a ``seq`` at or below the last one it sent.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cluster.events import AsyncEventBus, Event, Gap
from cluster.retry import Backoff
from domain.errors import OperatorError, TransientError
from serve.gateway_conn import Connection
from serve.gateway_schemas import MARKET_EVENT_TYPE, CloseCode

log = logging.getLogger(__name__)
_CHANNEL_OF_TYPE = {v: k for k, v in MARKET_EVENT_TYPE.items()}


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)


def event_text(ev: Event) -> str:
    return _dumps(
        {
            "type": "event",
            "stream": ev.stream,
            "seq": ev.seq,
            "event": ev.type,
            "data": ev.data,
            "ts_ms": ev.ts_ms,
        }
    )


def gap_text(gap: Gap) -> str:
    return _dumps(
        {
            "type": "gap",
            "stream": gap.stream,
            "seq": gap.to_seq,
            "from_seq": gap.from_seq,
            "to_seq": gap.to_seq,
        }
    )


@dataclass
class _Sub:
    conn: Connection
    last: int
    live: bool = False
    resume: bool = False
    pending: list[Event] = field(default_factory=list)


class StreamFanout:
    """EventBus streams -> local sockets, with resume from the retention window."""

    def __init__(
        self, bus: AsyncEventBus, *, block_ms: int = 250, batch: int = 500, pending_max: int = 5000
    ) -> None:
        self.bus, self.block_ms, self.batch, self.pending_max = bus, block_ms, batch, pending_max
        self._subs: dict[str, dict[int, _Sub]] = {}
        self._cursors: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def streams(self) -> int:
        return len(self._cursors)

    async def add(self, conn: Connection, stream: str, resume_after: int | None) -> None:
        await self.register(conn, stream, resume_after)
        await self.catch_up(conn, stream)

    async def register(self, conn: Connection, stream: str, resume_after: int | None) -> None:
        """Phase 1: from here on every event after the start point is kept for ``conn``.

        The start point is ``resume_after`` or, for a live-only subscription, the stream's
        head now. Nothing is sent until ``catch_up``, so the caller can answer
        ``subscribed`` first. Raises ``TransientError`` if Redis is unavailable.
        """
        sub = _Sub(conn, last=resume_after or 0)
        self._subs.setdefault(stream, {})[conn.id] = sub
        if stream not in self._cursors:
            head = await self.bus.head(stream)
            if not self._current(stream, sub):
                return
            self._cursors.setdefault(stream, head)
            self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ws-tailer")
        sub.resume = resume_after is not None
        if not sub.resume:
            sub.last = self._cursors[stream]

    async def catch_up(self, conn: Connection, stream: str) -> None:
        """Phase 2: the retained backlog (if resuming), what arrived meanwhile, then live."""
        sub = self._subs.get(stream, {}).get(conn.id)
        if sub is None or sub.live:
            return
        batch = max(1, min(self.batch, conn.limits.send_queue // 4))
        while sub.resume and self._current(stream, sub) and conn.is_open:
            got = await self.bus.read_since(stream, sub.last, batch)
            if not isinstance(got, Gap):
                await conn.wait_room(len(got))
            if not self._current(stream, sub) or not conn.is_open:
                return
            if isinstance(got, Gap):
                conn.enqueue(gap_text(got))
                sub.last = got.to_seq
                continue
            for ev in got:
                if ev.seq > sub.last:
                    conn.enqueue(event_text(ev))
                    sub.last = ev.seq
            if len(got) < batch:
                break
        for ev in sub.pending:
            if ev.seq > sub.last:
                conn.enqueue(event_text(ev))
                sub.last = ev.seq
        sub.pending = []
        sub.live = True

    def _current(self, stream: str, sub: _Sub) -> bool:
        return self._subs.get(stream, {}).get(sub.conn.id) is sub

    def remove(self, conn: Connection, stream: str) -> None:
        subs = self._subs.get(stream)
        if subs is None or subs.pop(conn.id, None) is None:
            return
        if not subs:
            del self._subs[stream]
            self._cursors.pop(stream, None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        backoff, attempt = Backoff(base_s=0.1, cap_s=5.0, max_attempts=None), 0
        while True:
            if not self._cursors:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                got = await self.bus.tail(dict(self._cursors), block_ms=self.block_ms)
            except TransientError:
                log.warning("event tailer: redis unavailable, retrying", exc_info=True)
                await asyncio.sleep(backoff.delay(attempt))
                attempt += 1
                continue
            except OperatorError:
                # a refused command is a bug to page about, not an outage; the tailer serves
                # every socket of this replica, so it says so loudly and keeps going
                log.error("event tailer: redis refused the command, retrying", exc_info=True)
                await asyncio.sleep(backoff.delay(attempt))
                attempt += 1
                continue
            attempt = 0
            for stream, events in got.items():
                self._dispatch(stream, events)

    def _dispatch(self, stream: str, events: list[Event]) -> None:
        cursor = self._cursors.get(stream)
        if cursor is None:
            return
        fresh = [e for e in events if e.seq > cursor]
        if not fresh:
            return
        self._cursors[stream] = fresh[-1].seq
        gap = Gap(stream, cursor + 1, fresh[0].seq - 1) if fresh[0].seq > cursor + 1 else None
        texts = [(e, event_text(e)) for e in fresh]
        for sub in list(self._subs.get(stream, {}).values()):
            if not sub.live:
                sub.pending.extend(fresh)
                if len(sub.pending) > self.pending_max:
                    sub.conn.fail(CloseCode.SLOW, "slow consumer: resume backlog too large")
                continue
            if gap is not None and gap.to_seq > sub.last:
                sub.conn.enqueue(gap_text(gap))
                sub.last = gap.to_seq
            for ev, text in texts:
                if ev.seq > sub.last:
                    sub.conn.enqueue(text)
                    sub.last = ev.seq


class MarketFanout:
    """One upstream ``FeedClient`` per replica; symbols = union of local subscriptions.

    The feed contract (``cluster.marketdata.client.FeedClient``): ``subscribe(symbols)``
    adds symbols (the upstream set only grows for the replica's life; sockets filter
    locally), ``batches()`` yields batches with ``epoch``, ``events`` (wire dicts with
    ``symbol``, ``seq`` per symbol, ``type``) and ``gaps``; ``close()``. Market channels
    are live only (no resume); a feed gap for a symbol is forwarded as a ``gap`` message
    on ``market:<SYMBOL>``.
    """

    def __init__(self, feed_factory: Callable[[], Any] | None) -> None:
        self.feed_factory = feed_factory
        self._subs: dict[tuple[str, str], dict[int, Connection]] = {}
        self._symbols: dict[str, int] = {}
        self._upstream: set[str] = set()
        self._feed: Any = None
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0

    @property
    def symbols(self) -> set[str]:
        return set(self._symbols)

    async def add(self, conn: Connection, channel: str, symbol: str) -> None:
        if self.feed_factory is None:
            raise TransientError("market data is not available on this gateway")
        subs = self._subs.setdefault((MARKET_EVENT_TYPE[channel], symbol), {})
        if conn.id in subs:
            return
        subs[conn.id] = conn
        self._symbols[symbol] = self._symbols.get(symbol, 0) + 1
        if symbol not in self._upstream:
            self._upstream.add(symbol)
            await self._subscribe_upstream([symbol])

    async def remove(self, conn: Connection, channel: str, symbol: str) -> None:
        key = (MARKET_EVENT_TYPE[channel], symbol)
        subs = self._subs.get(key)
        if subs is None or subs.pop(conn.id, None) is None:
            return
        if not subs:
            del self._subs[key]
        self._symbols[symbol] -= 1
        if self._symbols[symbol] == 0:
            del self._symbols[symbol]

    async def _subscribe_upstream(self, symbols: list[str]) -> None:
        if self._feed is None:
            self._feed = self.feed_factory() if self.feed_factory is not None else None
        if self._feed is None:
            return
        try:
            await maybe_await(self._feed.subscribe(symbols))
        except Exception as exc:
            self._upstream.difference_update(symbols)
            raise TransientError(f"feed subscribe failed: {type(exc).__name__}") from exc
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._pump(), name="ws-feed")

    async def _pump(self) -> None:
        backoff, attempt = Backoff(base_s=0.1, cap_s=5.0, max_attempts=None), 0
        while True:
            try:
                async for batch in self._feed.batches():
                    attempt = 0
                    self._dispatch(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("feed batches failed; resubscribing", exc_info=True)
            await asyncio.sleep(backoff.delay(attempt))
            attempt += 1
            try:
                await maybe_await(self._feed.subscribe(sorted(self._upstream)))
            except Exception:
                log.warning("feed resubscribe failed", exc_info=True)

    def _dispatch(self, batch: Any) -> None:
        gaps: Any
        if isinstance(batch, dict):
            epoch, events, gaps = batch.get("epoch"), batch.get("events", ()), ()
        else:
            epoch, events, gaps = batch.epoch, batch.events, batch.gaps
        for gap in gaps:
            self._forward_gap(gap)
        subs_map = self._subs
        for ev in events:
            subs = subs_map.get((ev.get("type", ""), ev.get("symbol", "")))
            if not subs:
                continue
            symbol = ev["symbol"]
            text = _dumps(
                {
                    "type": "market",
                    "channel": _CHANNEL_OF_TYPE[ev["type"]],
                    "stream": f"market:{symbol}",
                    "seq": ev.get("seq", 0),
                    "epoch": epoch,
                    "symbol": symbol,
                    "data": ev,
                }
            )
            for conn in list(subs.values()):
                if conn.enqueue(text):
                    self.delivered += 1

    def _forward_gap(self, gap: Any) -> None:
        symbol, expected, got = gap.symbol, gap.expected, gap.got
        if symbol is None or expected is None or got is None or got <= expected:
            return
        text = gap_text(Gap(f"market:{symbol}", expected, got - 1))
        targets: dict[int, Connection] = {}
        for etype in MARKET_EVENT_TYPE.values():
            targets.update(self._subs.get((etype, symbol), {}))
        for conn in targets.values():
            conn.enqueue(text)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._feed is not None:
            try:
                await maybe_await(self._feed.close())
            except Exception:
                log.debug("feed close failed", exc_info=True)


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a possibly blocking callable off the event loop (or await it if async)."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    return await asyncio.to_thread(fn, *args)
