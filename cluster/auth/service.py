"""The auth entry point (``services.auth``): registration, login, and the session calls.

Registration creates the user, the first account (with its config) and the optional
profiles in one transaction. Login verifies the password (argon2id, dummy hash for unknown
emails) behind the throttle, then opens a session. Everything about sessions and tokens
(rotation, reuse detection, per-request revocation checks) lives in ``sessions.py``; the
methods here delegate so routes and the WebSocket gateway have one object to call.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cluster.accounts import repository as accounts_repo
from cluster.accounts.cipher import seal_in
from cluster.accounts.service import AccountsService
from cluster.accounts.types import Account, ProfileInput
from cluster.auth.cache import AuthCache
from cluster.auth.invalidation import Invalidations
from cluster.auth.passwords import Passwords, check_policy
from cluster.auth.sessions import SessionInfo, SessionStore, TokenPair
from cluster.auth.throttle import LoginThrottle
from cluster.auth.tokens import Principal, TokenCodec
from cluster.db import Database
from cluster.pii.crypto import BlindIndex
from cluster.redis_client import ResilientRedis
from cluster.tables import ROLES, users
from domain.clock import Clock
from domain.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from domain.validation import normalize_email

__all__ = [
    "AuthService",
    "Registered",
    "SessionInfo",
    "TokenPair",
    "User",
    "set_user_disabled",
    "set_user_role",
]

log = logging.getLogger(__name__)
_BAD_CREDENTIALS = "invalid email or password"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    role: str
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Registered:
    user: User
    account: Account


class AuthService:
    def __init__(
        self,
        *,
        db: Database,
        redis: ResilientRedis,
        clock: Clock,
        codec: TokenCodec,
        accounts: AccountsService,
        throttle: LoginThrottle,
        index: BlindIndex,
        passwords: Passwords | None = None,
        refresh_ttl: timedelta = timedelta(days=30),
        reuse_grace: timedelta = timedelta(seconds=10),
        cache: AuthCache | None = None,
        invalidations: Invalidations | None = None,
    ) -> None:
        self.db, self.clock = db, clock
        self.accounts, self.throttle = accounts, throttle
        self.index = index
        self.passwords = passwords or Passwords()
        self.sessions = SessionStore(
            db=db,
            redis=redis,
            clock=clock,
            codec=codec,
            refresh_ttl=refresh_ttl,
            reuse_grace=reuse_grace,
            cache=cache,
            invalidations=invalidations,
        )
        self.invalidations = self.sessions.invalidations

    # --- registration and login ---
    def register(
        self,
        email: str,
        password: str,
        account_type: str,
        profile: ProfileInput | None = None,
        minor: ProfileInput | None = None,
    ) -> Registered:
        email = normalize_email(email)
        check_policy(password, email)
        today = self.clock.now().date()
        if profile is not None:
            profile = profile.validated("individual", today, prefix="profile.")
        password_hash = self.passwords.hash(password)
        user_id = uuid.uuid4()
        try:
            with self.db.session() as s:
                sealed = seal_in(s, self.accounts.cipher, email, context=email_context(user_id))
                row = s.execute(
                    insert(users)
                    .values(
                        id=user_id,
                        email=sealed,
                        email_index=self.index.of(email),
                        password_hash=password_hash,
                    )
                    .returning(users)
                ).one()
                s.flush()
                user = _user(row._mapping, email)
                if profile is not None:
                    accounts_repo.upsert_profile(
                        s, self.accounts.cipher, user.id, None, profile, self.clock.now()
                    )
                account = self.accounts.create_account_in(s, user.id, account_type, minor)
                accounts_repo.audit(s, f"user:{user.id}", "user.register", f"user:{user.id}")
        except IntegrityError as exc:
            if "uq_users_email_index" in str(exc.orig):
                raise Conflict("an account with this email cannot be created") from exc
            raise
        return Registered(user=user, account=account)

    def login(
        self, email: str, password: str, *, ip: str | None, user_agent: str | None
    ) -> TokenPair:
        """A new session's token pair; any failure is the same 401 (and counts)."""
        email = normalize_email(email)
        self.throttle.check(email, ip)
        with self.db.session() as s:
            row = s.execute(
                select(users).where(users.c.email_index == self.index.of(email))
            ).first()
        stored = row.password_hash if row is not None else None
        if not self.passwords.verify(stored, password) or row is None or row.disabled:
            self.throttle.record_failure(email, ip)
            raise Unauthenticated(_BAD_CREDENTIALS)
        self.throttle.reset(email)
        with self.db.session() as s:
            if self.passwords.needs_rehash(row.password_hash):
                s.execute(
                    update(users)
                    .where(users.c.id == row.id)
                    .values(password_hash=self.passwords.hash(password))
                )
            return self.sessions.open_in(
                s, str(row.id), row.role, self.clock.now(), user_agent=user_agent, ip=ip
            )

    # --- sessions (see sessions.py) ---
    def refresh(self, token: str) -> TokenPair:
        return self.sessions.refresh(token)

    def verify_access(self, token: str) -> Principal:
        """The principal of a valid token whose session is live, else ``Unauthenticated``."""
        return self.sessions.verify_access(token)

    def verify_cached(self, token: str) -> Principal | None:
        """``verify_access`` from the process's cache, without I/O; ``None``: ask
        ``verify_access`` (in a thread)."""
        return self.sessions.verify_cached(token)

    def is_session_active(self, session_id: str) -> bool:
        """For the WebSocket gateway: poll every few seconds per open socket (sync: call
        it in a thread; about 1 ms, one indexed read)."""
        return self.sessions.is_session_active(session_id)

    def logout(self, principal: Principal) -> None:
        self.sessions.logout(principal)

    def list_sessions(self, user_id: str, limit: int = 100) -> list[SessionInfo]:
        return self.sessions.list_for(user_id, limit)

    def revoke_session(self, user_id: str, session_id: str) -> None:
        """Revoke one of the user's own sessions; anyone else's id is ``NotFound``."""
        self.sessions.revoke_owned(user_id, session_id)

    # --- users ---
    def get_user(self, user_id: str) -> User:
        with self.db.session() as s:
            row = s.execute(select(users).where(users.c.id == uuid.UUID(user_id))).first()
        if row is None:
            raise NotFound("user not found")
        email = self.accounts.cipher.decrypt(row.email, context=email_context(row.id))
        return _user(row._mapping, email)

    def set_role(self, email: str, role: str, *, actor: str) -> User:
        with self.db.session() as s:
            user = set_user_role(s, email, role, actor=actor, index=self.index)
        self.invalidations.user(user.id)  # after commit: every process re-reads the user
        return user

    def set_disabled(self, email: str, disabled: bool, *, actor: str) -> User:
        with self.db.session() as s:
            user = set_user_disabled(s, email, disabled, actor=actor, index=self.index)
        self.invalidations.user(user.id)
        return user


def email_context(user_id: object) -> str:
    """The associated data of a user's encrypted email (``domain.pii.FieldRef``)."""
    return f"users|email|{user_id}"


def set_user_role(s: Session, email: str, role: str, *, actor: str, index: BlindIndex) -> User:
    """Change a role (admin CLI), in the caller's transaction. After the commit, publish
    ``Invalidations.user``, or cached sessions keep the old role up to the cache TTL."""
    if role not in ROLES:
        raise ValidationFailed("role", "role", f"role must be one of {', '.join(ROLES)}")
    email = normalize_email(email)
    row = s.execute(
        update(users)
        .where(users.c.email_index == index.of(email))
        .values(role=role)
        .returning(users)
    ).first()
    if row is None:
        raise NotFound("user not found")
    accounts_repo.audit(s, actor, "user.set_role", f"user:{row.id}", role=role)
    return _user(row._mapping, email)


def set_user_disabled(
    s: Session, email: str, disabled: bool, *, actor: str, index: BlindIndex
) -> User:
    """Disable (or re-enable) a user, in the caller's transaction; a disabled user's tokens
    are refused. After the commit, publish ``Invalidations.user`` (as for a role)."""
    email = normalize_email(email)
    row = s.execute(
        update(users)
        .where(users.c.email_index == index.of(email))
        .values(disabled=disabled)
        .returning(users)
    ).first()
    if row is None:
        raise NotFound("user not found")
    accounts_repo.audit(s, actor, "user.set_disabled", f"user:{row.id}", disabled=disabled)
    return _user(row._mapping, email)


def _user(m: Any, email: str) -> User:
    """``email``: the plaintext, known to the caller or decrypted (never ``m["email"]``)."""
    return User(
        id=str(m["id"]),
        email=email,
        role=m["role"],
        disabled=m["disabled"],
        created_at=m["created_at"],
    )
