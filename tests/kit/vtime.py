"""Simulated time for many coroutines at once: ``sleep`` parks a coroutine until the test
advances the clock past its wake-up, so a reconnect storm spread over 15 s of simulated
time runs in well under a second and lands on exactly the instants the backoff drew."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self.now + max(0.0, delay), next(self._order), fut))
        await fut

    @property
    def sleeping(self) -> int:
        return len(self._heap)

    def advance(self) -> float:
        """Jump to the earliest wake-up and release every sleeper due then."""
        if not self._heap:
            return self.now
        self.now = self._heap[0][0]
        while self._heap and self._heap[0][0] <= self.now:
            _, _, fut = heapq.heappop(self._heap)
            if not fut.done():
                fut.set_result(None)
        return self.now
