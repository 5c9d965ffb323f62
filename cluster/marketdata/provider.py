"""The market-data provider contract shared by every adapter (simulated, replay, Alpaca).

The flow is query -> fetch -> transform: an adapter talks its vendor's protocol and hands
the feed shard actors nothing but standard domain events (``Trade``, ``Quote``, ``Bar``).

Consumption is pull-based: ``events()`` is an async iterator over one bounded queue, so a
slow consumer applies backpressure to the adapter (the simulator and the replay simply
wait; a socket stops being read and the vendor eventually reports a slow client) instead
of the adapter buffering without limit. There is one consumer per provider. The iterator
ends when ``stop()`` is called, when the adapter gives up (state FAILED: call ``stop()``
before starting it again) and, if asked, at the end of a replay.

``seq`` is numbered per symbol by the adapter, 1-based and gapless for what it emitted;
the feed shard may renumber with ``with_seq``. ``snapshot`` answers a ``Snapshot`` per
known symbol (latest trade, quote, bar, daily bar; any may be None).

Health is pushed: every error an adapter meets is passed to ``on_error(exc)`` (already
translated to ``TransientError`` / ``OperatorError``), and ``state`` tells where the
adapter stands. ``subscribe`` may be called before ``start``: the feed begins with those
symbols. ``stop`` is idempotent and releases every task and socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from domain.clock import Clock
from domain.errors import ElsonError
from domain.marketdata import Bar, MarketEvent, Quote, Trade

__all__ = [
    "BaseProvider",
    "ErrorHook",
    "IllegalProviderTransition",
    "MarketDataProvider",
    "MarketEvent",
    "ProviderState",
    "Snapshot",
    "UtcClock",
]

log = logging.getLogger(__name__)

ErrorHook = Callable[[Exception], None]


class IllegalProviderTransition(ElsonError):
    """A lifecycle move the table forbids: a bug in an adapter, not a vendor problem."""

    def __init__(self, state: ProviderState, to: ProviderState) -> None:
        super().__init__(f"illegal provider transition: {state.value} -> {to.value}")


class UtcClock:
    """The wall clock, used when no clock is injected (reading it is an edge effect)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The latest known state of one symbol, as a REST-like query answers it."""

    symbol: str
    trade: Trade | None = None
    quote: Quote | None = None
    bar: Bar | None = None  # latest (minute) bar
    daily_bar: Bar | None = None


class ProviderState(StrEnum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    FAILED = "failed"  # gave up (bad credentials, retries exhausted): needs an operator
    STOPPED = "stopped"


_S = ProviderState
_TRANSITIONS: dict[ProviderState, frozenset[ProviderState]] = {
    _S.NEW: frozenset({_S.STARTING, _S.STOPPED}),
    _S.STARTING: frozenset({_S.RUNNING, _S.RECONNECTING, _S.FAILED, _S.STOPPED}),
    _S.RUNNING: frozenset({_S.RECONNECTING, _S.FAILED, _S.STOPPED}),
    _S.RECONNECTING: frozenset({_S.RUNNING, _S.FAILED, _S.STOPPED}),
    _S.FAILED: frozenset({_S.STOPPED}),
    # A stopped provider may be started again (a feed shard restarting its upstream).
    _S.STOPPED: frozenset({_S.STARTING}),
}


@runtime_checkable
class MarketDataProvider(Protocol):
    name: str

    @property
    def state(self) -> ProviderState: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def subscribe(self, symbols: Iterable[str]) -> None: ...

    async def unsubscribe(self, symbols: Iterable[str]) -> None: ...

    def events(self) -> AsyncIterator[MarketEvent]: ...

    async def snapshot(self, symbols: Iterable[str]) -> dict[str, Snapshot]: ...


class _End:
    """Queue sentinel: the stream is over."""


_END = _End()


class BaseProvider:
    """Queue, lifecycle state, subscriptions, per-symbol sequence numbers, latest values."""

    def __init__(
        self,
        *,
        name: str,
        clock: Clock | None = None,
        on_error: ErrorHook | None = None,
        queue_size: int = 10_000,
    ) -> None:
        self.name = name
        self._clock: Clock = clock or UtcClock()
        self._on_error = on_error
        self._queue_size = queue_size
        self._queue: asyncio.Queue[MarketEvent | _End] = asyncio.Queue(queue_size)
        self._state = ProviderState.NEW
        self._symbols: set[str] = set()
        self._seq: dict[str, int] = {}
        self._latest: dict[str, dict[type, MarketEvent]] = {}

    # -- lifecycle -------------------------------------------------------------------

    @property
    def state(self) -> ProviderState:
        return self._state

    @property
    def symbols(self) -> frozenset[str]:
        """Symbols currently subscribed (``"*"`` means every symbol the source has)."""
        return frozenset(self._symbols)

    def _transition(self, to: ProviderState) -> None:
        if to is self._state:
            return
        if to not in _TRANSITIONS[self._state]:
            raise IllegalProviderTransition(self._state, to)
        self._state = to

    def _begin_start(self) -> bool:
        """Enter STARTING; False when already started (``start`` is then a no-op)."""
        if self._state in (_S.STARTING, _S.RUNNING, _S.RECONNECTING):
            return False
        if self._state is _S.STOPPED:
            self._queue = asyncio.Queue(self._queue_size)  # the old stream was ended
        self._transition(_S.STARTING)
        return True

    def _end_stream(self) -> None:
        """Wake the consumer with the end sentinel, dropping the oldest event if full."""
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(_END)

    async def _finish_stop(self, *tasks: asyncio.Task[object] | None) -> None:
        """Cancel and await ``tasks``, end the stream, enter STOPPED. Idempotent."""
        live = [t for t in tasks if t is not None]
        for task in live:
            task.cancel()
        for task in live:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._state is not _S.STOPPED:
            self._transition(_S.STOPPED)
            self._end_stream()

    # -- subscriptions ---------------------------------------------------------------

    def _add_symbols(self, symbols: Iterable[str]) -> set[str]:
        new = {s.upper() if s != "*" else s for s in symbols} - self._symbols
        self._symbols |= new
        return new

    def _remove_symbols(self, symbols: Iterable[str]) -> set[str]:
        gone = {s.upper() if s != "*" else s for s in symbols} & self._symbols
        self._symbols -= gone
        return gone

    def _wanted(self, symbol: str) -> bool:
        return symbol in self._symbols or "*" in self._symbols

    # -- events ----------------------------------------------------------------------

    def _next_seq(self, symbol: str) -> int:
        """Per-symbol sequence number, 1-based, continuing across reconnects."""
        seq = self._seq.get(symbol, 0) + 1
        self._seq[symbol] = seq
        return seq

    async def _emit(self, event: MarketEvent) -> None:
        """Queue ``event`` (waiting while the consumer is behind) and remember it."""
        self._latest.setdefault(event.symbol, {})[type(event)] = event
        await self._queue.put(event)

    async def events(self) -> AsyncIterator[MarketEvent]:
        queue = self._queue
        while True:
            item = await queue.get()
            if isinstance(item, _End):
                return
            yield item

    def _report(self, exc: Exception) -> None:
        """Pass an error to the health hook; a broken hook must not kill the feed."""
        level = logging.ERROR if not isinstance(exc, ElsonError) else logging.WARNING
        log.log(level, "%s provider: %s", self.name, exc)
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                log.exception("%s provider: on_error hook failed", self.name)

    def _latest_snapshot(self, symbols: Iterable[str]) -> dict[str, Snapshot]:
        """Snapshot from what this provider has emitted so far."""
        out: dict[str, Snapshot] = {}
        for raw in symbols:
            symbol = raw.upper()
            seen = self._latest.get(symbol)
            if not seen:
                continue
            trade, quote, bar = seen.get(Trade), seen.get(Quote), seen.get(Bar)
            out[symbol] = Snapshot(
                symbol=symbol,
                trade=trade if isinstance(trade, Trade) else None,
                quote=quote if isinstance(quote, Quote) else None,
                bar=bar if isinstance(bar, Bar) else None,
            )
        return out
