"""The revocation watch fails closed within its bound (a fake clock; no sleeps)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.clock import FakeClock
from domain.errors import TransientError
from serve.gateway_conn import Connection, GatewayStats, Limits
from serve.gateway_session import SessionWatch
from tests.kit.fake_auth import FakeAuth

T0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
S = timedelta(seconds=1)


class Socket:
    async def send_text(self, text: str) -> None:
        return None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


class FlakyAuth(FakeAuth):
    """``is_session_active`` raises while ``down`` (as the DB-backed check does)."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(now=clock.now)
        self.down = False

    def is_session_active(self, session_id: str) -> bool:
        if self.down:
            raise TransientError("database unavailable")
        return super().is_session_active(session_id)


def _watched(watch: SessionWatch, principal: Any) -> Connection:
    conn = Connection(Socket(), Limits(heartbeat_s=3600), GatewayStats())
    conn.open(principal)
    watch._conns[conn.id] = conn
    watch.confirmed(conn)
    return conn


async def test_checks_failing_then_open_until_bound_and_closed_4401_at_it() -> None:
    clock = FakeClock(T0)
    auth = FlakyAuth(clock)
    _, principal = auth.issue(ttl=timedelta(hours=1))
    watch = SessionWatch(auth.is_session_active, interval_s=2, unverified_s=10, now=clock.now)
    conn = _watched(watch, principal)
    auth.down = True
    for _ in range(4):  # 2, 4, 6, 8 s without a confirmation: still within the bound
        clock.advance(2 * S)
        await watch.check_once()
        assert conn.is_open
    clock.advance(2 * S)  # 10 s: the bound
    await watch.check_once()
    assert conn.close_code == 4401 and conn.close_reason == "session could not be verified"
    assert watch.failed_checks == 5
    await conn.shutdown()


async def test_one_success_between_failures_then_bound_restarts_from_it() -> None:
    clock = FakeClock(T0)
    auth = FlakyAuth(clock)
    _, principal = auth.issue(ttl=timedelta(hours=1))
    watch = SessionWatch(auth.is_session_active, interval_s=2, unverified_s=10, now=clock.now)
    conn = _watched(watch, principal)
    auth.down = True
    clock.advance(8 * S)
    await watch.check_once()
    auth.down = False
    clock.advance(1 * S)
    await watch.check_once()  # confirmed at T0 + 9 s
    auth.down = True
    clock.advance(9 * S)
    await watch.check_once()
    assert conn.is_open
    clock.advance(1 * S)
    await watch.check_once()
    assert conn.close_code == 4401
    await conn.shutdown()


async def test_check_hangs_then_counts_as_failed_and_closes_at_bound() -> None:
    clock = FakeClock(T0)
    auth = FakeAuth(now=clock.now)
    _, principal = auth.issue(ttl=timedelta(hours=1))
    hang = asyncio.Event()

    async def never_answers(session_id: str) -> bool:
        await hang.wait()
        return True

    watch = SessionWatch(never_answers, interval_s=2, unverified_s=4, timeout_s=0.05, now=clock.now)
    conn = _watched(watch, principal)
    clock.advance(3 * S)
    await watch.check_once()
    assert conn.is_open and watch.failed_checks == 1
    clock.advance(1 * S)
    await watch.check_once()
    assert conn.close_code == 4401
    await conn.shutdown()


async def test_revoked_session_closes_at_once_while_another_is_unverified() -> None:
    clock = FakeClock(T0)
    auth = FakeAuth(now=clock.now)
    _, kept = auth.issue(ttl=timedelta(hours=1))
    _, revoked = auth.issue(ttl=timedelta(hours=1))
    watch = SessionWatch(auth.is_session_active, interval_s=2, unverified_s=10, now=clock.now)
    a, b = _watched(watch, kept), _watched(watch, revoked)
    auth.revoke(revoked.session_id)
    clock.advance(2 * S)
    await watch.check_once()
    assert a.is_open and b.close_code == 4401 and b.close_reason == "session revoked"
    await a.shutdown()
    await b.shutdown()
