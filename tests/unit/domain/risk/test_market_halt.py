"""Market-wide circuit breakers: levels, the 15:25 cut-off, once a day, rest of day."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.market_hours import EXCHANGE_TZ, MarketCalendar
from domain.risk.luld import HaltChange
from domain.risk.market_halt import MWCB_HALT_ENDED, MarketWideBreaker, decline_level

D = Decimal
DAY = date(2026, 12, 1)  # a plain Tuesday
NEXT = date(2026, 12, 2)
# Prior close 500.00: Level 1 at 500 x 0.93 = 465.00, Level 2 at 500 x 0.87 = 435.00,
# Level 3 at 500 x 0.80 = 400.00.
L1, L2, L3 = D("465.00"), D("435.00"), D("400.00")


def ny(h: int, m: int, s: float = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, h, m, tzinfo=EXCHANGE_TZ) + timedelta(seconds=s)


def breaker(prior: str = "500.00") -> MarketWideBreaker:
    b = MarketWideBreaker("SPY")
    b.set_prior_close(DAY, D(prior))
    return b


@pytest.mark.parametrize(
    ("price", "level"),
    [("465.01", 0), ("465.00", 1), ("435.01", 1), ("435.00", 2), ("400.01", 2), ("400.00", 3)],
)
def test_decline_level_when_prior_500_then_7_13_20_percent(price: str, level: int) -> None:
    assert decline_level(D(500), D(price)) == level


def test_level_1_when_15_24_59_then_15_minute_halt() -> None:
    b = breaker()
    [halt] = b.on_index_price(L1, ny(15, 24, 59))
    assert (halt.symbol, halt.halted, halt.reason) == (None, True, "mwcb_level_1")
    assert (halt.at, halt.until) == (ny(15, 24, 59), ny(15, 39, 59))
    assert b.is_halted(ny(15, 39, 58)) and not b.is_halted(ny(15, 39, 59))
    assert b.on_clock(ny(15, 40)) == [
        HaltChange(None, False, ny(15, 39, 59), None, MWCB_HALT_ENDED)
    ]


def test_level_1_and_2_when_at_or_after_15_25_then_no_halt() -> None:
    b = breaker()
    assert b.on_index_price(L1, ny(15, 25)) == []
    assert b.on_index_price(L2, ny(15, 30)) == []
    assert not b.is_halted(ny(15, 30))


def test_level_1_when_reached_twice_in_a_day_then_halts_once() -> None:
    b = breaker()
    assert len(b.on_index_price(L1, ny(10, 0))) == 1  # halt to 10:15
    assert b.on_index_price(D("466"), ny(10, 20)) == [
        HaltChange(None, False, ny(10, 15), None, MWCB_HALT_ENDED)
    ]
    assert b.on_index_price(D("464"), ny(11, 0)) == []  # 7.2% again: no second halt
    assert not b.is_halted(ny(11, 0))


def test_level_2_when_after_a_level_1_halt_then_second_halt() -> None:
    b = breaker()
    b.on_index_price(L1, ny(10, 0))
    assert b.on_index_price(L2, ny(10, 10)) == []  # during the halt the index is frozen
    [ended, halt] = b.on_index_price(L2, ny(11, 0))
    assert ended.reason == MWCB_HALT_ENDED
    assert (halt.reason, halt.at, halt.until) == ("mwcb_level_2", ny(11, 0), ny(11, 15))
    b.on_index_price(D("430"), ny(12, 0))
    assert not b.is_halted(ny(12, 0))  # level 2 spent too


def test_level_2_when_reached_first_then_level_1_spent() -> None:
    b = breaker()
    [halt] = b.on_index_price(D("430"), ny(10, 0))  # 14%
    assert halt.reason == "mwcb_level_2"
    assert [c.halted for c in b.on_index_price(L1, ny(10, 30))] == [False]


def test_level_3_when_15_50_then_halted_for_the_rest_of_the_day() -> None:
    b = breaker()
    [halt] = b.on_index_price(L3, ny(15, 50))
    assert halt.reason == "mwcb_level_3"
    assert halt.until == ny(0, 0, day=NEXT)  # midnight New York = 05:00 UTC
    assert b.is_halted(ny(19, 0))  # after hours too
    assert not b.is_halted(ny(0, 0, day=NEXT))


def test_level_3_when_level_1_halt_over_then_still_triggers() -> None:
    b = breaker()
    b.on_index_price(L1, ny(10, 0))
    changes = b.on_index_price(D("399"), ny(10, 16))
    assert [c.reason for c in changes] == [MWCB_HALT_ENDED, "mwcb_level_3"]


def test_prior_close_when_next_day_then_last_session_price_carried() -> None:
    b = breaker()
    b.on_index_price(D("510.00"), ny(15, 59, 59))  # last regular-session price
    b.on_index_price(D("480.00"), ny(16, 30))  # after hours: not the close
    # 510 x 0.93 = 474.30: Level 1 against yesterday's close, not against 500.
    [halt] = b.on_index_price(D("474.30"), ny(9, 31, day=NEXT))
    assert b.prior_close(NEXT) == D("510.00")
    assert (halt.reason, halt.until) == ("mwcb_level_1", ny(9, 46, day=NEXT))


def test_prior_close_when_set_then_overrides_and_new_day_resets_levels() -> None:
    b = breaker()
    b.on_index_price(L1, ny(10, 0))  # level 1 spent on DAY
    b.set_prior_close(NEXT, D("600.00"))  # 600 x 0.93 = 558.00
    assert b.on_index_price(D("558.01"), ny(10, 0, day=NEXT)) == [
        HaltChange(None, False, ny(10, 15), None, MWCB_HALT_ENDED)
    ]
    [halt] = b.on_index_price(D("558.00"), ny(10, 1, day=NEXT))
    assert halt.reason == "mwcb_level_1"


def test_no_halt_when_no_prior_close_or_outside_session() -> None:
    assert MarketWideBreaker("SPY").on_index_price(D(1), ny(10, 0)) == []
    b = breaker()
    saturday = date(2026, 12, 5)
    b.set_prior_close(saturday, D(500))
    assert b.on_index_price(L3, ny(8, 0)) == []  # pre-market
    assert b.on_index_price(L3, ny(16, 0)) == []  # the close itself is after hours
    assert b.on_index_price(L3, ny(10, 0, day=saturday)) == []


def test_cutoff_when_early_close_then_12_25() -> None:
    cal = MarketCalendar(date(2026, 11, 1), date(2026, 12, 31))
    day = date(2026, 11, 27)  # closes 13:00 New York
    early, late = MarketWideBreaker("SPY", cal), MarketWideBreaker("SPY", cal)
    for b in (early, late):
        b.set_prior_close(day, D(500))
    assert len(early.on_index_price(L1, ny(12, 24, 59, day=day))) == 1
    assert late.on_index_price(L1, ny(12, 25, day=day)) == []
