"""The auth cache across replicas: two processes' worth of auth (each its own cache,
subscriber, pool and Redis client) on the same PostgreSQL and Redis.

A revocation on one must be refused on the other within 1 s; a role change, a disabled
user and an account change must reach the other's cache; with Redis down, or the link to
it silent, PostgreSQL decides within the bound, and the cache is rebuilt (from empty) when
Redis is back.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from cluster import access
from cluster.auth.service import AuthService
from cluster.auth.wiring import build_auth
from cluster.clock import SystemClock
from cluster.db import Database, PoolSize
from cluster.redis_client import ResilientRedis
from cluster.settings import Settings
from domain.errors import NotFound, Unauthenticated
from serve.services import Services
from tests.conftest import REDIS_URL
from tests.kit.redis_server import RedisProcess, free_port
from tests.kit.statements import recorded, touching

PASSWORD = "Tr4ding-is-fun-2026"
TARGET_S = 1.0


@dataclass
class Replica:
    services: Services

    @property
    def auth(self) -> AuthService:
        auth: AuthService = self.services.auth
        return auth

    @property
    def db(self) -> Database:
        return self.services.db

    def wait_trusted(self, timeout_s: float = 5.0) -> None:
        cache = self.auth.sessions.cache
        assert cache is not None
        wait_for(lambda: cache.trusted, timeout_s, "cache trusted")


@contextmanager
def replica(settings: Settings, redis_url: str) -> Iterator[Replica]:
    """What ``build_services`` gives an API process, reduced to auth (as the gateway tests)."""
    assert settings.database_url is not None
    db = Database(settings.database_url.get_secret_value(), PoolSize(2, 2))
    redis = ResilientRedis(redis_url, prefix=settings.redis_key_prefix)
    services = Services(settings=settings, db=db, redis=redis)
    services.clock = SystemClock()
    services.auth = build_auth(services)
    try:
        yield Replica(services)
    finally:
        services.close()


@pytest.fixture
def replicas(settings: Settings, redis_url: str) -> Iterator[tuple[Replica, Replica]]:
    with replica(settings, redis_url) as a, replica(settings, redis_url) as b:
        a.wait_trusted()
        b.wait_trusted()
        yield a, b


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until ``predicate`` held (polled every millisecond), or fail."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.001)
    return time.monotonic() - started


def refused(auth: AuthService, token: str) -> bool:
    try:
        auth.verify_access(token)
    except Unauthenticated:
        return True
    return False


def member(auth: AuthService) -> tuple[str, str, str, str]:
    """(email, user id, account id, access token) of a new user with one session."""
    email = f"cache-{uuid.uuid4().hex[:10]}@example.com"
    reg = auth.register(email, PASSWORD, "individual")
    pair = auth.login(email, PASSWORD, ip="127.0.0.1", user_agent="pytest")
    return email, reg.user.id, reg.account.id, pair.access_token


def test_logout_on_one_replica_then_refused_on_the_other_within_1s(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    _, user_id, _, token = member(a.auth)
    assert b.auth.verify_access(token).user_id == user_id  # warm: one read, then cached
    with recorded(b.db.engine) as statements:
        for _ in range(50):
            assert b.auth.verify_access(token).user_id == user_id
            assert b.auth.verify_cached(token) is not None
    assert statements == []  # steady state: the cache answers

    started = time.monotonic()
    a.auth.logout(a.auth.verify_access(token))
    elapsed = wait_for(lambda: refused(b.auth, token), TARGET_S, "refused on replica b")
    total = time.monotonic() - started
    print(f"revocation seen on the other replica {elapsed * 1000:.1f} ms after logout returned")
    assert total < TARGET_S
    assert refused(a.auth, token)  # and at once on the replica that logged out


def test_refresh_reuse_on_one_replica_then_family_refused_on_the_other(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    email = f"cache-{uuid.uuid4().hex[:10]}@example.com"
    a.auth.register(email, PASSWORD, "individual")
    first = a.auth.login(email, PASSWORD, ip="127.0.0.1", user_agent="pytest")
    b.auth.verify_access(first.access_token)
    a.auth.refresh(first.refresh_token)
    with a.db.engine.begin() as conn:  # age the rotation past the grace instead of sleeping
        conn.exec_driver_sql(
            "UPDATE refresh_tokens SET used_at = used_at - interval '1 hour' "
            "WHERE session_id = %(sid)s AND used_at IS NOT NULL",
            {"sid": first.session_id},
        )
    with pytest.raises(Unauthenticated, match="reuse"):
        a.auth.refresh(first.refresh_token)
    wait_for(lambda: refused(b.auth, first.access_token), TARGET_S, "family refused on b")


def test_role_change_and_disable_then_other_replica_follows(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    email, _, _, token = member(a.auth)
    assert b.auth.verify_access(token).role == "user"

    a.auth.set_role(email, "quant", actor="test")
    wait_for(lambda: b.auth.verify_access(token).role == "quant", TARGET_S, "role on b")

    a.auth.set_disabled(email, True, actor="test")
    wait_for(lambda: refused(b.auth, token), TARGET_S, "disabled user refused on b")
    assert refused(a.auth, token)

    a.auth.set_disabled(email, False, actor="test")
    wait_for(lambda: not refused(b.auth, token), TARGET_S, "re-enabled user served on b")


def test_account_owner_cached_then_invalidated_on_change(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    _, alice, account, _ = member(a.auth)
    _, bob, _, _ = member(a.auth)
    access.account_for(b.db, alice, "user", account)  # warm
    with recorded(b.db.engine) as statements:
        for _ in range(20):
            assert access.account_for(b.db, alice, "user", account, write=True) == account
            with pytest.raises(NotFound):
                access.account_for(b.db, bob, "user", account)
    assert statements == []

    with a.db.engine.begin() as conn:  # no route re-owns an account today: write it by hand
        conn.exec_driver_sql(
            "UPDATE accounts SET owner_user_id = %(bob)s WHERE id = %(id)s",
            {"bob": bob, "id": account},
        )
    assert access.owns_account(b.db, alice, account)  # unpublished: the cache still says alice
    a.auth.invalidations.account(account)  # what a writer must do after its commit
    wait_for(lambda: access.owns_account(b.db, bob, account), TARGET_S, "new owner on b")
    with pytest.raises(NotFound):
        access.account_for(b.db, alice, "user", account)


def test_redis_down_then_db_decides_at_once_and_cache_rebuilt_when_back(
    settings: Settings, tmp_path: Path
) -> None:
    server = RedisProcess(tmp_path / "redis")
    server.start()
    try:
        with replica(settings, server.url) as a, replica(settings, server.url) as b:
            a.wait_trusted()
            b.wait_trusted()
            _, _, _, gone = member(a.auth)
            _, kept_id, _, kept = member(a.auth)
            for token in (gone, kept):
                b.auth.verify_access(token)
            b_cache = b.auth.sessions.cache
            assert b_cache is not None and len(b_cache) == 2

            server.stop()
            wait_for(lambda: not b_cache.trusted, TARGET_S, "b stops trusting its cache")
            started = time.monotonic()
            a.auth.logout(a.auth.verify_access(gone))  # the publish fails and is queued
            assert a.auth.invalidations.pending == 1
            assert refused(b.auth, gone)  # PostgreSQL decides on b, at once
            assert time.monotonic() - started < TARGET_S
            with recorded(b.db.engine) as statements:
                assert b.auth.verify_access(kept).user_id == kept_id
                assert b.auth.verify_cached(kept) is None  # untrusted: no answer from memory
            assert touching(statements, "sessions")

            server.start()  # same port: both subscribers come back
            b.wait_trusted(timeout_s=10)
            a.wait_trusted(timeout_s=10)
            wait_for(lambda: a.auth.invalidations.pending == 0, 5, "queued publish sent")
            assert len(b_cache) == 0  # cleared on re-subscribe: messages were missed
            assert refused(b.auth, gone)
            b.auth.verify_access(kept)  # one read refills it
            with recorded(b.db.engine) as statements:
                for _ in range(20):
                    assert b.auth.verify_access(kept).user_id == kept_id
            assert statements == []
    finally:
        server.stop()


class HoldingLink:
    """A loopback TCP forwarder that can hold every byte back (deliver nothing, close
    nothing) and later release them in order: a network partition as TCP shows it."""

    def __init__(self, url: str) -> None:
        host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        self.target = (host, int(port))
        self.port = free_port()
        self._open = threading.Event()
        self._open.set()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="holding-link").start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                return
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                self._open.wait()
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._open.set()
        self._listener.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()


def test_subscriber_link_silent_then_db_decides_within_1s_and_nothing_missed(
    settings: Settings,
) -> None:
    """Redis up and publishing, but b's subscription hears nothing (no reset, no error)."""
    link = HoldingLink(REDIS_URL)
    try:
        with replica(settings, REDIS_URL) as a, replica(settings, link.url) as b:
            a.wait_trusted()
            b.wait_trusted()
            _, _, _, token = member(a.auth)
            b.auth.verify_access(token)
            assert b.auth.verify_cached(token) is not None

            link.hold()
            started = time.monotonic()
            a.auth.logout(a.auth.verify_access(token))  # published; b's copy is held back
            wait_for(lambda: refused(b.auth, token), TARGET_S, "refused on b while silent")
            elapsed = time.monotonic() - started
            print(f"revocation enforced on a silent replica after {elapsed * 1000:.0f} ms")
            assert elapsed < TARGET_S

            link.release()
            b.wait_trusted(timeout_s=10)
            assert refused(b.auth, token)
            with pytest.raises(Unauthenticated):
                b.auth.verify_cached(token)  # the cache now holds the revoked session
    finally:
        link.close()
