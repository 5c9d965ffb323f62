"""Per-replica fan-out of market data: one upstream feed subscription per replica (event
streams: ``serve.gateway_streams``; the revocation watch: ``serve.gateway_session``).

Why per replica and not per socket: a thousand sockets must not mean a thousand feed
consumers. The fan-out reads once and hands one encoded text to every local socket's
bounded queue (``Connection.enqueue``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

from cluster.events import Event, Gap
from cluster.retry import Backoff
from domain.errors import TransientError
from serve.gateway_conn import Connection
from serve.gateway_schemas import MARKET_EVENT_TYPE

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
