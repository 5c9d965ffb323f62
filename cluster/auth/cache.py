"""The per-process auth cache: session state and account owners, without a query a request.

What a request's auth needs (is the session live, whose is it, what role, is the user
enabled; who owns this account) is loaded from PostgreSQL on a miss and then served from
memory. Every write that must take effect (logout, revoke, revoke-all, refresh reuse, role
change, user disable, account owner/status change) publishes an invalidation on a Redis
pub/sub channel *after its commit*; every process's subscriber (``invalidation.py``) drops
the matching entries. PostgreSQL stays the truth; this is a cache of it.

Why a revoked token is refused everywhere within 1 s, and the rules that keep it so:

- **Trusted only while provably current.** The subscriber pings Redis on its subscription
  every ``liveness_s / 3`` with the send time as payload. Redis answers in order with the
  messages, so a pong for a ping sent at ``t`` proves every invalidation published before
  ``t`` has been applied. Entries are served only while the newest such ``t`` (or the
  subscription's start) is less than ``liveness_s`` (< 1 s) old. A broken, silent or
  slow link, a stalled Redis or a starved subscriber thread all end the same way: the
  cache stops being trusted, every request reads PostgreSQL (and stores nothing), and an
  invalidation is never missed for longer than ``liveness_s``. Held-back bytes that
  arrive late after a partition are applied in order before any newer pong re-trusts.
- **Cleared on every (re)subscribe.** Messages may have been missed while disconnected,
  so the first thing a new subscription does is drop everything.
- **No stale fill-in.** A miss notes the ``epoch`` before it reads PostgreSQL and stores
  its row only if no invalidation (or clear) arrived meanwhile; otherwise a row read just
  before a revocation committed could land after the revocation's message and live on.
- **Bounded age.** Entries expire after ``ttl_s`` whatever happens (a backstop against
  a writer that could not publish, e.g. a CLI without Redis); the publishing process also
  drops its own entries at once, without waiting for the echo.

Times are ``monotonic`` seconds (injected, so tests drive them); session expiry is
compared with the caller's wall-clock ``now``, as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

V = TypeVar("V")

#: Message kinds on the channel: ``s:<session>``, ``u:<user>``, ``a:<account>``, ``*``.
SESSION, USER, ACCOUNT, EVERYTHING = "s", "u", "a", "*"


@dataclass(frozen=True, slots=True)
class SessionState:
    """One ``sessions`` row joined to its user: everything ``verify_access`` decides on."""

    user_id: str
    role: str
    disabled: bool
    revoked: bool
    expires_at: datetime

    def live(self, now: datetime) -> bool:
        return not self.revoked and not self.disabled and self.expires_at > now


@dataclass(frozen=True, slots=True)
class AccountState:
    owner_user_id: str
    status: str


class _Entries(Generic[V]):
    """key -> (stored_at, value), oldest first, bounded; callers hold the cache's lock."""

    def __init__(self, max_entries: int) -> None:
        self.items: dict[str, tuple[float, V]] = {}
        self.max_entries = max_entries

    def get(self, key: str, now: float, ttl_s: float) -> V | None:
        hit = self.items.get(key)
        if hit is None:
            return None
        if now - hit[0] >= ttl_s:
            del self.items[key]
            return None
        return hit[1]

    def put(self, key: str, value: V, now: float) -> None:
        self.items.pop(key, None)
        while len(self.items) >= self.max_entries:
            del self.items[next(iter(self.items))]
        self.items[key] = (now, value)

    def drop_where(self, keep: Callable[[V], bool]) -> None:
        for key in [k for k, (_, v) in self.items.items() if not keep(v)]:
            del self.items[key]


class AuthCache:
    def __init__(
        self,
        *,
        ttl_s: float = 60.0,
        liveness_s: float = 0.75,
        max_entries: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s, self.liveness_s = ttl_s, liveness_s
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._sessions: _Entries[SessionState] = _Entries(max_entries)
        self._accounts: _Entries[AccountState] = _Entries(max_entries)
        self._epoch = 0
        self._current_at: float | None = None  # None: no live subscription
        self.hits = self.misses = 0

    # --- trust (driven by the subscriber) ---
    def subscribed(self, since: float) -> None:
        """A subscription requested at ``since`` is confirmed: forget everything (messages
        may have been missed before it), then trust what is loaded from now on."""
        with self._lock:
            self._clear_locked()
            self._current_at = since

    def current_as_of(self, sent_at: float) -> None:
        """The pong of a ping sent at ``sent_at`` arrived: every earlier message is applied."""
        with self._lock:
            if self._current_at is not None and sent_at > self._current_at:
                self._current_at = sent_at

    def lost(self) -> None:
        """The subscription broke: not trusted (and emptied) until ``subscribed``."""
        with self._lock:
            self._current_at = None
            self._clear_locked()

    @property
    def trusted(self) -> bool:
        with self._lock:
            return self._trusted_locked()

    def _trusted_locked(self) -> bool:
        at = self._current_at
        return self.ttl_s > 0 and at is not None and self.monotonic() - at < self.liveness_s

    # --- reads and fills (request threads) ---
    @property
    def epoch(self) -> int:
        """Note it before reading PostgreSQL on a miss; pass it back to ``put_*``."""
        with self._lock:
            return self._epoch

    def session(self, session_id: str) -> SessionState | None:
        return self._get(self._sessions, session_id)

    def account(self, account_id: str) -> AccountState | None:
        return self._get(self._accounts, account_id)

    def put_session(self, session_id: str, state: SessionState, epoch: int) -> None:
        self._put(self._sessions, session_id, state, epoch)

    def put_account(self, account_id: str, state: AccountState, epoch: int) -> None:
        self._put(self._accounts, account_id, state, epoch)

    def _get(self, entries: _Entries[V], key: str) -> V | None:
        with self._lock:
            trusted = self._trusted_locked()
            value = entries.get(key, self.monotonic(), self.ttl_s) if trusted else None
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def _put(self, entries: _Entries[V], key: str, value: V, epoch: int) -> None:
        with self._lock:
            if epoch == self._epoch and self._trusted_locked():
                entries.put(key, value, self.monotonic())

    # --- invalidation ---
    def apply(self, message: str) -> None:
        """One message from the channel (or from this process, before it publishes)."""
        kind, _, ident = message.partition(":")
        with self._lock:
            self._epoch += 1
            if kind == SESSION:
                self._sessions.items.pop(ident, None)
            elif kind == USER:
                self._sessions.drop_where(lambda s: s.user_id != ident)
                self._accounts.drop_where(lambda a: a.owner_user_id != ident)
            elif kind == ACCOUNT:
                self._accounts.items.pop(ident, None)
            else:  # EVERYTHING, or a kind this version does not know: be safe
                self._clear_locked()

    def _clear_locked(self) -> None:
        self._epoch += 1
        self._sessions.items.clear()
        self._accounts.items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions.items) + len(self._accounts.items)
