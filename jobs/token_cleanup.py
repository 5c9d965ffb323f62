"""Purge expired refresh tokens and long-revoked or long-expired sessions.

These rows are credentials bookkeeping, not audit records: what must survive (who logged
in, what was revoked and why) is already in ``audit_log``. Each run writes one audit line
with the counts, in the same transaction as the deletes.

Scheduling: ``schedule_every(seconds, db, clock)`` returns an asyncio task that runs
``run_once`` in a worker thread every ``seconds`` (errors are logged, the loop goes on).
The platform starts it in one long-lived process (e.g. a job-worker actor's event loop);
running it in several at once is harmless, since the deletes are idempotent. ``clock``
must be real time (``cluster.clock.SystemClock``), like the auth service that wrote the
expiries: the dev clock (``ELSON_CLOCK_START``) shifts the market, never token lifetimes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_

from cluster.auth.tables import refresh_tokens, sessions
from cluster.db import Database
from cluster.tables import audit_log
from domain.clock import Clock

log = logging.getLogger(__name__)
DEFAULT_RETENTION = timedelta(days=30)


def run_once(db: Database, now: datetime, retention: timedelta = DEFAULT_RETENTION) -> int:
    """Delete what is dead; returns the number of rows removed (tokens + sessions)."""
    cutoff = now - retention
    with db.session() as s:
        # Sessions first: their tokens go with them (ON DELETE CASCADE), counted apart.
        dead_sessions = s.execute(
            delete(sessions)
            .where(
                or_(
                    sessions.c.revoked_at < cutoff,
                    sessions.c.expires_at < cutoff,
                )
            )
            .returning(sessions.c.id)
        ).all()
        tokens = s.execute(
            delete(refresh_tokens)
            .where(refresh_tokens.c.expires_at < now)
            .returning(refresh_tokens.c.id)
        ).all()
        removed = len(dead_sessions) + len(tokens)
        s.execute(
            insert(audit_log).values(
                actor="job:token_cleanup",
                action="auth.cleanup",
                subject="sessions",
                detail={
                    "sessions_deleted": len(dead_sessions),
                    "refresh_tokens_deleted": len(tokens),
                    "cutoff": cutoff.isoformat(),
                },
            )
        )
    log.info("token cleanup: %d sessions, %d refresh tokens", len(dead_sessions), len(tokens))
    return removed


def schedule_every(
    seconds: float, db: Database, clock: Clock, retention: timedelta = DEFAULT_RETENTION
) -> asyncio.Task[Any]:
    """Start the periodic cleanup on the running loop; cancel the task to stop it."""

    async def loop() -> None:
        while True:
            try:
                await asyncio.to_thread(run_once, db, clock.now(), retention)
            except Exception:
                log.exception("token cleanup failed; will retry next period")
            await asyncio.sleep(seconds)

    return asyncio.create_task(loop(), name="token-cleanup")
