"""An in-memory stand-in for ``AuthService``'s gateway-facing half (unit tests only).

Same interface the gateway uses: ``verify_access(token) -> Principal`` raising
``Unauthenticated`` and ``is_session_active(session_id) -> bool``; plus ``issue`` and
``revoke`` for tests. Integration tests use the real ``AuthService``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cluster.auth.tokens import Principal
from domain.errors import Unauthenticated


class FakeAuth:
    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self.now = now or (lambda: datetime.now(UTC))
        self._tokens: dict[str, Principal] = {}
        self._revoked: set[str] = set()
        self._lock = threading.Lock()
        self.checks = 0

    def issue(
        self,
        user_id: str | None = None,
        *,
        role: str = "user",
        ttl: timedelta = timedelta(minutes=15),
        session_id: str | None = None,
    ) -> tuple[str, Principal]:
        principal = Principal(
            user_id=user_id or str(uuid.uuid4()),
            role=role,
            session_id=session_id or str(uuid.uuid4()),
            jti=uuid.uuid4().hex,
            expires_at=self.now() + ttl,
        )
        token = f"fake.{principal.jti}"
        with self._lock:
            self._tokens[token] = principal
        return token, principal

    def verify_access(self, token: str) -> Principal:
        with self._lock:
            principal = self._tokens.get(token)
            revoked = principal is not None and principal.session_id in self._revoked
        if principal is None or revoked or principal.expires_at <= self.now():
            raise Unauthenticated("invalid, expired or revoked token")
        return principal

    def is_session_active(self, session_id: str) -> bool:
        with self._lock:
            self.checks += 1
            return session_id not in self._revoked

    def revoke(self, session_id: str) -> None:
        with self._lock:
            self._revoked.add(session_id)
