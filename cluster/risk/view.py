"""A process's copy of the risk book (Serve replicas, the dispatcher), kept fresh without a
round trip per order.

Two ways in: the engine's push (Redis pub/sub ``<prefix>risk:snapshot``, the whole book
as JSON, applied if newer) and a poll of the version in PostgreSQL (``max(id)`` of the
audit, an index lookup) every ``poll_s`` on a background thread, reloading when it moved.

The staleness bound is enforced where the book is read, not hoped for: ``current()``
returns the book only if PostgreSQL confirmed its version within ``bound_s`` (250 ms);
otherwise the caller re-reads the version itself first. A push updates the book early
but does not count as a confirmation (a push can be lost; the database cannot). So an
order is checked against every change committed more than ``bound_s`` before the check,
whatever happened to Redis or to the poller.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from cluster.db import Database
from cluster.risk import store
from domain.risk.gate import RiskBook, limits_from_wire
from domain.risk.snapshot import RiskSnapshot

log = logging.getLogger(__name__)

#: Breaker states (``risk_breakers.state``) in which orders to that broker are refused.
REFUSING = frozenset({"open", "forced_open"})
CHANNEL = "risk:snapshot"


def book_from_db(db: Database, session: Session | None = None) -> RiskBook:
    if session is not None:
        loaded = store.load(session)
    else:
        with db.session() as s:
            loaded = store.load(s)
    snapshot = RiskSnapshot(
        version=loaded.version,
        states=loaded.states,
        locks=tuple(loaded.locks),
        open_breakers=frozenset(n for n, st in loaded.breaker_states.items() if st in REFUSING),
    )
    return RiskBook(snapshot, {k: limits_from_wire(v) for k, v in loaded.limits.items()})


class RiskView:
    def __init__(
        self,
        db: Database,
        *,
        bound_s: float = 0.25,
        poll_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        subscribe: Callable[[], Any] | None = None,
    ) -> None:
        self.db, self.bound_s, self.poll_s = db, bound_s, poll_s
        self.monotonic = monotonic
        self._subscribe = subscribe
        self._book = RiskBook()
        self._confirmed = float("-inf")
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = {"polls": 0, "reloads": 0, "pushes": 0, "sync_refreshes": 0}

    @property
    def book(self) -> RiskBook:
        """The book as held, without the freshness check (for reads and tests)."""
        return self._book

    def current(self, session: Session | None = None) -> RiskBook:
        """The book, confirmed against PostgreSQL within ``bound_s``. A caller inside a
        transaction passes its ``session``: the check reads through it rather than take a
        second pooled connection while holding one (20 concurrent submits would exhaust
        the pool)."""
        if self.monotonic() - self._confirmed > self.bound_s:
            self.stats["sync_refreshes"] += 1
            self.refresh(session)
        return self._book

    def refresh(self, session: Session | None = None) -> None:
        started = self.monotonic()
        if session is not None:
            version = store.version(session)
        else:
            with self.db.session() as s:
                version = store.version(s)
        self.stats["polls"] += 1
        if version != self._book.version:
            book = book_from_db(self.db, session)
            self.stats["reloads"] += 1
            self._install(book, force=True)
        self._confirmed = max(self._confirmed, started)

    def apply_push(self, wire: dict[str, Any]) -> None:
        self.stats["pushes"] += 1
        self._install(RiskBook.from_wire(wire), force=False)

    def _install(self, book: RiskBook, *, force: bool) -> None:
        with self._mutex:
            if force or book.version > self._book.version:
                self._book = book

    # -- background ----------------------------------------------------------------------
    def start(self) -> RiskView:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="risk-view", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        pubsub = None
        while not self._stop.is_set():
            if pubsub is None and self._subscribe is not None:
                try:
                    pubsub = self._subscribe()
                except Exception:
                    log.debug("risk push unavailable; polling only", exc_info=True)
            deadline = self.monotonic() + self.poll_s
            if pubsub is not None:
                try:
                    message = pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=self.poll_s
                    )
                    if message is not None and message.get("type") == "message":
                        self.apply_push(json.loads(message["data"]))
                except Exception:
                    log.debug("risk push failed; polling only until it returns", exc_info=True)
                    pubsub = None
            wait = deadline - self.monotonic()
            if wait > 0:
                self._stop.wait(wait)
            try:
                self.refresh()
            except Exception:  # the read path refreshes itself within the bound
                log.debug("risk view refresh failed", exc_info=True)


def redis_subscriber(redis_url: str, prefix: str) -> Callable[[], Any]:
    """A factory of pub/sub subscriptions to the engine's snapshot channel."""

    def subscribe() -> Any:
        import redis

        client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        pubsub = client.pubsub()
        pubsub.subscribe(prefix + CHANNEL)
        return pubsub

    return subscribe


def risk_view_for(settings: Any, db: Database, *, background: bool = True) -> RiskView | None:
    """The view a process checks orders with, or ``None`` when the gate is off. With
    ``background`` (Ray processes) it listens for pushes and polls; without, every read
    older than the bound re-reads the version first (one index probe per 250 ms)."""
    if not settings.risk_gate:
        return None
    subscribe = None
    if settings.redis_url is not None:
        subscribe = redis_subscriber(settings.redis_url, settings.redis_key_prefix)
    view = RiskView(
        db, bound_s=settings.risk_bound_s, poll_s=settings.risk_poll_s, subscribe=subscribe
    )
    return view.start() if background else view
