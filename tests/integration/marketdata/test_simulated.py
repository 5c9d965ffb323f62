"""The simulated provider: deterministic, market-hours aware, clean start/stop."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from cluster.marketdata import ProviderState, make_provider
from cluster.marketdata.simulated import SimulatedProvider
from domain.clock import FakeClock
from domain.errors import OutOfCalendarRange, ValidationFailed
from domain.marketdata import MarketEvent, Quote, Trade

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class SteppingClock(FakeClock):
    """Each reading is one tick later than the last: the simulated time axis is fixed."""

    def __init__(self, start: datetime, step: timedelta = timedelta(seconds=1)) -> None:
        super().__init__(start)
        self._step = step

    def now(self) -> datetime:
        at = super().now()
        self.advance(self._step)
        return at


async def take(
    stream: AsyncIterator[MarketEvent], n: int, within: float = 2.0
) -> list[MarketEvent]:
    out: list[MarketEvent] = []
    async with asyncio.timeout(within):
        while len(out) < n:
            out.append(await anext(stream))
    return out


def simulated(**deps: object) -> SimulatedProvider:
    provider = make_provider("simulated", **{"interval_s": 0.001, **deps})
    assert isinstance(provider, SimulatedProvider)
    return provider


async def run_once(seed: int, n: int = 60) -> list[MarketEvent]:
    provider = simulated(seed=seed, clock=SteppingClock(START), always_open=True)
    await provider.subscribe(["AAPL", "MSFT"])
    await provider.start()
    try:
        return await take(provider.events(), n)
    finally:
        await provider.stop()


def without_received_ts(events: list[MarketEvent]) -> list[MarketEvent]:
    return [dataclasses.replace(e, received_ts=START) for e in events]


async def test_same_seed_produces_identical_events_across_runs() -> None:
    first, second = await run_once(seed=7), await run_once(seed=7)
    other = await run_once(seed=8)

    assert without_received_ts(first) == without_received_ts(second)
    assert without_received_ts(first) != without_received_ts(other)
    assert {type(e) for e in first} == {Quote, Trade}
    assert {e.provider for e in first} == {"simulated"}


async def test_seq_is_per_symbol_and_gapless() -> None:
    events = await run_once(seed=1)
    for symbol in ("AAPL", "MSFT"):
        seqs = [e.seq for e in events if e.symbol == symbol]
        assert seqs == list(range(1, len(seqs) + 1))


async def test_when_market_closed_then_no_events_until_it_opens() -> None:
    clock = FakeClock(START)
    opens_at = START + timedelta(seconds=5)
    provider = simulated(clock=clock, is_open=lambda at: at >= opens_at)
    await provider.subscribe(["AAPL"])

    for _ in range(5):
        assert await provider.tick(clock.now()) == 0
        clock.advance(timedelta(seconds=1))
    assert provider.steps == 0 and await provider.snapshot(["AAPL"]) == {}

    await provider.start()  # the ticker reads the clock, now at the opening instant
    try:
        (event,) = await take(provider.events(), 1)
    finally:
        await provider.stop()
    assert isinstance(event, Quote) and event.symbol == "AAPL"
    assert event.exchange_ts == opens_at
    assert (await provider.snapshot(["AAPL"]))["AAPL"].quote is not None


async def test_when_calendar_raises_then_fails_closed_and_reports_once() -> None:
    errors: list[Exception] = []

    def out_of_range(at: datetime) -> bool:
        raise OutOfCalendarRange(f"{at} outside calendar")

    provider = simulated(clock=SteppingClock(START), is_open=out_of_range, on_error=errors.append)
    await provider.subscribe(["AAPL"])
    for _ in range(3):
        assert await provider.tick(START) == 0
    assert len(errors) == 1 and isinstance(errors[0], OutOfCalendarRange)


async def test_stop_is_idempotent_and_ends_the_stream() -> None:
    provider = simulated(clock=SteppingClock(START), always_open=True)
    tasks = len(asyncio.all_tasks())
    await provider.subscribe(["AAPL"])
    await provider.start()
    stream = provider.events()
    await take(stream, 2)
    await provider.stop()
    await provider.stop()

    assert provider.state is ProviderState.STOPPED
    assert len(asyncio.all_tasks()) == tasks
    async with asyncio.timeout(1):
        rest = [e async for e in stream]  # drains what was queued, then ends
    assert all(isinstance(e, Quote | Trade) for e in rest)


async def test_without_market_hours_or_always_open_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        make_provider("simulated")
