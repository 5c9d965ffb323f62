"""The cleanup job removes dead credentials and keeps live ones, leaving an audit line."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, insert, select

from cluster.auth.tables import refresh_tokens, sessions
from cluster.db import Database
from cluster.tables import audit_log
from domain.clock import FakeClock
from jobs import token_cleanup
from serve.services import Services
from tests.kit.users import register


def _session(conn, user_id: str, now: datetime, *, revoked_ago: timedelta | None) -> uuid.UUID:  # type: ignore[no-untyped-def]
    sid = uuid.uuid4()
    conn.execute(
        insert(sessions).values(
            id=sid,
            user_id=uuid.UUID(user_id),
            created_at=now - timedelta(days=60),
            last_seen_at=now - timedelta(days=50),
            expires_at=now + timedelta(days=5),
            revoked_at=now - revoked_ago if revoked_ago else None,
        )
    )
    return sid


def _token(conn, sid: uuid.UUID, now: datetime, expires_in: timedelta) -> uuid.UUID:  # type: ignore[no-untyped-def]
    tid = uuid.uuid4()
    conn.execute(
        insert(refresh_tokens).values(
            id=tid,
            session_id=sid,
            token_hash=uuid.uuid4().hex * 2,
            issued_at=now - timedelta(days=1),
            expires_at=now + expires_in,
        )
    )
    return tid


def test_run_once_when_dead_and_live_rows_then_only_dead_removed_and_audited(
    client: httpx.Client, api_services: Services
) -> None:
    user = register(client)
    now = datetime.now(UTC)
    engine = api_services.db.engine
    with engine.begin() as conn:
        old_revoked = _session(conn, user.id, now, revoked_ago=timedelta(days=40))
        recent_revoked = _session(conn, user.id, now, revoked_ago=timedelta(days=1))
        live = _session(conn, user.id, now, revoked_ago=None)
        _token(conn, old_revoked, now, timedelta(days=5))
        expired = _token(conn, live, now, -timedelta(hours=1))
        fresh = _token(conn, live, now, timedelta(days=5))
        audits_before = conn.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.action == "auth.cleanup")
        ).scalar_one()

    removed = token_cleanup.run_once(api_services.db, now, retention=timedelta(days=30))

    assert removed >= 2  # old_revoked session + the expired token (others' rows may add)
    with engine.connect() as conn:
        left_sessions = set(
            conn.execute(
                select(sessions.c.id).where(sessions.c.id.in_([old_revoked, recent_revoked, live]))
            ).scalars()
        )
        left_tokens = set(
            conn.execute(
                select(refresh_tokens.c.id).where(refresh_tokens.c.id.in_([expired, fresh]))
            ).scalars()
        )
        audit = conn.execute(
            select(audit_log.c.actor, audit_log.c.detail)
            .where(audit_log.c.action == "auth.cleanup")
            .order_by(audit_log.c.id.desc())
            .limit(1)
        ).one()
        audits_after = conn.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.action == "auth.cleanup")
        ).scalar_one()
    assert left_sessions == {recent_revoked, live}
    assert left_tokens == {fresh}
    assert audits_after == audits_before + 1
    assert audit.actor == "job:token_cleanup"
    assert audit.detail["sessions_deleted"] >= 1
    assert audit.detail["refresh_tokens_deleted"] >= 1


def test_run_once_when_nothing_to_do_then_zero_and_still_audited(
    api_services: Services,
) -> None:
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)  # nothing is older than this cutoff
    assert token_cleanup.run_once(api_services.db, long_ago) == 0


async def test_schedule_every_when_started_then_runs_periodically_until_cancelled(
    api_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(datetime(2000, 1, 1, tzinfo=UTC))
    calls: list[datetime] = []
    twice = threading.Event()
    original = token_cleanup.run_once

    def spy(db: Database, now: datetime, retention: timedelta) -> int:
        calls.append(now)
        if len(calls) >= 2:
            twice.set()
        return original(db, now, retention)

    monkeypatch.setattr(token_cleanup, "run_once", spy)
    task = token_cleanup.schedule_every(0.01, api_services.db, clock)
    try:
        assert await asyncio.to_thread(twice.wait, 10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)
    assert calls[:2] == [clock.now(), clock.now()]
