"""Redis with timeouts, bounded retries and no silent failure.

Every failed call is counted (``elson_redis_failures_total``), logged once per burst
(the first failure after a success logs at WARNING, the rest of the burst stays quiet
until a success logs the recovery), and flips ``health`` to degraded so readiness can say
so. Callers get ``RedisUnavailable`` (a ``TransientError``) they can handle: fall back to
memory, skip a cache write, or answer 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import redis.asyncio as aredis
from redis.exceptions import RedisError

from cluster import metrics
from cluster.retry import Backoff, retry_async, retry_sync
from domain.errors import TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")


class RedisUnavailable(TransientError):
    code = "dependency-unavailable"


@dataclass
class RedisHealth:
    """Shared by every call of one client; readiness reads it."""

    ok: bool = True
    last_error: str | None = None
    failures: int = 0
    since: float = 0.0

    def record_failure(self, op: str, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = f"{op}: {type(exc).__name__}: {exc}"
        metrics.redis_failures().inc(1, {"op": op, "kind": type(exc).__name__})
        if self.ok:
            self.ok = False
            self.since = time.monotonic()
            log.warning(
                "redis degraded (%s); further failures in this burst are counted only",
                self.last_error,
            )

    def record_success(self) -> None:
        if not self.ok:
            log.warning("redis recovered after %.1f s", time.monotonic() - self.since)
            self.ok = True


def _connection_kwargs(timeout_s: float) -> dict[str, Any]:
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "health_check_interval": 10,
        "decode_responses": False,
    }


class ResilientRedis:
    """Synchronous client. ``call`` runs one Redis operation under the policy."""

    def __init__(self, url: str, *, prefix: str, timeout_s: float = 0.5, attempts: int = 3) -> None:
        self.url, self.prefix = url, prefix
        self.client = redis.Redis.from_url(url, **_connection_kwargs(timeout_s))
        self.backoff = Backoff(base_s=0.02, cap_s=0.2, max_attempts=attempts)
        self.health = RedisHealth()
        self._lock = threading.Lock()

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def call(self, op: str, fn: Callable[[redis.Redis], T]) -> T:
        try:
            result = retry_sync(
                lambda: fn(self.client), backoff=self.backoff, retry_on=(RedisError, OSError)
            )
        except (RedisError, OSError) as exc:
            with self._lock:
                self.health.record_failure(op, exc)
            raise RedisUnavailable(f"redis {op} failed: {type(exc).__name__}") from exc
        with self._lock:
            self.health.record_success()
        return result

    def ping(self) -> bool:
        return bool(self.call("ping", lambda r: r.ping()))

    def close(self) -> None:
        self.client.close()


class AsyncResilientRedis:
    """Asyncio twin of ``ResilientRedis`` for actors and the gateway."""

    def __init__(self, url: str, *, prefix: str, timeout_s: float = 0.5, attempts: int = 3) -> None:
        self.url, self.prefix = url, prefix
        self.client = aredis.Redis.from_url(url, **_connection_kwargs(timeout_s))
        self.backoff = Backoff(base_s=0.02, cap_s=0.2, max_attempts=attempts)
        self.health = RedisHealth()

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def call(self, op: str, fn: Callable[[aredis.Redis], Awaitable[T]]) -> T:
        try:
            result = await retry_async(
                lambda: fn(self.client), backoff=self.backoff, retry_on=(RedisError, OSError)
            )
        except (RedisError, OSError) as exc:
            self.health.record_failure(op, exc)
            raise RedisUnavailable(f"redis {op} failed: {type(exc).__name__}") from exc
        self.health.record_success()
        return result

    async def ping(self) -> bool:
        return bool(await self.call("ping", lambda r: r.ping()))

    async def close(self) -> None:
        await self.client.aclose()
