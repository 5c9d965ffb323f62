"""Exponential backoff with full jitter, capped, bounded or forever.

One policy for every edge that retries (broker REST, upstream market-data sockets, the
gateway's Redis tailer and feed pump), so it is tuned in one place. Redis commands retry
inside redis-py with its own ``Retry`` and ``FullJitterBackoff`` (``cluster.redis_client``).

"Full jitter" (AWS architecture blog): the delay before retry ``n`` is uniform in
``[0, min(cap, base * 2**n)]``, which spreads reconnect storms better than equal or
decorrelated jitter. The ceiling is computed without ever forming ``2**n`` past the cap,
so attempt 1,024 (where a float ``2**n`` overflows) or 10**9 waits ``cap`` like attempt 20.
``max_attempts=None`` means "forever": loops that must outlive any outage use it and stop
only when cancelled.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 0.05
    cap_s: float = 5.0
    #: calls in all (the first one included); ``None`` retries until success or cancel
    max_attempts: int | None = 5

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base_s) and math.isfinite(self.cap_s)):
            raise ValueError("backoff base_s and cap_s must be finite")
        if not 0 < self.base_s <= self.cap_s:
            raise ValueError(f"backoff needs 0 < base_s <= cap_s, got {self.base_s}, {self.cap_s}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"backoff max_attempts must be >= 1 or None, got {self.max_attempts}")

    @property
    def forever(self) -> bool:
        return self.max_attempts is None

    def ceiling(self, attempt: int) -> float:
        """``min(cap, base * 2**attempt)`` for any ``attempt >= 0``, never overflowing."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        if attempt >= math.log2(self.cap_s / self.base_s):
            return self.cap_s
        return min(self.cap_s, self.base_s * 2.0**attempt)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number ``attempt`` (0-based), full jitter."""
        return (rng or random).uniform(0.0, self.ceiling(attempt))

    def exhausted(self, failures: int) -> bool:
        """True when ``failures`` failed calls used up the budget (never when forever)."""
        return self.max_attempts is not None and failures >= self.max_attempts


def retry_sync(
    fn: Callable[[], T],
    *,
    backoff: Backoff,
    retry_on: tuple[type[BaseException], ...],
    never_retry: tuple[type[BaseException], ...] = (),
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` until it succeeds or ``backoff.max_attempts`` calls failed.

    ``never_retry`` names subclasses of ``retry_on`` that are raised at once (a command
    error is a bug to surface, not an outage to wait out)."""
    failures = 0
    while True:
        try:
            return fn()
        except never_retry:
            raise
        except retry_on as exc:
            failures += 1
            if backoff.exhausted(failures):
                raise
            delay = backoff.delay(failures - 1)
            if on_retry is not None:
                on_retry(failures, exc, delay)
            sleep(delay)


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    retry_on: tuple[type[BaseException], ...],
    never_retry: tuple[type[BaseException], ...] = (),
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Asyncio twin of ``retry_sync``; cancelling the task stops a forever loop."""
    failures = 0
    while True:
        try:
            return await fn()
        except never_retry:
            raise
        except retry_on as exc:
            failures += 1
            if backoff.exhausted(failures):
                raise
            delay = backoff.delay(failures - 1)
            if on_retry is not None:
                on_retry(failures, exc, delay)
            await sleep(delay)
