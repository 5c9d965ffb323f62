"""Market-wide circuit breakers (MWCB) on a reference index, for the paper engine.

Why: under NYSE Rule 7.12 (and its twins at every US venue) a steep fall of the S&P 500
halts every stock; a paper account must not trade through one. The rules, as issue 11
states them:

- Decline from the prior day's close of the reference index (a configured symbol, e.g.
  "SPY" as a proxy: its quote midpoint is the index value): Level 1 at 7%, Level 2 at
  13%, Level 3 at 20% (a decline of exactly 7% is Level 1).
- Level 1 or 2 strictly before 15:25 New York: all trading halts for 15 minutes; at or
  after 15:25, no halt for them (the rule's text says "up to and including 3:25 p.m.";
  the issue draws the line at 15:25:00 and so do we). On an early-close day the cut-off
  is 35 minutes before the close (12:25 on a 13:00 close, as in the rule).
- Each of Levels 1 and 2 halts at most once a trading day; reaching Level 2 spends
  Level 1 too. Level 3 at any time: halted for the rest of the day (until midnight New
  York, so after-hours trading stays halted too).
- Only regular-session prices count, and not while a market-wide halt is on (every
  constituent is halted, so the index cannot move). The last regular-session price of a
  day becomes the next trading day's prior close unless one is set
  (``set_prior_close``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Final

from domain.clock import require_aware
from domain.market_hours import EXCHANGE_TZ
from domain.money import EXACT
from domain.risk.luld import HaltChange, SessionTimes, WallClockSession

__all__ = ["MWCB_HALT_ENDED", "MarketWideBreaker", "decline_level", "mwcb_reason"]

MWCB_HALT_ENDED: Final = "mwcb_halt_ended"
LEVELS: Final = ((3, Decimal(20)), (2, Decimal(13)), (1, Decimal(7)))
SHORT_HALT: Final = timedelta(minutes=15)
CUTOFF_BEFORE_CLOSE: Final = timedelta(minutes=35)  # 15:25 on a 16:00 close


def mwcb_reason(level: int) -> str:
    return f"mwcb_level_{level}"


def decline_level(prior_close: Decimal, price: Decimal) -> int:
    """0 to 3: the highest level whose decline ``price`` has reached."""
    for level, pct in LEVELS:
        remaining = EXACT.subtract(Decimal(100), pct)
        threshold = EXACT.divide(EXACT.multiply(prior_close, remaining), Decimal(100))
        if price <= threshold:
            return level
    return 0


def _day(at: datetime) -> date:
    return at.astimezone(EXCHANGE_TZ).date()


def _midnight_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=EXCHANGE_TZ).astimezone(UTC)


class MarketWideBreaker:
    """Watches the reference index; the halt it is in (``halt``) and what it has spent."""

    def __init__(self, index_symbol: str, session: SessionTimes | None = None) -> None:
        self.index_symbol = index_symbol
        self._session: SessionTimes = session or WallClockSession()
        self._prior: dict[date, Decimal] = {}
        self._last_close: tuple[date, Decimal] | None = None  # latest session price
        self._day: date | None = None
        self._spent: set[int] = set()  # levels that halted (or passed) on ``_day``
        self.halt: HaltChange | None = None  # the start of the latest halt
        self._halt_open = False
        self._now: datetime | None = None

    def set_prior_close(self, day: date, price: Decimal) -> None:
        self._prior[day] = price

    def prior_close(self, day: date) -> Decimal | None:
        return self._prior.get(day)

    def is_halted(self, now: datetime) -> bool:
        return self.halted_until(now) is not None

    def halted_until(self, now: datetime) -> datetime | None:
        halt = self.halt
        if halt is None or halt.until is None or not halt.at <= now < halt.until:
            return None
        return halt.until

    def on_clock(self, now: datetime) -> list[HaltChange]:
        return self._step(now)[1]

    def on_index_price(self, price: Decimal, at: datetime) -> list[HaltChange]:
        """One index value; returns the halt ending and/or starting at ``at``."""
        at, changes = self._step(at)
        day = _day(at)
        last = self._last_close
        if day not in self._prior and last is not None and last[0] < day:
            self._prior[day] = last[1]
        if not self._session.is_open(at):
            return changes
        self._last_close = (day, price)
        prior = self._prior.get(day)
        if prior is None or self.is_halted(at):
            return changes
        if day != self._day:
            self._day, self._spent = day, set()
        level = decline_level(prior, price)
        if level == 3:
            changes.append(self._start(3, at, _midnight_after(day), prior, price))
        elif level and level not in self._spent:
            self._spent.update(range(1, level + 1))
            close = self._session.session_close(at)
            if close is not None and at < close - CUTOFF_BEFORE_CLOSE:
                changes.append(self._start(level, at, at + SHORT_HALT, prior, price))
        return changes

    def _start(
        self, level: int, at: datetime, until: datetime, prior: Decimal, price: Decimal
    ) -> HaltChange:
        detail = f"index {self.index_symbol} at {price}, prior close {prior}"
        self.halt = HaltChange(None, True, at, until, mwcb_reason(level), detail)
        self._halt_open = True
        return self.halt

    def _step(self, at: datetime) -> tuple[datetime, list[HaltChange]]:
        at = require_aware("at", at)
        if self._now is not None and at < self._now:
            at = self._now
        self._now = at
        halt = self.halt
        if self._halt_open and halt is not None and halt.until is not None and at >= halt.until:
            self._halt_open = False
            return at, [HaltChange(None, False, halt.until, None, MWCB_HALT_ENDED)]
        return at, []
