"""Connection policy with a socket double: bounded queue, warning, 4429, task release."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from serve.gateway_conn import Connection, ConnState, GatewayStats, Limits
from serve.gateway_session import SessionWatch
from tests.kit.fake_auth import FakeAuth


class StuckSocket:
    """``send_text`` blocks until released, like a peer that stopped reading."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()
        self.closed: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        await self.release.wait()
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


def _conn(ws: Any, **limits: Any) -> Connection:
    return Connection(ws, Limits(heartbeat_s=3600, **limits), GatewayStats())


async def test_queue_three_quarters_full_then_warning_jumps_the_queue() -> None:
    ws = StuckSocket()
    conn = _conn(ws, send_queue=8)
    conn.open(principal=None)
    await asyncio.sleep(0)
    for i in range(7):
        assert conn.enqueue(json.dumps({"n": i}))
    ws.release.set()
    async with asyncio.timeout(2):
        while conn.queued:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    kinds = [json.loads(t).get("type") for t in ws.sent]
    assert kinds.count("warning") == 1
    assert kinds.index("warning") <= 1  # sent right after the message already in flight
    assert conn.state is ConnState.OPEN
    await conn.shutdown()


async def test_queue_full_then_4429_and_every_task_released() -> None:
    ws = StuckSocket()
    conn = _conn(ws, send_queue=4, send_timeout_s=60)
    conn.open(principal=None)
    assert conn.stats.tasks == 2
    results = [conn.enqueue(f"m{i}") for i in range(10)]
    assert False in results
    assert conn.state is ConnState.CLOSING and conn.close_code == 4429
    await conn.shutdown()
    assert conn.stats.tasks == 0 and ws.closed is not None and ws.closed[0] == 4429
    assert conn.state is ConnState.CLOSED and not conn.enqueue("late")


async def test_send_blocked_past_timeout_then_4429() -> None:
    ws = StuckSocket()
    conn = _conn(ws, send_timeout_s=0.05)
    conn.open(principal=None)
    conn.enqueue("x")
    async with asyncio.timeout(2):
        await conn.wait_done()
    assert conn.close_code == 4429
    await conn.shutdown()


async def test_session_watch_when_token_expires_then_4401_without_auth_call() -> None:
    now = [datetime(2026, 11, 30, 15, 0, tzinfo=UTC)]
    auth = FakeAuth(now=lambda: now[0])
    _, principal = auth.issue(ttl=timedelta(seconds=30))
    conn = _conn(StuckSocket())
    conn.open(principal)
    watch = SessionWatch(auth.is_session_active, interval_s=3600, now=lambda: now[0])
    watch._conns[conn.id] = conn
    await watch.check_once()
    assert conn.is_open and auth.checks == 1
    now[0] += timedelta(seconds=31)
    await watch.check_once()
    assert conn.close_code == 4401 and conn.close_reason == "token expired"
    await conn.shutdown()


async def test_session_watch_when_revoked_then_4401() -> None:
    auth = FakeAuth()
    _, principal = auth.issue()
    conn = _conn(StuckSocket())
    conn.open(principal)
    watch = SessionWatch(auth.is_session_active, interval_s=3600, now=auth.now)
    watch._conns[conn.id] = conn
    auth.revoke(principal.session_id)
    await watch.check_once()
    assert conn.close_code == 4401 and conn.close_reason == "session revoked"
    await conn.shutdown()
