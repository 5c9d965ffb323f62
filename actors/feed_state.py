"""In-memory state of one feed shard: per-symbol books and per-consumer buffers.

Why plain classes, not the actor: the same code runs inside the Ray actor and in the
benchmark's in-process baseline, and tests can drive it without Ray.

Sequence numbers are the shard's, per symbol, and authoritative: whatever the provider
numbered, the shard renumbers what it forwards. Wire dicts (``to_wire()``) are what is
stored and fanned out, so one event is serialised once however many consumers get it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

Wire = dict[str, Any]


def _ts_out(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Building:
    """The current (unfinished) minute, so a snapshot can show it before it closes."""

    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    last_ts: datetime
    provider: str


class SymbolBook:
    """Last trade, current quote, current and recent 1-minute bars, seq, active provider."""

    def __init__(self, symbol: str, bar_history: int) -> None:
        self.symbol = symbol
        self.seq = 0
        self.latest: dict[str, Wire] = {}  # "quote" | "trade" | "bar" | "status"
        self.bars: deque[Wire] = deque(maxlen=bar_history)
        self.building: _Building | None = None
        self.last_event_mono: float | None = None  # time.monotonic() of the last forward

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def record(self, wire: Wire) -> None:
        kind = wire["type"]
        self.latest[kind] = wire
        self.last_event_mono = time.monotonic()
        if kind == "bar":
            if self.bars and self.bars[-1]["start"] == wire["start"]:
                self.bars[-1] = wire  # a corrected bar for the same minute replaces it
            else:
                self.bars.append(wire)

    def on_trade(self, price: Decimal, size: int, exchange_ts: datetime, provider: str) -> None:
        minute = exchange_ts.replace(second=0, microsecond=0)
        b = self.building
        if b is None or minute > b.start:
            self.building = _Building(
                minute, price, price, price, price, size, exchange_ts, provider
            )
            return
        if minute < b.start:
            return  # late trade: the aggregator counts it
        b.high, b.low, b.volume = max(b.high, price), min(b.low, price), b.volume + size
        if exchange_ts >= b.last_ts:
            b.close, b.last_ts, b.provider = price, exchange_ts, provider

    def closed_minute(self, start: datetime) -> None:
        if self.building is not None and self.building.start <= start:
            self.building = None

    def current_bar(self) -> Wire | None:
        """The unfinished minute as a bar wire dict (seq = the symbol's current seq)."""
        b = self.building
        if b is None:
            return None
        return {
            "type": "bar",
            "symbol": self.symbol,
            "open": str(b.open),
            "high": str(b.high),
            "low": str(b.low),
            "close": str(b.close),
            "volume": b.volume,
            "start": _ts_out(b.start),
            "exchange_ts": _ts_out(b.last_ts),
            "received_ts": _ts_out(b.last_ts),
            "provider": b.provider,
            "seq": self.seq,
            "timeframe": "1Min",
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "seq": self.seq,
            "quote": self.latest.get("quote"),
            "trade": self.latest.get("trade"),
            "bar": self.current_bar() or self.latest.get("bar"),
        }


@dataclass
class Consumer:
    """One subscriber's bounded buffer: a slow consumer loses its oldest events, counted."""

    consumer_id: str
    max_buffer: int
    symbols: set[str] = field(default_factory=set)
    buffer: deque[Wire] = field(default_factory=deque)
    dropped: int = 0  # since the last poll
    dropped_total: int = 0
    last_seen: float = field(default_factory=time.monotonic)
    polling: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class ConsumerHub:
    """Subscriptions by symbol and the fan-out into per-consumer buffers."""

    def __init__(self, default_buffer: int, ttl_s: float) -> None:
        self.default_buffer = default_buffer
        self.ttl_s = ttl_s
        self.consumers: dict[str, Consumer] = {}
        self._by_symbol: dict[str, list[Consumer]] = {}
        self.unreported_drops = 0

    def subscribe(self, consumer_id: str, symbols: Iterable[str], max_buffer: int | None) -> None:
        c = self.consumers.get(consumer_id)
        if c is None:
            c = self.consumers[consumer_id] = Consumer(
                consumer_id, max_buffer or self.default_buffer
            )
        elif max_buffer:
            c.max_buffer = max_buffer
        c.last_seen = time.monotonic()
        for symbol in symbols:
            if symbol not in c.symbols:
                c.symbols.add(symbol)
                self._by_symbol.setdefault(symbol, []).append(c)

    def unsubscribe(self, consumer_id: str, symbols: Iterable[str] | None = None) -> None:
        c = self.consumers.get(consumer_id)
        if c is None:
            return
        gone = set(c.symbols) if symbols is None else set(symbols) & c.symbols
        for symbol in gone:
            c.symbols.discard(symbol)
            subs = self._by_symbol.get(symbol, [])
            if c in subs:
                subs.remove(c)
            if not subs:
                self._by_symbol.pop(symbol, None)
        if symbols is None or not c.symbols:
            self.consumers.pop(consumer_id, None)
            c.wake.set()

    def deliver(self, symbol: str, wire: Wire) -> None:
        for c in self._by_symbol.get(symbol, ()):
            if len(c.buffer) >= c.max_buffer:
                c.buffer.popleft()
                c.dropped += 1
                c.dropped_total += 1
                self.unreported_drops += 1
            c.buffer.append(wire)
            c.wake.set()

    async def poll(
        self, consumer_id: str, timeout_s: float, max_events: int
    ) -> tuple[bool, list[Wire], int]:
        """(subscribed, events, dropped): waits up to ``timeout_s`` for the first event."""
        c = self.consumers.get(consumer_id)
        if c is None:
            return False, [], 0
        c.last_seen = time.monotonic()
        if not c.buffer and timeout_s > 0:
            c.wake.clear()
            c.polling += 1
            try:
                async with asyncio.timeout(timeout_s):
                    await c.wake.wait()
            except TimeoutError:
                pass
            finally:
                c.polling -= 1
                c.last_seen = time.monotonic()
        n = min(len(c.buffer), max_events)
        events = [c.buffer.popleft() for _ in range(n)]
        dropped, c.dropped = c.dropped, 0
        return consumer_id in self.consumers, events, dropped

    def expire(self) -> list[str]:
        """Forget consumers that stopped polling (a crashed gateway must not leak buffers)."""
        horizon = time.monotonic() - self.ttl_s
        stale = [
            cid for cid, c in self.consumers.items() if not c.polling and c.last_seen < horizon
        ]
        for cid in stale:
            self.unsubscribe(cid)
        return stale
