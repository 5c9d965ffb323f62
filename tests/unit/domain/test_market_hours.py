from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.errors import OutOfCalendarRange, ValidationFailed
from domain.market_hours import MarketCalendar, Session, SessionPhase

NY = ZoneInfo("America/New_York")


def ny(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=NY)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


@pytest.fixture(scope="module")
def cal() -> MarketCalendar:
    return MarketCalendar(date(2026, 1, 1), date(2026, 12, 31))


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 11, 26),  # Thanksgiving
        date(2026, 12, 25),  # Christmas
        date(2026, 4, 3),  # Good Friday
        date(2026, 6, 19),  # Juneteenth
        date(2026, 1, 1),  # New Year
    ],
)
def test_holiday_when_midday_then_closed_and_not_trading_day(
    cal: MarketCalendar, day: date
) -> None:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=NY)
    assert not cal.is_open(noon)
    assert cal.session_phase(noon) is SessionPhase.CLOSED
    assert not cal.is_trading_day(day)
    assert cal.session_open(noon) is None
    assert cal.session_close(noon) is None


def test_weekend_is_closed(cal: MarketCalendar) -> None:
    assert not cal.is_open(ny(2026, 3, 7, 12))
    assert cal.session_phase(ny(2026, 3, 7, 5)) is SessionPhase.CLOSED


@pytest.mark.parametrize("day", [date(2026, 11, 27), date(2026, 12, 24)])
def test_early_close_when_1259_then_open_and_when_1300_then_after_hours(
    cal: MarketCalendar, day: date
) -> None:
    y, m, d = day.year, day.month, day.day
    assert cal.is_open(ny(y, m, d, 12, 59))
    assert not cal.is_open(ny(y, m, d, 13, 0))
    assert cal.early_close(day) == ny(y, m, d, 13).astimezone(UTC)
    assert cal.session_close(ny(y, m, d, 10)) == ny(y, m, d, 13)
    assert cal.session_phase(ny(y, m, d, 13)) is SessionPhase.AFTER_HOURS
    assert cal.session_phase(ny(y, m, d, 16, 59)) is SessionPhase.AFTER_HOURS
    assert cal.session_phase(ny(y, m, d, 17)) is SessionPhase.CLOSED


def test_early_close_when_normal_day_then_none(cal: MarketCalendar) -> None:
    assert cal.early_close(date(2026, 11, 25)) is None
    assert cal.early_close(date(2026, 11, 26)) is None  # holiday, not an early close


@pytest.mark.parametrize(
    ("before", "after", "utc_before", "utc_after"),
    [
        (date(2026, 3, 6), date(2026, 3, 9), 14, 13),  # EST -> EDT on 2026-03-08
        (date(2026, 10, 30), date(2026, 11, 2), 13, 14),  # EDT -> EST on 2026-11-01
    ],
)
def test_dst_switch_moves_the_utc_open(
    cal: MarketCalendar, before: date, after: date, utc_before: int, utc_after: int
) -> None:
    open_before = cal.session_for(before)
    open_after = cal.session_for(after)
    assert open_before is not None and open_after is not None
    assert open_before.open == utc(before.year, before.month, before.day, utc_before, 30)
    assert open_after.open == utc(after.year, after.month, after.day, utc_after, 30)
    assert cal.is_open(utc(after.year, after.month, after.day, utc_after, 30))
    assert not cal.is_open(utc(after.year, after.month, after.day, utc_after, 29))


@pytest.mark.parametrize(
    ("hour", "minute", "phase"),
    [
        (3, 59, SessionPhase.CLOSED),
        (4, 0, SessionPhase.PRE_MARKET),
        (9, 29, SessionPhase.PRE_MARKET),
        (9, 30, SessionPhase.REGULAR),
        (15, 59, SessionPhase.REGULAR),
        (16, 0, SessionPhase.AFTER_HOURS),
        (19, 59, SessionPhase.AFTER_HOURS),
        (20, 0, SessionPhase.CLOSED),
    ],
)
def test_phase_boundaries_are_half_open(
    cal: MarketCalendar, hour: int, minute: int, phase: SessionPhase
) -> None:
    at = ny(2026, 3, 10, hour, minute)
    assert cal.session_phase(at) is phase
    assert cal.is_open(at) is (phase is SessionPhase.REGULAR)
    assert cal.is_extended(at) is (phase in (SessionPhase.PRE_MARKET, SessionPhase.AFTER_HOURS))


def test_session_open_and_close_when_open_then_utc(cal: MarketCalendar) -> None:
    at = ny(2026, 3, 10, 11)
    assert cal.session_open(at) == utc(2026, 3, 10, 13, 30)
    assert cal.session_close(at) == utc(2026, 3, 10, 20, 0)
    assert cal.session_close(at).tzinfo is UTC  # type: ignore[union-attr]
    assert cal.session_close(ny(2026, 3, 10, 16)) is None


def test_next_open_over_weekend_and_holiday(cal: MarketCalendar) -> None:
    # Thursday 2026-04-02 after the close; Good Friday, then the weekend.
    assert cal.next_open(ny(2026, 4, 2, 16)) == ny(2026, 4, 6, 9, 30)
    # Wednesday before Thanksgiving; Thursday closed; Friday opens as usual.
    assert cal.next_open(ny(2026, 11, 25, 17)) == ny(2026, 11, 27, 9, 30)
    assert cal.next_open(ny(2026, 11, 25, 17)).tzinfo is UTC
    # Exactly at the open, the next open is tomorrow's.
    assert cal.next_open(ny(2026, 3, 10, 9, 30)) == ny(2026, 3, 11, 9, 30)


def test_next_and_previous_close(cal: MarketCalendar) -> None:
    assert cal.next_close(ny(2026, 11, 27, 9)) == ny(2026, 11, 27, 13)
    assert cal.previous_close(ny(2026, 11, 30, 8)) == ny(2026, 11, 27, 13)
    assert cal.previous_close(ny(2026, 3, 10, 16)) == ny(2026, 3, 10, 16)


def test_sessions_lists_trading_days_in_range(cal: MarketCalendar) -> None:
    got = cal.sessions(date(2026, 11, 25), date(2026, 11, 30))
    assert [s.date for s in got] == [date(2026, 11, 25), date(2026, 11, 27), date(2026, 11, 30)]
    assert got[1] == Session(date(2026, 11, 27), ny(2026, 11, 27, 9, 30), ny(2026, 11, 27, 13))


def test_naive_datetime_is_refused(cal: MarketCalendar) -> None:
    with pytest.raises(ValidationFailed) as info:
        cal.is_open(datetime(2026, 3, 10, 10))
    assert info.value.rule == "timezone-aware-required"
    with pytest.raises(ValidationFailed):
        cal.next_open(datetime(2026, 3, 10, 10))


def test_out_of_range_fails_closed(cal: MarketCalendar) -> None:
    with pytest.raises(OutOfCalendarRange, match="outside the market calendar range"):
        cal.is_open(ny(2027, 1, 4, 10))
    with pytest.raises(OutOfCalendarRange):
        cal.is_trading_day(date(2025, 12, 31))
    # In range, but the next open is past the end of the built calendar.
    with pytest.raises(OutOfCalendarRange):
        cal.next_open(ny(2026, 12, 31, 17))
    with pytest.raises(OutOfCalendarRange):
        cal.previous_close(ny(2026, 1, 2, 9))


def test_end_before_start_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        MarketCalendar(date(2026, 2, 1), date(2026, 1, 1))


@pytest.mark.parametrize(
    ("hour", "minute", "opg", "cls"),
    [
        (9, 27, True, True),
        (9, 28, False, True),
        (15, 49, False, True),
        (15, 50, False, False),
        (18, 59, False, False),
        (19, 0, True, True),
        (3, 0, True, True),
    ],
)
def test_auction_order_windows(
    cal: MarketCalendar, hour: int, minute: int, opg: bool, cls: bool
) -> None:
    at = ny(2026, 3, 10, hour, minute)
    assert cal.opg_allowed(at) is opg
    assert cal.cls_allowed(at) is cls


def test_auction_orders_allowed_on_non_trading_days(cal: MarketCalendar) -> None:
    assert cal.opg_allowed(ny(2026, 3, 7, 12))
    assert cal.cls_allowed(ny(2026, 11, 26, 16))


def test_is_open_is_cheap(cal: MarketCalendar) -> None:
    at = ny(2026, 3, 10, 11)
    start = datetime.now(UTC)
    for _ in range(10_000):
        cal.is_open(at)
    assert datetime.now(UTC) - start < timedelta(seconds=1)
