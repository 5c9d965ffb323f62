"""Exponential backoff with full jitter, capped, and a bounded number of attempts.

One implementation for every edge that retries (Redis, broker REST, upstream market-data
sockets), so the policy is tuned in one place. "Full jitter" (AWS architecture blog): the
delay before attempt ``n`` is uniform in ``[0, min(cap, base * 2**n)]``, which spreads
reconnect storms better than equal or decorrelated jitter.
"""

from __future__ import annotations

import asyncio
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
    max_attempts: int = 5

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number ``attempt`` (0-based), full jitter."""
        ceiling = min(self.cap_s, self.base_s * (2**attempt))
        return (rng or random).uniform(0.0, ceiling)


def retry_sync(
    fn: Callable[[], T],
    *,
    backoff: Backoff,
    retry_on: tuple[type[BaseException], ...],
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` until it succeeds or ``backoff.max_attempts`` calls failed."""
    attempt = 0
    while True:
        try:
            return fn()
        except retry_on as exc:
            attempt += 1
            if attempt >= backoff.max_attempts:
                raise
            delay = backoff.delay(attempt - 1)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    retry_on: tuple[type[BaseException], ...],
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    attempt = 0
    while True:
        try:
            return await fn()
        except retry_on as exc:
            attempt += 1
            if attempt >= backoff.max_attempts:
                raise
            delay = backoff.delay(attempt - 1)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            await asyncio.sleep(delay)
