"""Single-stock Limit Up-Limit Down (LULD) bands and trading pauses for the paper engine.

Why: issue 11 asks the paper engine to behave like a US venue under the LULD plan, so a
strategy tried on paper meets the pauses it would meet live. The rules, as the issue
states them (a simplification of the plan; what differs is said where it differs):

- Reference price (plan, "Reference Price"): the arithmetic mean of the trade prices of
  the immediately preceding 5 minutes, a trade exactly 5 minutes old included. The paper
  engine has quotes, not trades, so each quote's midpoint is taken as a trade, held
  inside the bands in force (the plan lets nothing trade outside them); a quote in the
  limit state is not sampled, so the reference cannot chase the price out of the limit
  state. No trade in the last 5 minutes: the reference stays. It is recomputed at every
  trade (the plan publishes a new one only when it moves by 1% or more; the issue does
  not ask for that). The first price of a session, and the first after a pause (the
  plan's reopening price), is a new reference.
- Percentage parameters (plan, Appendix A): Tier 1 5% and Tier 2 10% above $3.00; both
  20% from $0.75 to $3.00; below $0.75 the lesser of $0.15 or 75%.
- Doubled in the first 15 minutes and the last 25 minutes of the regular session, for all
  tiers and prices (the issue's simplification; the plan doubles fewer). Session times
  come from a ``SessionTimes`` (``domain.market_hours.MarketCalendar``), so an early
  close doubles from 12:35; without one, plain 09:30-16:00 New York on weekdays.
- Bands: reference -/+ amount, each rounded to the nearest cent, half up (the plan rounds
  to the nearest penny); a lower band is never below 0.
- Limit state: best offer at or below the lower band, or best bid at or above the upper
  band. Held for 15 seconds (a step 15 s after entering still finds it, or no exit came
  before): a 5-minute trading pause from entry + 15 s. Exited sooner: nothing.
- Only in the regular session: outside it no bands apply and a new session restarts the
  reference. Decimal arithmetic throughout; times are aware and never go backwards (a
  late-stamped input counts as seen at the latest time the monitor has seen).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import IntEnum
from typing import Final, Protocol

from domain.clock import require_aware
from domain.market_hours import EXCHANGE_TZ
from domain.money import EXACT

__all__ = [
    "LULD_PAUSE",
    "LULD_PAUSE_ENDED",
    "Bands",
    "HaltChange",
    "LuldMonitor",
    "SessionTimes",
    "Tier",
    "WallClockSession",
    "band_amount",
    "band_pct",
    "bands",
    "is_doubling_window",
    "midpoint",
]

LULD_PAUSE: Final = "luld_pause"
LULD_PAUSE_ENDED: Final = "luld_pause_ended"
REFERENCE_WINDOW: Final = timedelta(minutes=5)
LIMIT_STATE_HOLD: Final = timedelta(seconds=15)
PAUSE: Final = timedelta(minutes=5)
OPENING_DOUBLED: Final = timedelta(minutes=15)
CLOSING_DOUBLED: Final = timedelta(minutes=25)
_CENT: Final = Decimal("0.01")
_THREE: Final = Decimal("3.00")
_LOW: Final = Decimal("0.75")
_LOW_CAP: Final = Decimal("0.15")


@dataclass(frozen=True)
class HaltChange:
    """A halt starting (``halted``, with ``until``) or ending; ``symbol`` None is the
    whole market. ``reason`` is a stable slug (``luld_pause``, ``mwcb_level_1``...)."""

    symbol: str | None
    halted: bool
    at: datetime
    until: datetime | None
    reason: str
    detail: str = ""


class SessionTimes(Protocol):
    """The regular-session questions the halt rules ask (``MarketCalendar`` answers)."""

    def is_open(self, at: datetime) -> bool: ...

    def session_open(self, at: datetime) -> datetime | None: ...

    def session_close(self, at: datetime) -> datetime | None: ...


class WallClockSession:
    """09:30-16:00 New York on weekdays: a fallback that knows no holidays or early closes."""

    def _bounds(self, at: datetime) -> tuple[datetime, datetime] | None:
        local = require_aware("at", at).astimezone(EXCHANGE_TZ)
        day = local.date()
        opened = datetime.combine(day, time(9, 30), tzinfo=EXCHANGE_TZ)
        closed = datetime.combine(day, time(16, 0), tzinfo=EXCHANGE_TZ)
        if day.weekday() >= 5 or not opened <= local < closed:
            return None
        return opened.astimezone(UTC), closed.astimezone(UTC)

    def is_open(self, at: datetime) -> bool:
        return self._bounds(at) is not None

    def session_open(self, at: datetime) -> datetime | None:
        bounds = self._bounds(at)
        return None if bounds is None else bounds[0]

    def session_close(self, at: datetime) -> datetime | None:
        bounds = self._bounds(at)
        return None if bounds is None else bounds[1]


class Tier(IntEnum):
    """Tier 1: the configured set (S&P 500, Russell 1000, some ETPs); Tier 2: the rest."""

    TIER_1 = 1
    TIER_2 = 2


def band_pct(tier: Tier, reference: Decimal) -> Decimal | None:
    """The percentage parameter; None below $0.75, where the band is an amount."""
    if reference > _THREE:
        return Decimal(5) if tier is Tier.TIER_1 else Decimal(10)
    if reference >= _LOW:
        return Decimal(20)
    return None


def band_amount(tier: Tier, reference: Decimal, *, doubled: bool = False) -> Decimal:
    """The distance from the reference to each band, before rounding."""
    pct = band_pct(tier, reference)
    if pct is None:
        amount = min(_LOW_CAP, EXACT.multiply(reference, Decimal("0.75")))
    else:
        amount = EXACT.divide(EXACT.multiply(reference, pct), Decimal(100))
    return EXACT.multiply(amount, Decimal(2)) if doubled else amount


@dataclass(frozen=True)
class Bands:
    lower: Decimal
    upper: Decimal

    def limit_state(self, bid: Decimal, ask: Decimal) -> bool:
        """Offer at or below the lower band, or bid at or above the upper (0: no side)."""
        return (0 < ask <= self.lower) or (bid > 0 and bid >= self.upper)

    def clamp(self, price: Decimal) -> Decimal:
        return min(max(price, self.lower), self.upper)


def bands(tier: Tier, reference: Decimal, *, doubled: bool = False) -> Bands:
    amount = band_amount(tier, reference, doubled=doubled)
    lower = EXACT.subtract(reference, amount).quantize(_CENT, ROUND_HALF_UP, context=EXACT)
    upper = EXACT.add(reference, amount).quantize(_CENT, ROUND_HALF_UP, context=EXACT)
    return Bands(max(lower, Decimal("0.00")), upper)


def is_doubling_window(now: datetime, session_open: datetime, session_close: datetime) -> bool:
    """First 15 minutes ``[open, open + 15m)`` or last 25 ``[close - 25m, close)``."""
    return (
        session_open <= now < session_open + OPENING_DOUBLED
        or session_close - CLOSING_DOUBLED <= now < session_close
    )


def midpoint(bid: Decimal, ask: Decimal) -> Decimal | None:
    """The price the paper engine takes as a trade; None with a side missing."""
    if bid <= 0 or ask <= 0:
        return None
    return EXACT.divide(EXACT.add(bid, ask), Decimal(2))


class LuldMonitor:
    """One symbol's reference, limit state and pause (see the module docstring)."""

    def __init__(self, symbol: str, tier: Tier, session: SessionTimes | None = None) -> None:
        self.symbol = symbol
        self.tier = tier
        self._session: SessionTimes = session or WallClockSession()
        self._samples: deque[tuple[datetime, Decimal]] = deque()
        self._sum = Decimal(0)
        self._reference: Decimal | None = None
        self._opened: datetime | None = None  # open of the session the state belongs to
        self._now: datetime | None = None
        self.limit_since: datetime | None = None
        self._limit_band = ""
        self.pause: tuple[datetime, datetime] | None = None  # the latest (start, until)
        self._pause_open = False  # its end is not reported yet

    @property
    def reference(self) -> Decimal | None:
        return self._reference

    def is_halted(self, now: datetime) -> bool:
        return self.pause is not None and self.pause[0] <= now < self.pause[1]

    def halted_until(self, now: datetime) -> datetime | None:
        return self.pause[1] if self.pause is not None and self.is_halted(now) else None

    def bands_at(self, at: datetime) -> Bands | None:
        """The bands in force at ``at`` (None outside the session or without a reference);
        like every input it moves the monitor to ``at``."""
        at = self._step(at)[0]
        return self._bands(at)

    def on_clock(self, now: datetime) -> list[HaltChange]:
        return self._step(now)[1]

    def on_price(self, price: Decimal, at: datetime) -> list[HaltChange]:
        """A trade price: sampled into the reference when the symbol may trade."""
        at, changes = self._step(at)
        if self._opened is not None and not self.is_halted(at):
            self._sample(at, price)
        return changes

    def on_quote(self, bid: Decimal, ask: Decimal, at: datetime) -> list[HaltChange]:
        at, changes = self._step(at)
        if self._opened is None or self.is_halted(at):
            return changes
        mid = midpoint(bid, ask)
        limits = self._bands(at)
        if limits is not None and limits.limit_state(bid, ask):
            if self.limit_since is None:
                self.limit_since = at
                upper = bid > 0 and bid >= limits.upper
                band = f"upper band {limits.upper}" if upper else f"lower band {limits.lower}"
                self._limit_band = band
            return changes
        self.limit_since = None
        if mid is not None:
            self._sample(at, mid if limits is None else limits.clamp(mid))
        return changes

    def restart(self) -> None:
        """Forget the reference and any limit state (a new session, a reopening)."""
        self._samples.clear()
        self._sum = Decimal(0)
        self._reference = None
        self.limit_since = None

    # -- internals ---------------------------------------------------------------------
    def _step(self, at: datetime) -> tuple[datetime, list[HaltChange]]:
        """Move to ``at``: fire a limit state held 15 s, end a pause, follow the session."""
        at = require_aware("at", at)
        if self._now is not None and at < self._now:
            at = self._now
        self._now = at
        changes: list[HaltChange] = []
        since = self.limit_since
        if since is not None and at >= since + LIMIT_STATE_HOLD:
            start = since + LIMIT_STATE_HOLD
            self.restart()  # the reference restarts from prices after the pause
            if self._session.session_open(start) == self._opened:
                self.pause, self._pause_open = (start, start + PAUSE), True
                detail = f"limit state at the {self._limit_band} held 15 s"
                changes.append(
                    HaltChange(self.symbol, True, start, start + PAUSE, LULD_PAUSE, detail)
                )
        if self._pause_open and self.pause is not None and at >= self.pause[1]:
            self._pause_open = False
            changes.append(HaltChange(self.symbol, False, self.pause[1], None, LULD_PAUSE_ENDED))
        opened = self._session.session_open(at)
        if opened != self._opened:
            self.restart()
            self._opened = opened
        self._prune(at)
        return at, changes

    def _bands(self, at: datetime) -> Bands | None:
        reference, opened = self._reference, self._opened
        close = self._session.session_close(at)
        if reference is None or opened is None or close is None:
            return None
        return bands(self.tier, reference, doubled=is_doubling_window(at, opened, close))

    def _sample(self, at: datetime, price: Decimal) -> None:
        self._samples.append((at, price))
        self._sum = EXACT.add(self._sum, price)
        self._reference = EXACT.divide(self._sum, Decimal(len(self._samples)))

    def _prune(self, at: datetime) -> None:
        """Drop trades more than 5 minutes old; with none left the reference stays."""
        dropped = False
        while self._samples and self._samples[0][0] < at - REFERENCE_WINDOW:
            self._sum = EXACT.subtract(self._sum, self._samples.popleft()[1])
            dropped = True
        if dropped and self._samples:
            self._reference = EXACT.divide(self._sum, Decimal(len(self._samples)))
