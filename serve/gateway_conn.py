"""One gateway socket: explicit state, a bounded outbound queue, heartbeats, tracked tasks.

Why a queue of our own instead of awaiting ``send`` from the fan-out: one slow socket must
never stall the fan-out loop that serves every other socket. The fan-out calls
``enqueue`` (never blocks); a per-socket sender task drains the queue under a send
timeout. Policy (documented in ``serve.gateway``):

- queue above 3/4 full: a ``warning`` (``slow-consumer``) jumps the queue, once until the
  queue drains below 1/4;
- queue full, or one send blocked longer than ``send_timeout_s``: close 4429. Nothing is
  dropped silently: a client that reconnects resumes from the last ``seq`` it received.

Every task a connection starts goes through ``spawn`` so ``shutdown`` cancels and awaits
all of them; ``GatewayStats`` counts sockets, subscriptions and tasks so tests can prove
that nothing outlives a connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cluster import metrics
from serve.gateway_batch import take_frame
from serve.gateway_schemas import CONTROL_STREAM, CloseCode

log = logging.getLogger(__name__)
_ids = itertools.count(1)


class ConnState(StrEnum):
    AUTHENTICATING = "authenticating"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Limits:
    auth_timeout_s: float = 5.0
    heartbeat_s: float = 15.0
    heartbeat_timeout_s: float = 10.0
    max_message_bytes: int = 65_536
    send_queue: int = 1_024
    send_timeout_s: float = 5.0
    max_subscriptions: int = 200
    revocation_check_s: float = 2.0
    #: a socket whose session no check could confirm for this long is closed 4401
    session_unverified_s: float = 10.0
    #: sockets one replica holds; past it a new one is closed 1013 (``overloaded``)
    max_connections: int = 10_000
    #: a drain (replica shutdown) closes every socket 1012 and waits at most this long
    drain_s: float = 10.0
    #: reconnects a second a dropped fleet should offer; sets the ``retry_after_s`` hint
    reconnect_rate_per_s: float = 20.0


class GatewayStats:
    """Live counts for this process (also exported as ``elson_ws_*`` gauges)."""

    def __init__(self) -> None:
        self.connections = 0
        self.subscriptions = 0
        self.tasks = 0
        self.accepted_total = 0
        self.closes: collections.Counter[int] = collections.Counter()

    def change(self, *, connections: int = 0, subscriptions: int = 0, tasks: int = 0) -> None:
        self.connections += connections
        self.subscriptions += subscriptions
        self.tasks += tasks
        if connections > 0:
            self.accepted_total += connections
        try:
            gauge = metrics.gauge(
                "elson_ws_open", "Gateway sockets, subscriptions, tasks", ("kind",)
            )
            gauge.set(self.connections, {"kind": "connections"})
            gauge.set(self.subscriptions, {"kind": "subscriptions"})
            gauge.set(self.tasks, {"kind": "tasks"})
        except Exception:  # metrics never break a socket
            log.debug("gauge export failed", exc_info=True)

    def snapshot(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "subscriptions": self.subscriptions,
            "tasks": self.tasks,
            "accepted_total": self.accepted_total,
            "closes": {str(k): v for k, v in self.closes.items()},
        }


def count_try_again(reason: str, detail: str | None = None) -> None:
    """Every 1013 is logged and counted (``elson_ws_try_again_total{reason}``): a storm of
    them must say which dependency or limit refused, never be silent."""
    log.warning("ws close 1013 (%s): %s", reason, detail or "")
    try:
        metrics.counter(
            "elson_ws_try_again_total", "Gateway sockets closed 1013, by reason", ("reason",)
        ).inc(1, {"reason": reason})
    except Exception:  # metrics never break a socket
        log.debug("counter export failed", exc_info=True)


def count_close(code: int, reason: str) -> None:
    """Every close by reason (``elson_ws_closes_total{reason}``: the close code's name, and
    ``slow-consumer`` for a 4429 that a stuck socket earned)."""
    if code == CloseCode.SLOW and "slow" in reason:
        label = "slow-consumer"
    else:
        known = code in CloseCode._value2member_map_
        label = CloseCode(code).name.lower().replace("_", "-") if known else "other"
    try:
        metrics.counter(
            "elson_ws_closes_total", "Gateway sockets closed, by reason", ("reason",)
        ).inc(1, {"reason": label})
    except Exception:  # metrics never break a socket
        log.debug("counter export failed", exc_info=True)


class Connection:
    """State of one socket; ``ws`` is a Starlette ``WebSocket`` (or a test double)."""

    def __init__(self, ws: Any, limits: Limits, stats: GatewayStats) -> None:
        self.id = next(_ids)
        self.ws, self.limits, self.stats = ws, limits, stats
        self.state = ConnState.AUTHENTICATING
        self.principal: Any = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.peer_gone = False
        self.streams: set[str] = set()
        self.market: set[tuple[str, str]] = set()
        self._queue: collections.deque[str] = collections.deque()
        self._ready = asyncio.Event()
        self._final: str | None = None
        self._done = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._control_seq = 0
        self._warned = False
        self._pong = asyncio.Event()
        self._room = asyncio.Event()
        self._room_target = -1
        self._ping_id = 0
        #: the client asked for batched frames (``serve.gateway_batch``)
        self.batch = False

    # ---- lifecycle ----
    @property
    def is_open(self) -> bool:
        return self.state is ConnState.OPEN

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"ws{self.id}:{name}")
        self._tasks.add(task)
        self.stats.change(tasks=1)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """Idempotent: the done callback runs a loop tick late, ``shutdown`` calls it too."""
        if task not in self._tasks:
            return
        self._tasks.discard(task)
        self.stats.change(tasks=-1)
        if not task.cancelled() and task.exception() is not None:
            log.warning("gateway task %s failed", task.get_name(), exc_info=task.exception())
            self.fail(CloseCode.INTERNAL, "internal error")

    def open(self, principal: Any) -> None:
        self.principal = principal
        self.state = ConnState.OPEN
        self.spawn(self._send_loop(), "sender")
        self.spawn(self._heartbeat_loop(), "heartbeat")

    def fail(
        self,
        code: int,
        reason: str,
        *,
        error: str | None = None,
        detail: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        """Ask for the socket to close with ``code``; an ``error`` message goes first.

        ``retry_after_s`` (1012, 1013): the window the client should spread its reconnect
        over, in the ``error`` message and in the close reason (``retry_after_s=N``)."""
        if self.state in (ConnState.CLOSING, ConnState.CLOSED):
            return
        if retry_after_s is not None:
            reason = f"{reason}; retry_after_s={retry_after_s:g}"
        if code == CloseCode.TRY_AGAIN:
            count_try_again(error or reason, detail)
        if error is not None:
            extra = {} if retry_after_s is None else {"retry_after_s": retry_after_s}
            self._final = self._control_text(
                "error", code=error, detail=detail or reason, close_code=int(code), **extra
            )
        self.state = ConnState.CLOSING
        self.close_code, self.close_reason = int(code), reason[:120]
        self._done.set()
        self._room.set()

    def peer_closed(self) -> None:
        self.peer_gone = True
        if self.state not in (ConnState.CLOSING, ConnState.CLOSED):
            self.state = ConnState.CLOSING
        self._done.set()
        self._room.set()

    async def wait_done(self) -> None:
        await self._done.wait()

    async def shutdown(self) -> None:
        """Cancel and await every task, send the error message if any, close the socket.

        Queued data is discarded: the client resumes from the last ``seq`` it received.
        """
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            self._task_done(task)
        if self._final is not None and not self.peer_gone:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self.ws.send_text(self._final)
        if not self.peer_gone:
            code = self.close_code or CloseCode.NORMAL
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self.ws.close(code=code, reason=self.close_reason)
        self.stats.closes[self.close_code or CloseCode.NORMAL] += 1
        count_close(self.close_code or CloseCode.NORMAL, self.close_reason or "")
        self._queue.clear()
        self.state = ConnState.CLOSED

    # ---- outbound ----
    def enqueue(self, text: str) -> bool:
        """Queue one encoded message; never blocks. False if the socket is (being) closed."""
        if self.state is not ConnState.OPEN:
            return False
        limit = self.limits.send_queue
        if len(self._queue) >= limit:
            self.fail(CloseCode.SLOW, "slow consumer")
            return False
        self._queue.append(text)
        if not self._warned and len(self._queue) >= limit * 3 // 4:
            self._warned = True
            warning = self._control_text(
                "warning",
                code="slow-consumer",
                detail="send queue above 3/4; catch up or be closed",
            )
            self._queue.appendleft(warning)
        self._ready.set()
        return True

    async def wait_room(self, n: int) -> None:
        """Backpressure for bulk senders (a resume backlog): wait until ``n`` more messages
        fit below half the queue, so a long backlog never trips the slow-consumer rule."""
        target = max(0, self.limits.send_queue // 2 - n)
        while self.state is ConnState.OPEN and len(self._queue) > target:
            self._room_target = target
            self._room.clear()
            await self._room.wait()
        self._room_target = -1

    def control(self, kind: str, **fields: Any) -> bool:
        return self.enqueue(self._control_text(kind, **fields))

    def _control_text(self, kind: str, **fields: Any) -> str:
        self._control_seq += 1
        body = {"type": kind, "stream": CONTROL_STREAM, "seq": self._control_seq, **fields}
        return json.dumps(body, separators=(",", ":"))

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def _send_loop(self) -> None:
        queue, low = self._queue, self.limits.send_queue // 4
        while True:
            if not queue:
                self._ready.clear()
                await self._ready.wait()
                continue
            text = take_frame(queue, batch=self.batch)
            if len(queue) <= self._room_target:
                self._room.set()
            if self._warned and len(queue) <= low:
                self._warned = False
            try:
                async with asyncio.timeout(self.limits.send_timeout_s):
                    await self.ws.send_text(text)
            except TimeoutError:
                self.fail(CloseCode.SLOW, "slow consumer: send timed out")
                return
            except Exception:  # the peer went away mid-send
                self.peer_closed()
                return

    # ---- heartbeats ----
    def pong(self, ping_id: int) -> None:
        if ping_id == self._ping_id:
            self._pong.set()

    async def _heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.limits.heartbeat_s)
            self._ping_id += 1
            self._pong.clear()
            sent = loop.time()
            if not self.control("ping", id=self._ping_id):
                return
            try:
                async with asyncio.timeout(self.limits.heartbeat_timeout_s):
                    await self._pong.wait()
            except TimeoutError:
                self.fail(CloseCode.HEARTBEAT, "heartbeat timeout", error="heartbeat-timeout")
                return
            log.debug("ws%s pong after %.3f s", self.id, loop.time() - sent)
