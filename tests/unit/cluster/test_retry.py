"""Backoff: capped full jitter that never overflows, bounded or forever."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from cluster.retry import Backoff, retry_async, retry_sync
from domain.clock import FakeClock

CAP = 5.0
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Outage(Exception):
    pass


class CommandError(Outage):
    """A subclass of a retried error that must not be retried."""


class FailingThen:
    """Fails ``n`` times, then answers; counts the calls."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.n:
            raise Outage(f"down ({self.calls})")
        return "up"


@pytest.mark.parametrize("attempt", [0, 1, 5, 6, 7, 63, 64, 1023, 1024, 1025, 10**6, 10**30])
def test_ceiling_when_any_attempt_then_capped_without_overflow(attempt: int) -> None:
    backoff = Backoff(base_s=0.1, cap_s=CAP, max_attempts=None)
    ceiling = backoff.ceiling(attempt)
    assert 0 < ceiling <= CAP
    assert 0.0 <= backoff.delay(attempt, random.Random(attempt)) <= ceiling


def test_ceiling_doubles_from_base_until_cap() -> None:
    backoff = Backoff(base_s=0.1, cap_s=CAP)
    assert [backoff.ceiling(n) for n in range(8)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, CAP, CAP]
    )


def test_retry_forever_when_5000_failures_on_fake_clock_then_delays_capped_and_still_going() -> (
    None
):
    """Acceptance (issue 8): 5,000 attempts; every delay in [0, cap]; no exception."""
    clock = FakeClock(T0)
    delays: list[float] = []

    def sleep(s: float) -> None:
        delays.append(s)
        clock.advance(timedelta(seconds=s))

    fn = FailingThen(5_000)
    backoff = Backoff(base_s=0.1, cap_s=CAP, max_attempts=None)
    assert retry_sync(fn, backoff=backoff, retry_on=(Outage,), sleep=sleep) == "up"
    assert fn.calls == 5_001 and len(delays) == 5_000
    assert all(0.0 <= d <= CAP for d in delays)
    late = delays[100:]
    assert sum(late) / len(late) > CAP / 4  # full jitter up to the cap, not stuck near 0
    assert clock.now() - T0 > timedelta(hours=2)  # past the hour where 2**1024 used to die


async def test_retry_async_forever_when_5000_failures_then_capped_and_cancellable() -> None:
    delays: list[float] = []
    reached = asyncio.Event()

    async def sleep(s: float) -> None:
        delays.append(s)

    async def fn() -> str:
        if len(delays) < 5_000:
            raise Outage("down")
        reached.set()
        await asyncio.Event().wait()  # still going: only cancellation ends a forever loop
        return "unreachable"

    backoff = Backoff(base_s=0.1, cap_s=CAP, max_attempts=None)
    task = asyncio.create_task(retry_async(fn, backoff=backoff, retry_on=(Outage,), sleep=sleep))
    await asyncio.wait_for(reached.wait(), 10)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(delays) == 5_000 and all(0.0 <= d <= CAP for d in delays)


def test_retry_when_bounded_then_raises_after_max_attempts() -> None:
    fn, delays = FailingThen(10), list[float]()
    with pytest.raises(Outage, match=r"down \(3\)"):
        retry_sync(fn, backoff=Backoff(max_attempts=3), retry_on=(Outage,), sleep=delays.append)
    assert fn.calls == 3 and len(delays) == 2


def test_retry_when_never_retry_error_then_raised_at_once() -> None:
    calls, delays = 0, list[float]()

    def fn() -> None:
        nonlocal calls
        calls += 1
        raise CommandError("wrong number of arguments")

    with pytest.raises(CommandError):
        retry_sync(
            fn,
            backoff=Backoff(max_attempts=None),
            retry_on=(Outage,),
            never_retry=(CommandError,),
            sleep=delays.append,
        )
    assert calls == 1 and delays == []


def test_exhausted_when_forever_then_never() -> None:
    assert not Backoff(max_attempts=None).exhausted(10**9)
    assert Backoff(max_attempts=None).forever
    assert Backoff(max_attempts=3).exhausted(3) and not Backoff(max_attempts=3).exhausted(2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_s": 0.0},
        {"base_s": -1.0},
        {"base_s": 2.0, "cap_s": 1.0},
        {"cap_s": float("inf")},
        {"max_attempts": 0},
    ],
)
def test_backoff_when_invalid_then_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_ceiling_when_negative_attempt_then_refused() -> None:
    with pytest.raises(ValueError):
        Backoff().ceiling(-1)
