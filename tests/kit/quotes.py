"""A scripted quote driver for the paper broker actor, and a quote lookup for the service.

Time is scripted, never slept: each ``step(at, ...)`` sets the test's clock, pins the
actor's clock to the same instant (``set_clock``, test env only), records the quotes as
the latest ones the service sees, and hands them to the actor. Quotes are stamped
``LAG`` before ``at`` unless given their own time, as a feed's would be.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.clock import FakeClock
from domain.marketdata import Quote

LAG = timedelta(milliseconds=1)
TIMEOUT_S = 30.0


def quote(
    symbol: str,
    bid: str | Decimal,
    ask: str | Decimal,
    *,
    at: datetime,
    bid_size: int = 100,
    ask_size: int = 100,
) -> Quote:
    return Quote(
        symbol=symbol,
        bid_price=Decimal(str(bid)),
        bid_size=bid_size,
        ask_price=Decimal(str(ask)),
        ask_size=ask_size,
        exchange_ts=at.astimezone(UTC),
        received_ts=at.astimezone(UTC),
        provider="script",
    )


class ScriptedQuotes:
    """``QuoteLookup`` for the service: the latest scripted quote per symbol."""

    def __init__(self) -> None:
        self.latest: dict[str, Quote] = {}

    def set(self, q: Quote) -> None:
        self.latest[q.symbol] = q

    def latest_quote(self, symbol: str) -> Quote | None:
        return self.latest.get(symbol)


async def call(ref: Any, timeout_s: float = TIMEOUT_S) -> Any:
    """Await a Ray call with a bound."""
    return await asyncio.wait_for(ref, timeout_s)


class QuoteDriver:
    """Drives one paper broker actor through scripted time and quotes."""

    def __init__(self, actor: Any, clock: FakeClock, quotes: ScriptedQuotes) -> None:
        self.actor = actor
        self.clock = clock
        self.quotes = quotes

    async def at(self, now: datetime) -> None:
        """Move both clocks to ``now`` (nothing else happens)."""
        self.clock.set(now)
        await call(self.actor.set_clock.remote(now.isoformat()))

    def book(
        self, symbol: str, bid: str, ask: str, bid_size: int = 100, ask_size: int = 100
    ) -> Quote:
        """A quote at the current time minus ``LAG``, also recorded for the service."""
        q = quote(
            symbol,
            bid,
            ask,
            at=self.clock.now() - LAG,
            bid_size=bid_size,
            ask_size=ask_size,
        )
        self.quotes.set(q)
        return q

    async def step(self, now: datetime, *quotes: tuple[Any, ...]) -> dict[str, int]:
        """At ``now``, deliver quotes given as ``(symbol, bid, ask[, bid_size, ask_size])``."""
        await self.at(now)
        built = [
            self.book(*q[:3], **dict(zip(("bid_size", "ask_size"), q[3:], strict=False)))
            for q in quotes
        ]
        return await self.send(built)

    async def send(self, quotes: list[Quote]) -> dict[str, int]:
        result: dict[str, int] = await call(
            self.actor.on_quotes.remote([q.to_wire() for q in quotes])
        )
        return result

    async def tick(self, now: datetime) -> dict[str, int]:
        await self.at(now)
        result: dict[str, int] = await call(self.actor.tick.remote())
        return result
