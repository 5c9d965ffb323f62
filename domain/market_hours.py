"""NYSE market hours on top of exchange_calendars' XNYS calendar.

Why this wrapper exists:

- exchange_calendars reads a naive timestamp as UTC, so "09:30" meant as New York time
  silently reads as closed. Every method here refuses naive datetimes.
- Its calendar ends about a year after today unless built with an explicit range, and
  raises deep inside pandas past the end. We build once over an explicit range and fail
  closed with ``OutOfCalendarRange`` outside it.
- ``get_calendar`` costs 0.1-0.4 s and warns under pandas 3, and per-call lookups go
  through pandas. We build once (warnings suppressed) and copy the schedule into plain
  dicts and sorted lists, so ``is_open`` is a dict lookup and two comparisons.

Boundary semantics: every window is half open, ``[start, end)``. The regular session is
``[open, close)`` (09:30 is open, 16:00 is closed); pre-market is ``[04:00, open)``;
after-hours is ``[close, 20:00)`` on a normal day and ``[close, 17:00)`` New York time
on an early-close day (NYSE Arca ends late trading at 17:00 when the core session
closes at 13:00). Everything else is CLOSED, including weekends and holidays.

All results are aware UTC datetimes; New York wall time is used only internally.
"""

from __future__ import annotations

import warnings
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from domain.clock import require_aware
from domain.errors import OutOfCalendarRange, ValidationFailed

if TYPE_CHECKING:
    from domain.orders import Order

__all__ = [
    "EXCHANGE_TZ",
    "ClockReading",
    "MarketCalendar",
    "Session",
    "SessionPhase",
    "queued_until",
]

EXCHANGE = "XNYS"
EXCHANGE_TZ = ZoneInfo("America/New_York")

PRE_MARKET_START = time(4, 0)
REGULAR_CLOSE = time(16, 0)
AFTER_HOURS_END = time(20, 0)
EARLY_CLOSE_AFTER_HOURS_END = time(17, 0)

# Broker order-window rules for auction orders, as New York wall times on trading days.
# OPG (market/limit on open) orders are refused from 09:28 (the opening imbalance
# freeze) until 19:00, when orders for the next day's open are accepted again.
# CLS (on close) orders are refused from 15:50 (the closing imbalance cut-off) to 19:00.
# Deliberately plain wall times, not shifted on early-close days: on 2026-11-27 a CLS
# order at 14:00 New York is accepted and it is the broker's job to route it to the
# next closing auction. Revisit if the broker starts rejecting those.
OPG_REFUSED_FROM = time(9, 28)
CLS_REFUSED_FROM = time(15, 50)
AUCTION_ORDERS_REOPEN = time(19, 0)


class SessionPhase(StrEnum):
    """Where an instant falls in the exchange day."""

    PRE_MARKET = "pre_market"
    REGULAR = "regular"
    AFTER_HOURS = "after_hours"
    CLOSED = "closed"


class ClockReading(NamedTuple):
    """The market clock at one instant (``GET /v1/clock``, the gateway's market status)."""

    at: datetime
    phase: SessionPhase
    next_open: datetime
    next_close: datetime

    @property
    def is_open(self) -> bool:
        """Inside the regular session (extended hours count as closed, as at Alpaca)."""
        return self.phase is SessionPhase.REGULAR


class Session(NamedTuple):
    """One regular session, for the calendar endpoint. Times are aware UTC."""

    date: date
    open: datetime
    close: datetime


@dataclass(frozen=True, slots=True)
class _Day:
    """Pre-computed UTC bounds of one trading day, so lookups never touch pandas."""

    pre_open: datetime
    open: datetime
    close: datetime
    after_close: datetime
    early: bool


def _ny(day: date, wall: time) -> datetime:
    return datetime.combine(day, wall, tzinfo=EXCHANGE_TZ).astimezone(UTC)


def _load_schedule(start: date, end: date) -> list[tuple[date, datetime, datetime]]:
    """Read XNYS regular sessions from exchange_calendars (the only pandas call)."""
    # Imported here so merely importing this module stays cheap and warning-free.
    with warnings.catch_warnings():
        # pandas 3 deprecation warnings from inside exchange_calendars (FIELD-NOTES);
        # a warnings-as-errors test suite would otherwise fail on calendar creation.
        warnings.simplefilter("ignore")
        import exchange_calendars as xcals

        try:
            calendar = xcals.get_calendar(EXCHANGE, start=start.isoformat(), end=end.isoformat())
        except (ValueError, xcals.errors.CalendarError) as exc:
            raise OutOfCalendarRange(
                f"cannot build {EXCHANGE} calendar for {start}..{end}: {exc}"
            ) from exc
        schedule = calendar.schedule
        rows = zip(schedule.index, schedule["open"], schedule["close"], strict=True)
        return [
            (
                label.date(),
                opened.to_pydatetime().astimezone(UTC),
                closed.to_pydatetime().astimezone(UTC),
            )
            for label, opened, closed in rows
        ]


class MarketCalendar:
    """XNYS trading hours over a fixed ``[start, end]`` range of New York dates.

    Build one at startup and share it: construction reads the calendar once.
    """

    def __init__(self, start: date, end: date) -> None:
        if end < start:
            raise ValidationFailed("end", "not-before-start")
        self.start = start
        self.end = end
        self._days: dict[date, _Day] = {}
        for day, opened, closed in _load_schedule(start, end):
            early = closed.astimezone(EXCHANGE_TZ).time() < REGULAR_CLOSE
            after_end = EARLY_CLOSE_AFTER_HOURS_END if early else AFTER_HOURS_END
            self._days[day] = _Day(
                pre_open=_ny(day, PRE_MARKET_START),
                open=opened,
                close=closed,
                after_close=_ny(day, after_end),
                early=early,
            )
        ordered = sorted(self._days.items())
        self._dates = [day for day, _ in ordered]
        self._opens = [d.open for _, d in ordered]
        self._closes = [d.close for _, d in ordered]

    # -- helpers ---------------------------------------------------------------------

    def _local(self, at: datetime, field: str = "at") -> datetime:
        """``at`` in New York time, after the naive and range checks."""
        local = require_aware(field, at).astimezone(EXCHANGE_TZ)
        self._check_date(local.date(), field, at)
        return local

    def _check_date(self, day: date, field: str = "day", shown: object = None) -> None:
        if not self.start <= day <= self.end:
            raise OutOfCalendarRange(
                f"{field}={shown if shown is not None else day} is outside the market "
                f"calendar range {self.start}..{self.end} (New York dates); refusing to guess"
            )

    def _day_of(self, at: datetime) -> tuple[datetime, _Day | None]:
        local = self._local(at)
        return local, self._days.get(local.date())

    # -- the paper-engine port ---------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """True inside the regular session ``[open, close)``."""
        _, day = self._day_of(at)
        return day is not None and day.open <= at < day.close

    def is_extended(self, at: datetime) -> bool:
        """True in pre-market or after-hours only (not in the regular session)."""
        return self.session_phase(at) in (SessionPhase.PRE_MARKET, SessionPhase.AFTER_HOURS)

    def session_open(self, at: datetime) -> datetime | None:
        """Open of the regular session containing ``at``; None when it is not open."""
        _, day = self._day_of(at)
        if day is not None and day.open <= at < day.close:
            return day.open
        return None

    def session_close(self, at: datetime) -> datetime | None:
        """Close of the regular session containing ``at``; None when it is not open."""
        _, day = self._day_of(at)
        if day is not None and day.open <= at < day.close:
            return day.close
        return None

    def next_open(self, at: datetime) -> datetime:
        """First regular open strictly after ``at``."""
        self._local(at)
        i = bisect_right(self._opens, at)
        if i == len(self._opens):
            raise OutOfCalendarRange(f"no open after {at.isoformat()} before {self.end}")
        return self._opens[i]

    def next_close(self, at: datetime) -> datetime:
        """First regular close strictly after ``at``."""
        self._local(at)
        i = bisect_right(self._closes, at)
        if i == len(self._closes):
            raise OutOfCalendarRange(f"no close after {at.isoformat()} before {self.end}")
        return self._closes[i]

    def previous_close(self, at: datetime) -> datetime:
        """Latest regular close at or before ``at`` (16:00 itself counts as closed)."""
        self._local(at)
        i = bisect_right(self._closes, at) - 1
        if i < 0:
            raise OutOfCalendarRange(f"no close before {at.isoformat()} after {self.start}")
        return self._closes[i]

    def clock_at(self, at: datetime) -> ClockReading:
        """Phase, next open and next close at ``at`` (aware; fails closed out of range)."""
        at = require_aware("at", at)
        return ClockReading(at, self.session_phase(at), self.next_open(at), self.next_close(at))

    def release_at(self, at: datetime, *, extended_hours: bool = False) -> datetime:
        """When an order accepted at ``at``, while it could not trade, goes live: the next
        regular open, or that day's pre-market start for an extended-hours order."""
        opened = self.next_open(at)
        if not extended_hours:
            return opened
        pre_open = self._days[opened.astimezone(EXCHANGE_TZ).date()].pre_open
        return pre_open if pre_open > at else opened

    # -- phases ------------------------------------------------------------------------

    def session_phase(self, at: datetime) -> SessionPhase:
        _, day = self._day_of(at)
        if day is None or not day.pre_open <= at < day.after_close:
            return SessionPhase.CLOSED
        if at < day.open:
            return SessionPhase.PRE_MARKET
        if at < day.close:
            return SessionPhase.REGULAR
        return SessionPhase.AFTER_HOURS

    # -- days --------------------------------------------------------------------------

    def is_trading_day(self, day: date) -> bool:
        self._check_date(day)
        return day in self._days

    def early_close(self, day: date) -> datetime | None:
        """The close time when ``day`` closes before 16:00 New York, else None."""
        self._check_date(day)
        found = self._days.get(day)
        return found.close if found is not None and found.early else None

    def session_for(self, day: date) -> Session | None:
        """The regular session on ``day``, or None on weekends and holidays."""
        self._check_date(day)
        found = self._days.get(day)
        return Session(day, found.open, found.close) if found is not None else None

    def sessions(self, start: date, end: date) -> list[Session]:
        """Regular sessions with ``start <= date <= end``, oldest first."""
        self._check_date(start, "start")
        self._check_date(end, "end")
        lo = bisect_right(self._dates, start - timedelta(days=1))
        hi = bisect_right(self._dates, end)
        return [
            Session(day, self._opens[i], self._closes[i])
            for i, day in enumerate(self._dates[lo:hi], start=lo)
        ]

    # -- auction order windows ---------------------------------------------------------

    def opg_allowed(self, at: datetime) -> bool:
        """False on trading days from 09:28 to 19:00 New York (see OPG_REFUSED_FROM)."""
        return not self._in_refusal(at, OPG_REFUSED_FROM)

    def cls_allowed(self, at: datetime) -> bool:
        """False on trading days from 15:50 to 19:00 New York (see CLS_REFUSED_FROM)."""
        return not self._in_refusal(at, CLS_REFUSED_FROM)

    def _in_refusal(self, at: datetime, refused_from: time) -> bool:
        # On weekends and holidays no auction is pending, so nothing is refused: the
        # order simply waits for the next session's auction.
        local, day = self._day_of(at)
        if day is None:
            return False
        return refused_from <= local.time() < AUCTION_ORDERS_REOPEN


def queued_until(order: Order, calendar: MarketCalendar) -> datetime | None:
    """For an order accepted outside its trading hours and waiting (``accepted``), the
    instant it goes live, as the paper engine releases it; None for any other order.

    Orders outside regular hours are accepted and queued for the open, as Alpaca does;
    an extended-hours order (limit, day) is queued only until the next pre-market.
    """
    if order.status.value != "accepted":
        return None
    since = order.submitted_at or order.created_at
    return calendar.release_at(since, extended_hours=order.extended_hours)
