"""Login throttling per email and per IP, over HTTP and with Redis down, on both Redis
servers (the machine's and the embedded one ``./dev up`` runs), and across two API
processes sharing the embedded one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cluster.auth.throttle import LoginThrottle
from cluster.redis_client import ResilientRedis
from cluster.settings import Settings
from domain.clock import FakeClock
from domain.errors import RateLimited
from serve.api import create_api
from serve.services import build_services
from tests.kit.api import serve_in_thread
from tests.kit.api_process import api_processes
from tests.kit.redis_server import free_port
from tests.kit.users import assert_problem, new_email, register

LIMIT = 3


@pytest.fixture
def throttled(settings: Settings, redis_url: str) -> Iterator[httpx.Client]:
    """An app of its own: a low limit and a fresh key prefix, so tests do not share counters."""
    s = settings.with_overrides(
        redis_url=redis_url,
        login_max_failures=LIMIT,
        login_failure_window_s=600,
        redis_key_prefix=f"{settings.redis_key_prefix}throttle-{uuid.uuid4().hex[:6]}:",
        api_replicas=1,
        job_workers=0,
    )
    services = build_services(s, in_ray=False, process_label="throttle-tests")
    try:
        with (
            serve_in_thread(create_api(services)) as url,
            httpx.Client(base_url=url, timeout=10) as c,
        ):
            yield c
    finally:
        services.close()


def _login(c: httpx.Client, email: str, password: str) -> httpx.Response:
    return c.post("/v1/auth/login", json={"email": email, "password": password})


def test_login_when_too_many_failures_for_email_then_429_with_retry_after(
    throttled: httpx.Client,
) -> None:
    user = register(throttled)
    for _ in range(LIMIT):
        assert_problem(_login(throttled, user.email, "wrong-password-1"), 401, "unauthenticated")
    assert _redis_failures(throttled) == 0  # counted in Redis, not in the fallback
    r = _login(throttled, user.email, user.password)  # even the right password waits
    assert_problem(r, 429, "rate-limited")
    assert 500 <= int(r.headers["Retry-After"]) <= 600


def test_login_when_success_before_limit_then_email_counter_resets(
    throttled: httpx.Client,
) -> None:
    user = register(throttled)
    for _ in range(LIMIT - 1):
        _login(throttled, user.email, "wrong-password-1")
    assert _login(throttled, user.email, user.password).status_code == 200
    # The IP counter still holds LIMIT-1 failures: one more failure from it trips the IP.
    assert _login(throttled, user.email, "wrong-password-1").status_code == 401
    assert_problem(_login(throttled, new_email(), "whatever-pass-1"), 429, "rate-limited")


def test_login_when_many_emails_fail_from_one_ip_then_ip_throttled(
    throttled: httpx.Client,
) -> None:
    user = register(throttled)
    for _ in range(LIMIT):
        _login(throttled, new_email(), "wrong-password-1")
    assert_problem(_login(throttled, user.email, user.password), 429, "rate-limited")


def test_throttle_when_redis_down_then_per_process_window_applies() -> None:
    dead = ResilientRedis(
        f"redis://127.0.0.1:{free_port()}/0", prefix="t:", timeout_s=0.05, attempts=1
    )
    clock = FakeClock(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    throttle = LoginThrottle(dead, clock, max_failures=2, window_s=60)
    try:
        throttle.check("a@example.com", "10.0.0.1")
        throttle.record_failure("a@example.com", "10.0.0.1")
        throttle.record_failure("a@example.com", "10.0.0.1")
        with pytest.raises(RateLimited) as caught:
            throttle.check("a@example.com", "10.0.0.2")
        assert caught.value.retry_after_s == 60
        clock.advance(timedelta(seconds=61))
        throttle.check("a@example.com", "10.0.0.1")
    finally:
        dead.close()


def test_throttle_when_redis_up_then_counts_are_shared_between_instances(redis_url: str) -> None:
    prefix = f"throttle-share-{uuid.uuid4().hex[:6]}:"
    r1 = ResilientRedis(redis_url, prefix=prefix)
    r2 = ResilientRedis(redis_url, prefix=prefix)
    clock = FakeClock(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    one = LoginThrottle(r1, clock, max_failures=2, window_s=60)
    two = LoginThrottle(r2, clock, max_failures=2, window_s=60)
    try:
        one.record_failure("b@example.com", None)
        two.record_failure("b@example.com", None)
        with pytest.raises(RateLimited):
            one.check("b@example.com", None)
        keys = list(r1.client.scan_iter(match=prefix + "*"))
        assert keys and all(b"b@example.com" not in k for k in keys)
        assert all(0 < r1.client.ttl(k) <= 60 for k in keys)  # EXPIRE ... NX took
        assert r1.health.failures == 0 and r2.health.failures == 0
    finally:
        for k in r1.client.scan_iter(match=prefix + "*"):
            r1.client.delete(k)
        r1.close()
        r2.close()


def _redis_failures(c: httpx.Client) -> int:
    """Failed Redis calls of the process behind ``c``, from its readiness report."""
    ready = c.get("/readyz")
    assert ready.status_code == 200, ready.text
    redis = ready.json()["checks"]["redis"]
    assert redis["state"] == "up", redis
    return int(redis["failures_total"])


def test_throttle_when_two_api_processes_share_embedded_redis_then_failures_add_up(
    settings: Settings, embedded_redis_url: str, tmp_path: Path
) -> None:
    """Acceptance (issue 8): under ``./dev up``'s embedded Redis the login throttle counts
    across API processes, and that Redis reports zero failures after failed logins."""
    s = settings.with_overrides(
        redis_url=embedded_redis_url,
        redis_key_prefix=f"{settings.redis_key_prefix}throttle-2p-{uuid.uuid4().hex[:6]}:",
        login_max_failures=LIMIT,
        login_failure_window_s=600,
        api_replicas=2,
        job_workers=0,
    )
    with (
        api_processes(s, 2, tmp_path) as (url_a, url_b),
        httpx.Client(base_url=url_a, timeout=10) as a,
        httpx.Client(base_url=url_b, timeout=10) as b,
    ):
        user = register(a)
        for _ in range(LIMIT - 1):
            assert_problem(_login(a, user.email, "wrong-password-1"), 401, "unauthenticated")
        # The LIMIT-th failure lands on the other process: it adds to A's count...
        assert_problem(_login(b, user.email, "wrong-password-1"), 401, "unauthenticated")
        # ...so both now refuse even the right password (per-process counts would not).
        assert_problem(_login(b, user.email, user.password), 429, "rate-limited")
        assert_problem(_login(a, user.email, user.password), 429, "rate-limited")
        assert _redis_failures(a) == 0
        assert _redis_failures(b) == 0
