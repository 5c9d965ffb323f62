"""Redis with timeouts, bounded retries and no silent failure.

Connection errors and timeouts are retried inside redis-py (its ``Retry`` with
``FullJitterBackoff``, a few attempts within a fraction of a second). Every call that still
fails is counted (``elson_redis_failures_total``), logged once per burst (the first failure
after a success logs at WARNING, the rest of the burst stays quiet until a success logs the
recovery), and flips ``health`` to degraded so readiness can say so. Callers get
``RedisUnavailable`` (a ``TransientError``) they can handle: fall back to memory, skip a
cache write, or answer 503.

A command error (``ResponseError``: wrong arguments, wrong type, a Lua error) is not an
outage: it is neither retried nor counted, and reaches the caller as ``RedisCommandError``
(an ``OperatorError``: a bug or a server older than the code, to page about, never to
paper over with a fallback). Only the replies that mean the server cannot serve now
(read-only replica during a failover, out of memory, cluster down) count as unavailable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import redis
import redis.asyncio as aredis
import redis.asyncio.retry as aretry
from redis.backoff import FullJitterBackoff
from redis.exceptions import (
    ClusterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.retry import Retry

from cluster import metrics
from domain.errors import OperatorError, TransientError

if TYPE_CHECKING:
    from cluster.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class RedisUnavailable(TransientError):
    code = "dependency-unavailable"


class RedisCommandError(OperatorError):
    """Redis refused a command (``ResponseError``): our bug, not an outage."""


#: Replies that mean "the server cannot serve this now", not "this command is wrong".
_UNAVAILABLE_REPLIES: tuple[type[ResponseError], ...] = (
    ReadOnlyError,
    OutOfMemoryError,
    TryAgainError,
    ClusterDownError,
)
#: The client retries connection errors and timeouts within this budget.
_RETRY_BASE_S, _RETRY_CAP_S = 0.02, 0.2


def _command_error(op: str, exc: ResponseError) -> RedisCommandError:
    log.error("redis %s: command refused: %s", op, exc)
    return RedisCommandError(f"redis {op} refused the command: {exc}")


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
    """Without ``retry`` redis-py (6+) waits up to seconds between its default retries."""
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "health_check_interval": 10,
        "decode_responses": False,
    }


def _from_settings(
    settings: Settings, timeout_s: float | None, attempts: int | None
) -> tuple[str, str, float, int]:
    if settings.redis_url is None:
        raise RuntimeError("no Redis URL: bootstrap resolves the embedded one first")
    return (
        settings.redis_url.get_secret_value(),
        settings.redis_key_prefix,
        settings.redis_timeout_s if timeout_s is None else timeout_s,
        settings.redis_retry_attempts if attempts is None else attempts,
    )


class ResilientRedis:
    """Synchronous client. ``call`` runs one Redis operation under the policy."""

    def __init__(self, url: str, *, prefix: str, timeout_s: float = 0.5, attempts: int = 3) -> None:
        self.url, self.prefix = url, prefix
        retry = Retry(FullJitterBackoff(cap=_RETRY_CAP_S, base=_RETRY_BASE_S), attempts - 1)
        self.client = redis.Redis.from_url(url, retry=retry, **_connection_kwargs(timeout_s))
        self.health = RedisHealth()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, timeout_s: float | None = None, attempts: int | None = None
    ) -> ResilientRedis:
        """The process's client from settings (the one way every process builds it)."""
        url, prefix, timeout, tries = _from_settings(settings, timeout_s, attempts)
        return cls(url, prefix=prefix, timeout_s=timeout, attempts=tries)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def call(self, op: str, fn: Callable[[redis.Redis], T]) -> T:
        try:
            result = fn(self.client)
        except ResponseError as exc:
            if not isinstance(exc, _UNAVAILABLE_REPLIES):
                raise _command_error(op, exc) from exc
            with self._lock:
                self.health.record_failure(op, exc)
            raise RedisUnavailable(f"redis {op} failed: {type(exc).__name__}") from exc
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
        retry = aretry.Retry(FullJitterBackoff(cap=_RETRY_CAP_S, base=_RETRY_BASE_S), attempts - 1)
        self.client = aredis.Redis.from_url(url, retry=retry, **_connection_kwargs(timeout_s))
        self.health = RedisHealth()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, timeout_s: float | None = None, attempts: int | None = None
    ) -> AsyncResilientRedis:
        url, prefix, timeout, tries = _from_settings(settings, timeout_s, attempts)
        return cls(url, prefix=prefix, timeout_s=timeout, attempts=tries)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def call(self, op: str, fn: Callable[[aredis.Redis], Awaitable[T]]) -> T:
        try:
            result = await fn(self.client)
        except ResponseError as exc:
            if not isinstance(exc, _UNAVAILABLE_REPLIES):
                raise _command_error(op, exc) from exc
            self.health.record_failure(op, exc)
            raise RedisUnavailable(f"redis {op} failed: {type(exc).__name__}") from exc
        except (RedisError, OSError) as exc:
            self.health.record_failure(op, exc)
            raise RedisUnavailable(f"redis {op} failed: {type(exc).__name__}") from exc
        self.health.record_success()
        return result

    async def ping(self) -> bool:
        return bool(await self.call("ping", lambda r: r.ping()))

    async def close(self) -> None:
        await self.client.aclose()
