"""Sessions and their tokens: open, rotate, verify, revoke.

PostgreSQL is the truth for revocation: ``verify_access`` reads the session row on every
request (one primary-key lookup joined to ``users``, so a disabled user or a changed role
takes effect at once too). Redis holds a cache of *revoked* session ids that can only
refuse faster: a missing key or a Redis outage falls through to the database, so an
outage can never let a revoked token through. While Redis is marked unhealthy the cache
is not even asked (no retry latency per request); a readiness probe or any other
successful Redis call marks it healthy again.

Refresh tokens rotate: each use marks the token used and issues its child in the same
family (= session). A used token presented again after ``reuse_grace`` means two parties
hold it; the whole session is revoked. Within the grace (a client retrying after a lost
response, two tabs racing) the request is refused without revoking.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from cluster.accounts import repository as accounts_repo
from cluster.auth.tables import refresh_tokens, sessions
from cluster.auth.tokens import Principal, TokenCodec, hash_refresh_token, new_refresh_token
from cluster.db import Database
from cluster.redis_client import RedisUnavailable, ResilientRedis
from cluster.tables import users
from domain.clock import Clock
from domain.errors import NotFound, Unauthenticated

log = logging.getLogger(__name__)
_LAST_SEEN_EVERY = timedelta(seconds=60)
_REUSE = "refresh token reuse detected; session revoked"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    session_id: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    user_agent: str | None
    ip: str | None


class SessionStore:
    def __init__(
        self,
        *,
        db: Database,
        redis: ResilientRedis,
        clock: Clock,
        codec: TokenCodec,
        refresh_ttl: timedelta = timedelta(days=30),
        reuse_grace: timedelta = timedelta(seconds=10),
    ) -> None:
        self.db, self.redis, self.clock, self.codec = db, redis, clock, codec
        self.refresh_ttl, self.reuse_grace = refresh_ttl, reuse_grace

    def open_in(
        self,
        s: Session,
        user_id: str,
        role: str,
        now: datetime,
        *,
        user_agent: str | None,
        ip: str | None,
    ) -> TokenPair:
        """A new session and its first token pair, in the caller's transaction."""
        session_id = uuid.uuid4()
        expires = now + self.refresh_ttl
        s.execute(
            insert(sessions).values(
                id=session_id,
                user_id=uuid.UUID(user_id),
                created_at=now,
                last_seen_at=now,
                expires_at=expires,
                user_agent=(user_agent or "")[:256] or None,
                ip=(ip or "")[:64] or None,
            )
        )
        refresh = self._insert_refresh(s, session_id, None, now, expires)
        accounts_repo.audit(s, f"user:{user_id}", "auth.login", f"session:{session_id}")
        return self._pair(user_id, role, str(session_id), refresh, expires, now)

    # --- refresh rotation ---
    def refresh(self, token: str) -> TokenPair:
        now = self.clock.now()
        outcome: TokenPair | str
        with self.db.session() as s:
            outcome = self._rotate(s, token, now)
        if isinstance(outcome, str):
            if outcome == _REUSE:
                self._cache_revoked_by_token(token)
            raise Unauthenticated(outcome)
        return outcome

    def _cache_revoked_by_token(self, token: str) -> None:
        with self.db.session() as s:
            sid = s.execute(
                select(refresh_tokens.c.session_id).where(
                    refresh_tokens.c.token_hash == hash_refresh_token(token)
                )
            ).scalar()
        if sid is not None:
            self._cache_revoked(str(sid))

    def _rotate(self, s: Session, token: str, now: datetime) -> TokenPair | str:
        """A new pair, or the refusal message (after committing any revocation)."""
        if not token or len(token) > 512:
            return "invalid refresh token"
        row = s.execute(
            select(refresh_tokens)
            .where(refresh_tokens.c.token_hash == hash_refresh_token(token))
            .with_for_update()
        ).first()
        if row is None:
            return "invalid refresh token"
        sess = s.execute(
            select(sessions, users.c.role, users.c.disabled)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.id == row.session_id)
            .with_for_update(of=sessions)
        ).one()
        if sess.revoked_at is not None or sess.expires_at <= now or sess.disabled:
            return "session revoked or expired"
        if row.used_at is not None:
            if now - row.used_at <= self.reuse_grace:
                return "refresh token already rotated"
            self._revoke_in(s, sess.id, now, "refresh-reuse")
            accounts_repo.audit(
                s, f"user:{sess.user_id}", "auth.refresh_reuse", f"session:{sess.id}"
            )
            log.warning("refresh token reuse: session %s revoked", sess.id)
            return _REUSE
        if row.expires_at <= now:
            return "refresh token expired"
        s.execute(update(refresh_tokens).where(refresh_tokens.c.id == row.id).values(used_at=now))
        s.execute(update(sessions).where(sessions.c.id == sess.id).values(last_seen_at=now))
        refresh = self._insert_refresh(s, sess.id, row.id, now, sess.expires_at)
        return self._pair(str(sess.user_id), sess.role, str(sess.id), refresh, sess.expires_at, now)

    def _insert_refresh(
        self, s: Session, session_id: Any, parent_id: Any, now: datetime, expires: datetime
    ) -> str:
        token = new_refresh_token()
        s.execute(
            insert(refresh_tokens).values(
                id=uuid.uuid4(),
                session_id=session_id,
                parent_id=parent_id,
                token_hash=hash_refresh_token(token),
                issued_at=now,
                expires_at=expires,
            )
        )
        return token

    def _pair(
        self, user_id: str, role: str, sid: str, refresh: str, r_exp: datetime, now: datetime
    ) -> TokenPair:
        access = self.codec.issue(user_id=user_id, role=role, session_id=sid, now=now)
        return TokenPair(
            access_token=access.token,
            access_expires_at=access.expires_at,
            refresh_token=refresh,
            refresh_expires_at=r_exp,
            session_id=sid,
            expires_in=int(self.codec.ttl.total_seconds()),
        )

    # --- per-request checks ---
    def verify_access(self, token: str) -> Principal:
        """The principal of a valid token whose session is live, else ``Unauthenticated``."""
        now = self.clock.now()
        principal = self.codec.decode(token, now=now)
        if self._cached_revoked(principal.session_id):
            raise Unauthenticated("session revoked")
        with self.db.session() as s:
            row = s.execute(
                select(
                    sessions.c.revoked_at,
                    sessions.c.expires_at,
                    sessions.c.last_seen_at,
                    users.c.role,
                    users.c.disabled,
                )
                .join(users, users.c.id == sessions.c.user_id)
                .where(
                    sessions.c.id == uuid.UUID(principal.session_id),
                    sessions.c.user_id == uuid.UUID(principal.user_id),
                )
            ).first()
            if row is None or row.revoked_at is not None or row.disabled or row.expires_at <= now:
                raise Unauthenticated("session revoked or expired")
            if now - row.last_seen_at >= _LAST_SEEN_EVERY:
                s.execute(
                    update(sessions)
                    .where(sessions.c.id == uuid.UUID(principal.session_id))
                    .values(last_seen_at=now)
                )
        # The role is read from the database, so a role change applies at once.
        return Principal(
            user_id=principal.user_id,
            role=row.role,
            session_id=principal.session_id,
            jti=principal.jti,
            expires_at=principal.expires_at,
        )

    def is_session_active(self, session_id: str) -> bool:
        """For the WebSocket gateway: poll every few seconds for each open socket."""
        try:
            sid = uuid.UUID(session_id)
        except ValueError:
            return False
        if self._cached_revoked(str(sid)):
            return False
        with self.db.session() as s:
            row = s.execute(
                select(sessions.c.revoked_at, sessions.c.expires_at, users.c.disabled)
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.id == sid)
            ).first()
        return bool(
            row is not None
            and row.revoked_at is None
            and not row.disabled
            and row.expires_at > self.clock.now()
        )

    def _cached_revoked(self, session_id: str) -> bool:
        if not self.redis.health.ok:
            return False  # don't pay retry latency per request; the DB decides
        try:
            key = self.redis.key("revoked-session", session_id)
            return bool(self.redis.call("revoked-get", lambda r: r.exists(key)))
        except RedisUnavailable:
            return False

    # --- sessions ---
    def logout(self, principal: Principal) -> None:
        with self.db.session() as s:
            self._revoke_in(s, uuid.UUID(principal.session_id), self.clock.now(), "logout")
            accounts_repo.audit(
                s, f"user:{principal.user_id}", "auth.logout", f"session:{principal.session_id}"
            )
        self._cache_revoked(principal.session_id)

    def list_for(self, user_id: str, limit: int = 100) -> list[SessionInfo]:
        """Newest first, revoked ones included (with ``revoked_at``) until the job purges them."""
        with self.db.session() as s:
            rows = s.execute(
                select(sessions)
                .where(sessions.c.user_id == uuid.UUID(user_id))
                .order_by(sessions.c.created_at.desc(), sessions.c.id)
                .limit(limit)
            ).all()
        return [_session(r._mapping) for r in rows]

    def revoke_owned(self, user_id: str, session_id: str) -> None:
        """Revoke one of the user's own sessions; anyone else's id is ``NotFound``."""
        try:
            sid = uuid.UUID(session_id)
        except ValueError as exc:
            raise NotFound("session not found") from exc
        with self.db.session() as s:
            owner = s.execute(select(sessions.c.user_id).where(sessions.c.id == sid)).scalar()
            if owner is None or str(owner) != user_id:
                raise NotFound("session not found")
            self._revoke_in(s, sid, self.clock.now(), "user-revoked")
            accounts_repo.audit(s, f"user:{user_id}", "auth.revoke_session", f"session:{sid}")
        self._cache_revoked(str(sid))

    def _revoke_in(self, s: Session, sid: Any, now: datetime, reason: str) -> None:
        s.execute(
            update(sessions)
            .where(sessions.c.id == sid, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )

    def _cache_revoked(self, session_id: str) -> None:
        """Best effort: the database already holds the revocation."""
        key = self.redis.key("revoked-session", session_id)
        ttl = int(self.codec.ttl.total_seconds()) + 60
        try:
            self.redis.call("revoked-set", lambda r: r.set(key, b"1", ex=ttl))
        except RedisUnavailable:
            log.warning("revoked-session cache write skipped (redis down); DB still refuses")


def _session(m: Any) -> SessionInfo:
    return SessionInfo(
        id=str(m["id"]),
        created_at=m["created_at"],
        last_seen_at=m["last_seen_at"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
        user_agent=m["user_agent"],
        ip=m["ip"],
    )
