"""The circuit of the Redis clients (``cluster.redis_client``): down for a cooldown.

One failure (a timeout, a refused connection) trips it; while open, calls fail at once
instead of each waiting for its own timeout; when the cooldown is over one caller is told
to start a probe and the probe's verdict closes or reopens it. It is
``domain.breaker.Breaker`` over a wall clock that tests replace, behind a lock, because a
process's sync client is used from many worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError

from domain.breaker import Breaker, BreakerConfig, BreakerState

__all__ = ["CircuitOpen", "RedisCircuit", "shared_circuit"]


class CircuitOpen(RedisError):
    """The call was not sent: the circuit is open after a recent outage-type failure."""


class RedisCircuit:
    """Thread-safe ``Breaker`` (one failure trips it) over an injected wall clock."""

    def __init__(self, cooldown_s: float, now: Callable[[], datetime] | None = None) -> None:
        self.cooldown_s = cooldown_s
        self._now = now or (lambda: datetime.now(UTC))
        config = BreakerConfig(
            failure_threshold=1, window=timedelta(minutes=1), open_for=timedelta(seconds=cooldown_s)
        )
        self._breaker = Breaker(config, name="redis") if cooldown_s > 0 else None
        self._lock = threading.Lock()

    @property
    def state(self) -> BreakerState:
        if self._breaker is None:
            return BreakerState.CLOSED
        with self._lock:
            return self._breaker.state(self._now())

    def admit(self) -> bool:
        """True: the call may go out. False: the cooldown is over and the caller must start
        the probe (in the background) and fail fast. ``CircuitOpen``: the circuit is open."""
        if self._breaker is None:
            return True
        with self._lock:
            now = self._now()
            closed = self._breaker.state(now) is BreakerState.CLOSED
            if self._breaker.allow(now):
                return closed
        raise CircuitOpen(f"circuit open for {self.cooldown_s:g} s after an outage")

    def success(self) -> None:
        if self._breaker is not None:
            with self._lock:
                self._breaker.record_success(self._now())

    def failure(self) -> None:
        if self._breaker is not None:
            with self._lock:
                self._breaker.record_failure(self._now())


_circuits: dict[tuple[str, float], RedisCircuit] = {}
_circuits_lock = threading.Lock()


def shared_circuit(url: str, cooldown_s: float) -> RedisCircuit:
    """One circuit per Redis server and process: when the rate limiter's client times out,
    the login throttle's and the quote cache's fail fast too, so a request pays for at
    most one timeout, not one per client it goes through."""
    if cooldown_s <= 0:
        return RedisCircuit(0)
    with _circuits_lock:
        return _circuits.setdefault((url, cooldown_s), RedisCircuit(cooldown_s))
