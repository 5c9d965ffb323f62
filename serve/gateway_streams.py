"""Per-replica fan-out of event streams: one Redis tailer for every local socket, with the
PostgreSQL record behind it.

Why per replica: a thousand sockets must not mean a thousand blocking ``XREAD``s. The
tailer reads once and hands one encoded text to every local socket's bounded queue.

Resume without loss or duplicates (``register`` then ``catch_up``): the subscription is
registered *before* ``subscribed`` is answered and before the backlog is read, so every
event the tailer sees meanwhile lands in the subscription's ``pending`` list; the backlog
is then sent, then ``pending`` minus what the backlog already covered, and only then does
the subscription go live. Everything is ordered by ``seq``, and a subscription never
sends a ``seq`` at or below the last one it sent.

The record (``cluster.eventlog``): durable streams are numbered and stored by PostgreSQL
with the change that produced them; Redis is transport and cache. So the backlog comes
from Redis when it holds it, else from the record (Redis trimmed it, restarted empty, or
is down); the tailer fills a hole in what Redis hands it (events Redis lost) from the
record before anything is sent; only what the record no longer holds (older than its
retention) is answered with ``gap``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Protocol

from cluster.events import AsyncEventBus, Event, Gap
from cluster.retry import Backoff
from domain.errors import OperatorError, TransientError
from serve.gateway_conn import Connection
from serve.gateway_protocol import event_text, gap_text
from serve.gateway_schemas import CloseCode

log = logging.getLogger(__name__)


class Record(Protocol):
    async def read_after(self, stream: str, after: int, limit: int) -> list[Event] | Gap: ...

    async def head(self, stream: str) -> int: ...


class NoRecord:
    """No PostgreSQL behind the bus (tests of the Redis path alone)."""

    async def read_after(self, stream: str, after: int, limit: int) -> list[Event] | Gap:
        return []

    async def head(self, stream: str) -> int:
        return 0


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
        self,
        bus: AsyncEventBus,
        *,
        record: Record | None = None,
        block_ms: int = 250,
        batch: int = 500,
        pending_max: int = 5000,
    ) -> None:
        self.bus, self.block_ms, self.batch, self.pending_max = bus, block_ms, batch, pending_max
        self.record: Record = record or NoRecord()
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
            head = await self._head(stream)
            if not self._current(stream, sub):
                return
            self._cursors.setdefault(stream, head)
            self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ws-tailer")
        sub.resume = resume_after is not None
        if not sub.resume:
            sub.last = self._cursors[stream]

    def position(self, conn: Connection, stream: str) -> int | None:
        """After ``register``: the ``seq`` after which ``conn`` gets every event of
        ``stream`` (its resume point, or the head when it subscribed). The ``subscribed``
        reply carries it so a client that never saw an event can still resume from it."""
        sub = self._subs.get(stream, {}).get(conn.id)
        return None if sub is None else sub.last

    async def catch_up(self, conn: Connection, stream: str) -> None:
        """Phase 2: the retained backlog (if resuming), what arrived meanwhile, then live."""
        sub = self._subs.get(stream, {}).get(conn.id)
        if sub is None or sub.live:
            return
        batch = max(1, min(self.batch, conn.limits.send_queue // 4))
        while sub.resume and self._current(stream, sub) and conn.is_open:
            got = await self._backlog(stream, sub.last, batch)
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

    async def _head(self, stream: str) -> int:
        """The stream's position now: the record's (the truth for durable streams) or
        Redis's (live-only streams such as ``feed``), whichever is further; the record
        alone while Redis is down."""
        try:
            redis_head = await self.bus.head(stream)
        except TransientError:
            return await self.record.head(stream)
        return max(redis_head, await self.record.head(stream))

    async def _backlog(self, stream: str, after: int, limit: int) -> list[Event] | Gap:
        """Events after ``after``: from Redis when it holds them, else from the record."""
        try:
            got: list[Event] | Gap | None = await self.bus.read_since(stream, after, limit)
        except TransientError:
            got = None
        if isinstance(got, list) and got and got[0].seq == after + 1:
            return got
        kept = await self.record.read_after(stream, after, limit)
        if isinstance(kept, list) and kept:
            return kept
        if isinstance(kept, Gap) or got is None:
            return kept
        return got  # the record has nothing: a live-only stream, Redis's answer stands

    async def _fill_holes(self, got: dict[str, list[Event]]) -> None:
        """Events Redis lost (a restart without its data) before what the tailer read."""
        for stream, events in got.items():
            cursor = self._cursors.get(stream)
            if cursor is None or not events or events[0].seq <= cursor + 1:
                continue
            missing = events[0].seq - cursor - 1
            try:
                kept = await self.record.read_after(stream, cursor, missing)
            except TransientError:
                continue  # the hole is reported as a gap
            if isinstance(kept, list) and kept:
                got[stream] = [*kept, *(e for e in events if e.seq > kept[-1].seq)]

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
            await self._fill_holes(got)
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
