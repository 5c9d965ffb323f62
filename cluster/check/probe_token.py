"""A short-lived, least-privilege token for the WebSocket probe.

The probe user owns no account (it can read market data, nothing of anyone's), cannot log
in (its password hash verifies no password), and each run gets a session that expires in
two token lifetimes and is revoked when the probe ends. The token is signed with the
platform's own key and checked by the gateway like any other: the probe proves auth works.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.pool import NullPool

from cluster.auth.tables import sessions
from cluster.auth.tokens import TokenCodec, resolve_secret
from cluster.settings import Settings
from cluster.tables import users

#: one fixed row (its id, not its email, identifies it: emails are encrypted under issue 13)
PROBE_USER_ID = uuid.UUID("00000000-0000-4000-8000-0000000c4ec5")
PROBE_EMAIL = "elson-check-probe@probe.invalid"
#: not an argon2 hash: ``Passwords.verify`` refuses every password against it
UNUSABLE_HASH = "!probe-cannot-log-in"
PROBE_TTL = timedelta(seconds=60)


@contextmanager
def probe_token(settings: Settings, ttl: timedelta = PROBE_TTL) -> Iterator[str]:
    if settings.database_url is None:
        raise RuntimeError("the probe token needs ELSON_DATABASE_URL")
    secret = resolve_secret(
        settings.jwt_secret.get_secret_value() if settings.jwt_secret else None,
        settings.data_dir,
        protected=settings.env.is_protected,
    )
    codec = TokenCodec(secret, ttl=ttl)
    engine = create_engine(
        settings.database_url.get_secret_value(),
        poolclass=NullPool,
        connect_args={"connect_timeout": 5},
    )
    now = datetime.now(UTC)  # auth runs on real time (cluster/auth/wiring.py)
    sid = uuid.uuid4()
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(users)
                .values(id=PROBE_USER_ID, email=PROBE_EMAIL, password_hash=UNUSABLE_HASH)
                .on_conflict_do_nothing(index_elements=[users.c.id])
            )
            user_id = PROBE_USER_ID
            conn.execute(
                sessions.insert().values(
                    id=sid,
                    user_id=user_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + 2 * ttl,
                    user_agent="elson check",
                )
            )
        token = codec.issue(user_id=str(user_id), role="user", session_id=str(sid), now=now)
        yield token.token
    finally:
        try:
            with engine.begin() as conn:
                conn.execute(
                    update(sessions)
                    .where(sessions.c.id == sid, sessions.c.revoked_at.is_(None))
                    .values(revoked_at=datetime.now(UTC), revoked_reason="probe-done")
                )
        finally:
            engine.dispose()
