"""Redis with one deadline per call, a circuit that fails fast, and no silent failure.

A slow Redis is a down Redis (issue 18): a frozen server must cost a request a fraction
of a second, not the ten seconds redis-py's own retries could add up to. So redis-py's
retries are off and each call here has a budget of ``timeout_s x attempts``: every
attempt is bounded by the socket timeout, a timeout is never retried (a server that did
not answer in time will not answer the second time either), and a fast connection error
(a pooled connection the server closed) is retried at once on a fresh one while the
budget lasts.

After an outage-type failure the client's circuit opens for ``cooldown_s``: calls fail
at once with ``RedisUnavailable`` instead of each waiting for its own timeout. When the
cooldown is over the next call starts a probe (a PING in the background, one at a time)
and still fails fast, like the others, until the probe's success closes the circuit: no
request waits for a server that just timed out. The circuit (``cluster.redis_circuit``)
is shared by every client of the process that talks to the same server, so a request
pays for at most one timeout. ``from_settings`` (every process's client) uses
``redis_down_cooldown_s``; a client built directly has no circuit unless asked.

Every call that fails, skipped ones included (kind ``CircuitOpen``), is counted
(``elson_redis_failures_total``), logged once per burst (the first failure after a
success logs at WARNING, the rest of the burst stays quiet until a success logs the
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

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, TypeVar

import redis
import redis.asyncio as aredis
import redis.asyncio.retry as aretry
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import TimeoutError as RedisTimeout
from redis.retry import Retry

from cluster import metrics
from cluster.redis_circuit import CircuitOpen, shared_circuit
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


def _command_error(op: str, exc: ResponseError) -> RedisCommandError:
    log.error("redis %s: command refused: %s", op, exc)
    return RedisCommandError(f"redis {op} refused the command: {exc}")


def _unavailable(op: str, exc: BaseException) -> RedisUnavailable:
    if isinstance(exc, CircuitOpen):
        return RedisUnavailable(f"redis {op} not sent: {exc}")
    return RedisUnavailable(f"redis {op} failed: {type(exc).__name__}")


def _retryable(exc: BaseException) -> bool:
    """A fast connection failure, not a timeout: worth one more try on a new connection."""
    return not isinstance(exc, (RedisTimeout, TimeoutError, CircuitOpen, ResponseError))


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


def _connection_kwargs(timeout_s: float, retry: Any) -> dict[str, Any]:
    """``retry`` with no retries: redis-py's own (default 3 with backoff) would multiply
    the time a frozen server holds a call; our loop retries within the call's budget."""
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "health_check_interval": 10,
        "decode_responses": False,
        "retry": retry,
    }


@dataclass(frozen=True)
class _Options:
    url: str
    prefix: str
    timeout_s: float
    attempts: int
    cooldown_s: float


def _from_settings(settings: Settings, timeout_s: float | None, attempts: int | None) -> _Options:
    if settings.redis_url is None:
        raise RuntimeError("no Redis URL: bootstrap resolves the embedded one first")
    return _Options(
        settings.redis_url.get_secret_value(),
        settings.redis_key_prefix,
        settings.redis_timeout_s if timeout_s is None else timeout_s,
        settings.redis_retry_attempts if attempts is None else attempts,
        settings.redis_down_cooldown_s,
    )


class _Policy:
    """What both clients share: key naming, the budget, the circuit and health."""

    def __init__(
        self, url: str, prefix: str, timeout_s: float, attempts: int, cooldown_s: float
    ) -> None:
        if attempts < 1 or timeout_s <= 0:
            raise ValueError("redis client needs attempts >= 1 and timeout_s > 0")
        self.url, self.prefix = url, prefix
        self.timeout_s, self.attempts = timeout_s, attempts
        #: The most one call may take: every attempt is bounded by the socket timeout.
        self.budget_s = timeout_s * attempts
        self.circuit = shared_circuit(url, cooldown_s)
        self.health = RedisHealth()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, timeout_s: float | None = None, attempts: int | None = None
    ) -> Self:
        """The process's client from settings (the one way every process builds it, sync
        or async: both take the same arguments)."""
        o = _from_settings(settings, timeout_s, attempts)
        return cls(  # type: ignore[call-arg]
            o.url,
            prefix=o.prefix,
            timeout_s=o.timeout_s,
            attempts=o.attempts,
            cooldown_s=o.cooldown_s,
        )

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _may_retry(self, exc: BaseException, attempt: int, deadline: float) -> bool:
        return (
            attempt < self.attempts
            and _retryable(exc)
            and time.monotonic() + self.timeout_s <= deadline
        )

    def _failed(self, op: str, exc: BaseException) -> RedisUnavailable:
        if not isinstance(exc, CircuitOpen):
            self.circuit.failure()
        with self._lock:
            self.health.record_failure(op, exc)
        return _unavailable(op, exc)

    def _answered(self) -> None:
        self.circuit.success()
        with self._lock:
            self.health.record_success()

    def _probe_result(self, exc: BaseException | None) -> None:
        if exc is None or (
            isinstance(exc, ResponseError) and not isinstance(exc, _UNAVAILABLE_REPLIES)
        ):
            self._answered()
        else:
            self.circuit.failure()
            log.debug("redis probe failed: %s: %s", type(exc).__name__, exc)

    def _refused(self, op: str, exc: ResponseError) -> BaseException:
        """A reply: the server is there. Unavailable replies still count as an outage."""
        if isinstance(exc, _UNAVAILABLE_REPLIES):
            return self._failed(op, exc)
        self.circuit.success()
        return _command_error(op, exc)


class ResilientRedis(_Policy):
    """Synchronous client. ``call`` runs one Redis operation under the policy."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        timeout_s: float = 0.25,
        attempts: int = 2,
        cooldown_s: float = 0.0,
    ) -> None:
        super().__init__(url, prefix, timeout_s, attempts, cooldown_s)
        kwargs = _connection_kwargs(timeout_s, Retry(NoBackoff(), 0))
        self.client = redis.Redis.from_url(url, **kwargs)

    def call(self, op: str, fn: Callable[[redis.Redis], T]) -> T:
        try:
            if not self.circuit.admit():
                threading.Thread(target=self._probe, name="redis-probe", daemon=True).start()
                raise CircuitOpen("circuit half-open: a probe is under way")
        except CircuitOpen as exc:
            raise self._failed(op, exc) from exc
        deadline = time.monotonic() + self.budget_s
        attempt = 0
        while True:
            attempt += 1
            try:
                result = fn(self.client)
            except ResponseError as exc:
                raise self._refused(op, exc) from exc
            except (RedisError, OSError) as exc:
                if self._may_retry(exc, attempt, deadline):
                    continue
                raise self._failed(op, exc) from exc
            self._answered()
            return result

    def _probe(self) -> None:
        try:
            self.client.ping()
        except (RedisError, OSError) as exc:
            self._probe_result(exc)
        else:
            self._probe_result(None)

    def ping(self) -> bool:
        return bool(self.call("ping", lambda r: r.ping()))

    def close(self) -> None:
        self.client.close()


class AsyncResilientRedis(_Policy):
    """Asyncio twin of ``ResilientRedis`` for actors and the gateway.

    No ``asyncio.timeout`` around a call: it would also count the time a busy event loop
    takes to schedule the call (300 requests at once on one replica), turning our own
    load into a "Redis down" that opens the circuit and lets the rate limiter fail open.
    The socket timeouts bound what Redis itself may take."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        timeout_s: float = 0.25,
        attempts: int = 2,
        cooldown_s: float = 0.0,
    ) -> None:
        super().__init__(url, prefix, timeout_s, attempts, cooldown_s)
        self._probing: asyncio.Task[None] | None = None  # a reference keeps the task alive
        kwargs = _connection_kwargs(timeout_s, aretry.Retry(NoBackoff(), 0))
        self.client = aredis.Redis.from_url(url, **kwargs)

    async def call(self, op: str, fn: Callable[[aredis.Redis], Awaitable[T]]) -> T:
        try:
            if not self.circuit.admit():
                self._probing = asyncio.get_running_loop().create_task(self._probe())
                raise CircuitOpen("circuit half-open: a probe is under way")
        except CircuitOpen as exc:
            raise self._failed(op, exc) from exc
        deadline = time.monotonic() + self.budget_s
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await fn(self.client)
            except ResponseError as exc:
                raise self._refused(op, exc) from exc
            except (RedisError, OSError) as exc:
                if self._may_retry(exc, attempt, deadline):
                    continue
                raise self._failed(op, exc) from exc
            self._answered()
            return result

    async def _probe(self) -> None:
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            self._probe_result(exc)
        else:
            self._probe_result(None)

    async def ping(self) -> bool:
        return bool(await self.call("ping", lambda r: r.ping()))

    async def close(self) -> None:
        await self.client.aclose()
