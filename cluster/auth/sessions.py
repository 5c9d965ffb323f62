"""Sessions and their tokens: open, rotate, verify, revoke.

PostgreSQL is the truth for revocation. ``verify_access`` needs the session row joined to
its user (so a disabled user or a changed role takes effect too); it is served from the
per-process ``AuthCache`` (``cache.py``) and read from PostgreSQL on a miss or whenever the
cache is not trusted (its Redis subscription is down or silent). Every write here that
must take effect publishes an invalidation after its commit (``invalidation.py``): logout,
revoking one's own session, and a refresh-token reuse that revokes the family. A revoked
token is thus refused on every process within the cache's liveness bound (< 1 s), and at
once on the process that revoked it. ``last_seen_at`` is refreshed when a row is loaded
(at most once a minute per session and process), not on every request.

``is_session_active`` (the WebSocket gateway's poll) still reads PostgreSQL each time: the
gateway's fail-closed rule (close a socket no check could confirm) is defined on it.

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
from cluster.auth.cache import AuthCache, SessionState
from cluster.auth.invalidation import Invalidations
from cluster.auth.tables import refresh_tokens, sessions
from cluster.auth.tokens import Principal, TokenCodec, hash_refresh_token, new_refresh_token
from cluster.db import Database
from cluster.redis_client import ResilientRedis
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
class _Refused:
    message: str
    revoked_session: str | None = None


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
        cache: AuthCache | None = None,
        invalidations: Invalidations | None = None,
    ) -> None:
        """Without ``cache`` every check reads PostgreSQL; ``invalidations`` defaults to a
        publisher on ``redis`` (no subscriber: the caller starts one for its cache)."""
        self.db, self.redis, self.clock, self.codec = db, redis, clock, codec
        self.refresh_ttl, self.reuse_grace = refresh_ttl, reuse_grace
        self.cache = cache
        self.invalidations = invalidations or Invalidations(redis, cache)

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
        with self.db.session() as s:
            outcome = self._rotate(s, token, now)
        if isinstance(outcome, _Refused):
            if outcome.revoked_session is not None:  # committed: now tell every process
                self.invalidations.session(outcome.revoked_session)
            raise Unauthenticated(outcome.message)
        return outcome

    def _rotate(self, s: Session, token: str, now: datetime) -> TokenPair | _Refused:
        """A new pair, or the refusal (with the session it revoked, if any)."""
        if not token or len(token) > 512:
            return _Refused("invalid refresh token")
        row = s.execute(
            select(refresh_tokens)
            .where(refresh_tokens.c.token_hash == hash_refresh_token(token))
            .with_for_update()
        ).first()
        if row is None:
            return _Refused("invalid refresh token")
        sess = s.execute(
            select(sessions, users.c.role, users.c.disabled)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.id == row.session_id)
            .with_for_update(of=sessions)
        ).one()
        if sess.revoked_at is not None or sess.expires_at <= now or sess.disabled:
            return _Refused("session revoked or expired")
        if row.used_at is not None:
            if now - row.used_at <= self.reuse_grace:
                return _Refused("refresh token already rotated")
            self._revoke_in(s, sess.id, now, "refresh-reuse")
            accounts_repo.audit(
                s, f"user:{sess.user_id}", "auth.refresh_reuse", f"session:{sess.id}"
            )
            log.warning("refresh token reuse: session %s revoked", sess.id)
            return _Refused(_REUSE, revoked_session=str(sess.id))
        if row.expires_at <= now:
            return _Refused("refresh token expired")
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
        return _admit(principal, self._session_state(principal.session_id, now), now)

    def verify_cached(self, token: str) -> Principal | None:
        """``verify_access`` without I/O (safe on an event loop): the answer when the trusted
        cache holds the session, ``None`` when only ``verify_access`` can tell."""
        if self.cache is None:
            return None
        now = self.clock.now()
        principal = self.codec.decode(token, now=now)
        key = _canonical(principal.session_id)
        state = None if key is None else self.cache.session(key)
        return None if state is None else _admit(principal, state, now)

    def _session_state(self, session_id: str, now: datetime) -> SessionState | None:
        """From the cache if it is trusted and holds it, else from PostgreSQL (then cached)."""
        key, cache, epoch = _canonical(session_id), self.cache, 0  # as invalidations say it
        if key is None:
            return None
        sid = uuid.UUID(key)
        if cache is not None:
            hit = cache.session(key)
            if hit is not None:
                return hit
            epoch = cache.epoch  # before the read: a revocation meanwhile voids the fill
        with self.db.session() as s:
            row = s.execute(
                select(
                    sessions.c.user_id,
                    sessions.c.revoked_at,
                    sessions.c.expires_at,
                    sessions.c.last_seen_at,
                    users.c.role,
                    users.c.disabled,
                )
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.id == sid)
            ).first()
            if row is None:
                return None
            state = SessionState(
                user_id=str(row.user_id),
                role=row.role,
                disabled=row.disabled,
                revoked=row.revoked_at is not None,
                expires_at=row.expires_at,
            )
            if state.live(now) and now - row.last_seen_at >= _LAST_SEEN_EVERY:
                s.execute(update(sessions).where(sessions.c.id == sid).values(last_seen_at=now))
        if cache is not None:
            cache.put_session(key, state, epoch)
        return state

    def is_session_active(self, session_id: str) -> bool:
        """For the WebSocket gateway: poll every few seconds for each open socket."""
        try:
            sid = uuid.UUID(session_id)
        except ValueError:
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

    # --- sessions ---
    def logout(self, principal: Principal) -> None:
        sid = uuid.UUID(principal.session_id)
        with self.db.session() as s:
            self._revoke_in(s, sid, self.clock.now(), "logout")
            accounts_repo.audit(s, f"user:{principal.user_id}", "auth.logout", f"session:{sid}")
        self.invalidations.session(str(sid))

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
        self.invalidations.session(str(sid))

    def _revoke_in(self, s: Session, sid: Any, now: datetime, reason: str) -> None:
        s.execute(
            update(sessions)
            .where(sessions.c.id == sid, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )


def _admit(principal: Principal, state: SessionState | None, now: datetime) -> Principal:
    if state is None or state.user_id != principal.user_id or not state.live(now):
        raise Unauthenticated("session revoked or expired")
    # The role is the stored one, not the claim's, so a role change applies too.
    return Principal(
        user_id=principal.user_id,
        role=state.role,
        session_id=principal.session_id,
        jti=principal.jti,
        expires_at=principal.expires_at,
    )


def _canonical(session_id: str) -> str | None:
    try:
        return str(uuid.UUID(session_id))
    except ValueError:
        return None


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
