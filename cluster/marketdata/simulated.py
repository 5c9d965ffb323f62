"""A provider backed by the seeded GBM simulator, for development, demos and load tests.

Every ``interval_s`` it reads the injected clock and, if the market is open at that
instant (``is_open(at)``, or always with ``always_open=True``), steps one simulator
round for the subscribed symbols. Each symbol runs its own ``GbmSimulator`` (the
simulator seeds per symbol anyway), so a symbol may be subscribed at any time without
changing any other symbol's path: for a given seed, clock readings and subscriptions, the
events (ignoring ``received_ts``) are identical run after run. ``seq`` is per symbol.

An ``is_open`` that raises (an instant outside the calendar) counts as closed: we fail
closed, and report the error once per closed spell.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime

from cluster.marketdata.provider import BaseProvider, ErrorHook, ProviderState, Snapshot
from domain.clock import Clock
from domain.errors import ValidationFailed
from domain.simulation import GbmParams, GbmSimulator

__all__ = ["SimulatedProvider"]


class SimulatedProvider(BaseProvider):
    def __init__(
        self,
        *,
        seed: int = 0,
        params: GbmParams | None = None,
        interval_s: float = 1.0,
        clock: Clock | None = None,
        is_open: Callable[[datetime], bool] | None = None,
        always_open: bool = False,
        on_error: ErrorHook | None = None,
        queue_size: int = 10_000,
        name: str = "simulated",
    ) -> None:
        super().__init__(name=name, clock=clock, on_error=on_error, queue_size=queue_size)
        if interval_s <= 0:
            raise ValidationFailed("interval_s", "positive")
        if is_open is None and not always_open:
            raise ValidationFailed("is_open", "required-unless-always-open")
        self._seed = seed
        self._params = params or GbmParams()
        self._interval_s = interval_s
        self._is_open = is_open
        self._always_open = always_open
        self._sims: dict[str, GbmSimulator] = {}
        self._task: asyncio.Task[None] | None = None
        self._open_failed = False
        #: Ticks attempted and ticks that produced events (the market was open).
        self.ticks = 0
        self.steps = 0

    async def start(self) -> None:
        if not self._begin_start():
            return
        self._transition(ProviderState.RUNNING)
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-ticker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await self._finish_stop(task)

    async def subscribe(self, symbols: Iterable[str]) -> None:
        wanted = list(symbols)
        if "*" in wanted:
            raise ValidationFailed("symbols", "wildcard-unsupported-by-simulator")
        for symbol in self._add_symbols(wanted):
            if symbol not in self._sims:
                self._sims[symbol] = GbmSimulator([symbol], self._seed, self._params)

    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        # The simulator is kept: a re-subscribed symbol continues its path.
        self._remove_symbols(symbols)

    async def snapshot(self, symbols: Iterable[str]) -> dict[str, Snapshot]:
        return self._latest_snapshot(symbols)

    def market_open(self, at: datetime) -> bool:
        if self._always_open or self._is_open is None:
            return True
        try:
            is_open = self._is_open(at)
        except Exception as exc:
            if not self._open_failed:
                self._report(exc)
            self._open_failed = True
            return False
        self._open_failed = False
        return is_open

    async def tick(self, at: datetime) -> int:
        """One round at ``at`` if the market is open; returns the events emitted."""
        self.ticks += 1
        if not self.market_open(at):
            return 0
        self.steps += 1
        emitted = 0
        for symbol in sorted(self._symbols):
            for event in self._sims[symbol].step(at):
                stamped = dataclasses.replace(
                    event, received_ts=at, provider=self.name, seq=self._next_seq(symbol)
                )
                await self._emit(stamped)
                emitted += 1
        return emitted

    async def _run(self) -> None:
        while True:
            await self.tick(self._clock.now())
            await asyncio.sleep(self._interval_s)
