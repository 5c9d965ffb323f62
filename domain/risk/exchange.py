"""The exchange's halt rules as one object the paper engine feeds: LULD per symbol
(``domain.risk.luld``) and the market-wide circuit breaker (``domain.risk.market_halt``).

Why one object: the engine asks one question per quote ("may this symbol trade now?")
and the risk actor wants one ordered stream of halts and resumptions (``take_changes``).

How they meet: the breaker sees every step first. While the market is halted the LULD
monitors see only the clock (their pauses still end); a market-wide halt starting or
ending restarts every monitor's reference, since trading resumes at a reopening price.
State lives in memory: after a restart the monitors rebuild from the next quotes and a
pause or halt in progress is forgotten (the prior close too, unless set again).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from domain.risk.luld import HaltChange, LuldMonitor, SessionTimes, Tier, WallClockSession, midpoint
from domain.risk.market_halt import MarketWideBreaker

__all__ = ["ExchangeHalts", "HaltChange"]


class ExchangeHalts:
    def __init__(
        self,
        tier1: frozenset[str] = frozenset(),
        index_symbol: str | None = None,
        *,
        session: SessionTimes | None = None,
    ) -> None:
        self.tier1 = frozenset(tier1)
        self.session: SessionTimes = session or WallClockSession()
        self.breaker = (
            None if index_symbol is None else MarketWideBreaker(index_symbol, self.session)
        )
        self.monitors: dict[str, LuldMonitor] = {}
        self._changes: list[HaltChange] = []

    def monitor(self, symbol: str) -> LuldMonitor:
        found = self.monitors.get(symbol)
        if found is None:
            tier = Tier.TIER_1 if symbol in self.tier1 else Tier.TIER_2
            found = self.monitors[symbol] = LuldMonitor(symbol, tier, self.session)
        return found

    def on_quote(self, symbol: str, bid: Decimal, ask: Decimal, at: datetime) -> bool:
        """Feed one quote; True when ``symbol`` is halted at ``at``."""
        index = self.breaker is not None and symbol == self.breaker.index_symbol
        self._market(at, midpoint(bid, ask) if index else None)
        monitor = self.monitor(symbol)
        if self.breaker is not None and self.breaker.is_halted(at):
            self._changes.extend(monitor.on_clock(at))
        else:
            self._changes.extend(monitor.on_quote(bid, ask, at))
        return self.is_halted(symbol, at)

    def on_clock(self, now: datetime) -> None:
        """Let time pass: pauses fire (a limit state held 15 s) and halts end."""
        self._market(now, None)
        for monitor in self.monitors.values():
            self._changes.extend(monitor.on_clock(now))

    def is_halted(self, symbol: str, now: datetime) -> bool:
        return self.halted_until(symbol, now) is not None

    def halted_until(self, symbol: str, now: datetime) -> datetime | None:
        """The latest end among the halts in force on ``symbol`` at ``now``."""
        ends = [self.breaker.halted_until(now)] if self.breaker is not None else []
        monitor = self.monitors.get(symbol)
        if monitor is not None:
            ends.append(monitor.halted_until(now))
        return max((end for end in ends if end is not None), default=None)

    def take_changes(self) -> list[HaltChange]:
        """Halts started and ended since the last call, oldest first."""
        changes, self._changes = self._changes, []
        return sorted(changes, key=lambda change: change.at)

    def _market(self, at: datetime, index_price: Decimal | None) -> None:
        if self.breaker is None:
            return
        changes = self.breaker.on_clock(at)
        if index_price is not None:
            changes += self.breaker.on_index_price(index_price, at)
        if changes:
            for monitor in self.monitors.values():
                monitor.restart()
        self._changes.extend(changes)
