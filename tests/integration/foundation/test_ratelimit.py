"""The GCRA script on the real Redis (the machine's and the embedded one): bursts, exact
waits, all-or-nothing booking, shared across limiter instances, and fail-open with a
counted failure when Redis is down."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from cluster import metrics
from cluster.ratelimit import Bucket, Quota, RateLimiter, digest
from cluster.redis_client import AsyncResilientRedis
from tests.kit.redis_server import RedisProcess

T0 = 1_800_000_000_000.0  # a fixed "now" in ms: the script runs on this instead of TIME


def limiter_on(
    url: str,
    prefix: str,
    *,
    cooloff_s: float = 1.0,
    monotonic: Callable[[], float] = time.monotonic,
) -> RateLimiter:
    redis = AsyncResilientRedis(url, prefix=prefix, attempts=1)
    return RateLimiter(redis, cooloff_s=cooloff_s, monotonic=monotonic)


@pytest.fixture
async def prefix(redis_prefix: str) -> AsyncIterator[str]:
    yield f"{redis_prefix}rl-{uuid.uuid4().hex[:6]}:"


async def test_check_when_burst_spent_then_refused_for_exactly_one_interval(
    redis_url: str, prefix: str
) -> None:
    limiter = limiter_on(redis_url, prefix)
    bucket = [Bucket("token", digest("t1"), Quota(per_s=2, burst=3))]  # a slot each 500 ms
    try:
        for _ in range(3):
            assert (await limiter.check(bucket, now_ms=T0)).allowed
        refused = await limiter.check(bucket, now_ms=T0)
        assert not refused.allowed and refused.scope == "token"
        assert refused.retry_after_s == pytest.approx(0.5, abs=0.002)
        assert refused.retry_after_header == "1"
        # 1 ms early is still refused (and a refusal books nothing), on time is admitted
        early = await limiter.check(bucket, now_ms=T0 + 499)
        assert not early.allowed and early.retry_after_s == pytest.approx(0.001, abs=0.002)
        assert (await limiter.check(bucket, now_ms=T0 + 500)).allowed
        assert not (await limiter.check(bucket, now_ms=T0 + 500)).allowed
        # idle for the whole burst window: the full burst is back
        later = T0 + 500 + 3 * 500
        assert all([(await limiter.check(bucket, now_ms=later)).allowed for _ in range(3)])
        assert not (await limiter.check(bucket, now_ms=later)).allowed
    finally:
        await limiter.close()


async def test_check_when_one_bucket_refuses_then_the_other_is_not_spent(
    redis_url: str, prefix: str
) -> None:
    limiter = limiter_on(redis_url, prefix)
    tight = Bucket("token", digest("t2"), Quota(per_s=1, burst=1))
    ip = Bucket("ip", digest("10.0.0.1"), Quota(per_s=1, burst=2))
    try:
        assert (await limiter.check([tight, ip], now_ms=T0)).allowed
        refused = await limiter.check([tight, ip], now_ms=T0)
        assert not refused.allowed and refused.scope == "token"
        assert refused.retry_after_s == pytest.approx(1.0, abs=0.002)
        # the IP bucket was booked once only: one more request from it still fits
        assert (await limiter.check([ip], now_ms=T0)).allowed
        refused_ip = await limiter.check([ip], now_ms=T0)
        assert not refused_ip.allowed and refused_ip.scope == "ip"
    finally:
        await limiter.close()


async def test_check_when_two_limiters_share_a_prefix_then_they_share_buckets(
    redis_url: str, prefix: str
) -> None:
    a, b = limiter_on(redis_url, prefix), limiter_on(redis_url, prefix)
    bucket = [Bucket("ip", digest("10.0.0.2"), Quota(per_s=0.1, burst=4))]
    try:
        results = [await (a if i % 2 else b).check(bucket) for i in range(6)]  # Redis TIME
        assert [r.allowed for r in results] == [True] * 4 + [False] * 2
        assert 9.0 < results[-1].retry_after_s <= 10.0
        assert results[-1].retry_after_header == "10"
        other = limiter_on(redis_url, f"{prefix}other:")  # another prefix, other buckets
        try:
            assert (await other.check(bucket)).allowed
        finally:
            await other.close()
    finally:
        await a.close()
        await b.close()


async def test_check_when_redis_down_then_fails_open_counted_and_cools_off(
    prefix: str, tmp_path: Path
) -> None:
    server = RedisProcess(tmp_path / "redis")
    server.start()
    now = [100.0]
    limiter = limiter_on(server.url, prefix, cooloff_s=5.0, monotonic=lambda: now[0])
    bucket = [Bucket("token", digest("t3"), Quota(per_s=1, burst=1))]
    try:
        assert (await limiter.check(bucket)).allowed
        assert not (await limiter.check(bucket)).allowed
        server.stop()
        failures = metrics.redis_failures().local_total
        assert (await limiter.check(bucket)).allowed  # fail open
        assert metrics.redis_failures().local_total == failures + 1
        assert limiter.redis.health.ok is False
        now[0] += 4.9  # inside the cool-off: Redis is not asked again
        assert (await limiter.check(bucket)).allowed
        assert metrics.redis_failures().local_total == failures + 1
        server.start()
        now[0] += 0.2  # cool-off over: asked again, and limiting again
        await limiter.check(bucket)
        assert limiter.redis.health.ok is True
        assert not (await limiter.check(bucket)).allowed
    finally:
        await limiter.close()
        server.stop()


def test_quota_when_invalid_then_refused() -> None:
    for per_s, burst in [(0, 1), (-1, 1), (float("inf"), 1), (float("nan"), 1), (1, 0)]:
        with pytest.raises(ValueError):
            Quota(per_s=per_s, burst=burst)
