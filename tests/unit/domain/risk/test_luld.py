"""LULD bands, doubling windows, reference price and pauses: hand-computed cases."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import ValidationFailed
from domain.market_hours import EXCHANGE_TZ, MarketCalendar
from domain.risk.luld import (
    LULD_PAUSE,
    LULD_PAUSE_ENDED,
    Bands,
    HaltChange,
    LuldMonitor,
    Tier,
    band_pct,
    bands,
    is_doubling_window,
)

D = Decimal
T1, T2 = Tier.TIER_1, Tier.TIER_2


def ny(h: int, m: int, s: float = 0, day: date = date(2026, 12, 1)) -> datetime:
    """New York wall time on a plain Tuesday (09:30-16:00, EST)."""
    return datetime(day.year, day.month, day.day, h, m, tzinfo=EXCHANGE_TZ) + timedelta(seconds=s)


OPEN, CLOSE = ny(9, 30), ny(16, 0)


def monitor(tier: Tier = T1, ref: str = "100", at: datetime | None = None) -> LuldMonitor:
    """A monitor whose first reference is ``ref`` (a quote one cent either side)."""
    m = LuldMonitor("AAPL", tier)
    price = D(ref)
    m.on_quote(price - D("0.01"), price + D("0.01"), at or ny(10, 0))
    assert m.reference == price
    return m


# -- bands per tier and price -------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "ref", "doubled", "lower", "upper"),
    [
        (T1, "100", False, "95.00", "105.00"),  # 5% of 100 = 5
        (T1, "100", True, "90.00", "110.00"),  # doubled: 10% of 100 = 10
        (T2, "50", False, "45.00", "55.00"),  # 10% of 50 = 5
        (T2, "50", True, "40.00", "60.00"),  # 20% of 50 = 10
        (T2, "12.34", False, "11.11", "13.57"),  # 1.234: 11.106 -> 11.11, 13.574 -> 13.57
        (T1, "3.01", False, "2.86", "3.16"),  # > 3.00: 5% = 0.1505: 2.8595, 3.1605
        (T1, "3.00", False, "2.40", "3.60"),  # not > 3.00: 20% = 0.60
        (T2, "3.00", False, "2.40", "3.60"),  # tiers agree at and below $3.00
        (T1, "2.00", False, "1.60", "2.40"),  # 20% = 0.40
        (T2, "2.00", True, "1.20", "2.80"),  # 40% = 0.80
        (T1, "0.75", False, "0.60", "0.90"),  # 20% of 0.75 = 0.15
        (T2, "0.50", False, "0.35", "0.65"),  # min(0.15, 0.375) = 0.15
        (T1, "0.10", False, "0.03", "0.18"),  # min(0.15, 0.075): 0.025 -> 0.03, 0.175 -> 0.18
        (T1, "0.10", True, "0.00", "0.25"),  # 2 x 0.075 = 0.15: -0.05 floored at 0
    ],
)
def test_bands_when_tier_and_price_then_hand_computed(
    tier: Tier, ref: str, doubled: bool, lower: str, upper: str
) -> None:
    assert bands(tier, D(ref), doubled=doubled) == Bands(D(lower), D(upper))


def test_band_pct_when_below_75_cents_then_none_as_band_is_an_amount() -> None:
    assert band_pct(T1, D("3.0001")) == 5
    assert band_pct(T2, D("3.0001")) == 10
    assert band_pct(T2, D("0.75")) == 20
    assert band_pct(T1, D("0.7499")) is None


def test_limit_state_when_offer_at_lower_or_bid_at_upper_then_true() -> None:
    b = Bands(D("95.00"), D("105.00"))
    assert b.limit_state(D("94"), D("95.00"))  # ask <= lower
    assert b.limit_state(D("105.00"), D("106"))  # bid >= upper
    assert not b.limit_state(D("95.00"), D("95.01"))
    assert not b.limit_state(D("104.99"), D("105.00"))
    assert not b.limit_state(D("100"), D(0))  # no offer is not an offer at 0
    assert b.limit_state(D(0), D("94"))  # a one-sided quote still counts


# -- doubling windows ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "doubled"),
    [
        (ny(9, 30), True),
        (ny(9, 44, 59), True),
        (ny(9, 45), False),
        (ny(12, 0), False),
        (ny(15, 34, 59), False),
        (ny(15, 35), True),
        (ny(15, 59, 59), True),
        (ny(16, 0), False),
    ],
)
def test_doubling_window_when_at_boundary_then_first_15_and_last_25_minutes(
    at: datetime, doubled: bool
) -> None:
    assert is_doubling_window(at, OPEN, CLOSE) is doubled


def test_monitor_bands_when_0940_then_doubled_10_percent() -> None:
    m = monitor(ref="100", at=ny(9, 40))
    assert m.bands_at(ny(9, 40, 1)) == Bands(D("90.00"), D("110.00"))  # 2 x 5%
    assert m.bands_at(ny(9, 45)) == Bands(D("95.00"), D("105.00"))


def test_monitor_when_1534_59_vs_1535_then_bid_106_is_limit_state_only_before() -> None:
    before, after = monitor(at=ny(15, 30)), monitor(at=ny(15, 30))
    before.on_quote(D(106), D("106.05"), ny(15, 34, 59))  # band 105.00: limit state
    after.on_quote(D(106), D("106.05"), ny(15, 35))  # band 110.00: trades
    assert before.limit_since == ny(15, 34, 59)
    assert after.limit_since is None


def test_early_close_when_calendar_then_doubling_from_1235_and_no_bands_after_1300() -> None:
    cal = MarketCalendar(date(2026, 11, 1), date(2026, 12, 31))
    day = date(2026, 11, 27)  # closes 13:00 New York
    m = LuldMonitor("AAPL", T1, cal)
    m.on_quote(D("99.99"), D("100.01"), ny(12, 0, day=day))
    assert m.bands_at(ny(12, 34, 59, day=day)) == Bands(D("95.00"), D("105.00"))
    assert m.bands_at(ny(12, 35, day=day)) == Bands(D("90.00"), D("110.00"))
    assert m.bands_at(ny(13, 0, day=day)) is None


# -- reference price ----------------------------------------------------------------------


def test_reference_when_prices_age_then_mean_of_last_5_minutes() -> None:
    m = monitor(ref="100", at=ny(10, 0))  # samples: 10:00 -> 100
    m.on_quote(D("101.99"), D("102.01"), ny(10, 2))  # 102 in [95, 105]
    assert m.reference == D(101)  # (100 + 102) / 2
    m.on_quote(D("103.99"), D("104.01"), ny(10, 4))  # 104 in [95.95, 106.05]
    assert m.reference == D(102)  # (100 + 102 + 104) / 3
    m.on_clock(ny(10, 5))
    assert m.reference == D(102)  # 10:00 is exactly 5 minutes old: still in
    m.on_clock(ny(10, 5, 1))
    assert m.reference == D(103)  # 5 min + 1 s: out; (102 + 104) / 2
    m.on_clock(ny(10, 9, 1))
    assert m.reference == D(103)  # no trade in the last 5 minutes: it stays


def test_reference_when_quote_outside_bands_but_not_limit_state_then_sampled_at_band() -> None:
    m = monitor(ref="100")
    m.on_quote(D(104), D(130), ny(10, 1))  # mid 117, held to the upper band 105
    assert m.reference == D("102.5")  # (100 + 105) / 2
    assert m.limit_since is None


def test_reference_when_trade_prices_then_on_price_samples_them() -> None:
    m = LuldMonitor("XYZ", T2)
    m.on_price(D("10.00"), ny(10, 0))
    m.on_price(D("10.30"), ny(10, 1))
    assert m.reference == D("10.15")
    assert m.bands_at(ny(10, 1)) == Bands(D("9.14"), D("11.17"))  # 1.015: 9.135, 11.165


def test_reference_when_outside_session_then_none_and_new_session_restarts() -> None:
    m = LuldMonitor("AAPL", T1)
    m.on_quote(D(99), D(101), ny(9, 0))  # pre-market: no bands, no reference
    assert m.reference is None
    m.on_quote(D(99), D(101), ny(15, 0))
    assert m.reference == D(100)
    m.on_quote(D(79), D(81), ny(9, 30, day=date(2026, 12, 2)))  # next day: first price
    assert m.reference == D(80)
    assert m.limit_since is None


def test_time_when_quote_stamped_earlier_then_counts_at_latest_time() -> None:
    m = monitor(ref="100")
    m.on_clock(ny(10, 10))
    m.on_quote(D("101.99"), D("102.01"), ny(10, 1))  # late: taken as 10:10
    m.on_quote(D("103.99"), D("104.01"), ny(10, 14, 59))
    assert m.reference == D(103)  # (102 + 104) / 2; stamped 10:01, 102 would be out
    with pytest.raises(ValidationFailed):
        m.on_clock(datetime(2026, 12, 1, 15, 0))  # naive on purpose


# -- limit state and pause ----------------------------------------------------------------


def test_limit_state_when_exited_after_14_9_s_then_no_pause() -> None:
    m = monitor(ref="100")  # bands [95.00, 105.00]
    assert m.on_quote(D("105.00"), D("105.10"), ny(10, 1)) == []
    assert m.limit_since == ny(10, 1)
    assert m.on_quote(D("99.99"), D("100.01"), ny(10, 1, 14.9)) == []
    assert m.limit_since is None
    assert m.on_clock(ny(10, 2)) == []
    assert not m.is_halted(ny(10, 2))


def test_limit_state_when_held_15_s_then_5_minute_pause() -> None:
    m = monitor(ref="100")
    m.on_quote(D(94), D("95.00"), ny(10, 1))  # offer at the lower band
    m.on_quote(D(94), D("94.90"), ny(10, 1, 10))  # still in it
    assert m.reference == D(100)  # limit-state quotes are not trades
    changes = m.on_quote(D(94), D("95.00"), ny(10, 1, 15))
    assert changes == [
        HaltChange("AAPL", True, ny(10, 1, 15), ny(10, 6, 15), LULD_PAUSE, changes[0].detail)
    ]
    assert "lower band 95.00" in changes[0].detail
    assert m.is_halted(ny(10, 6, 14.999))
    assert m.halted_until(ny(10, 3)) == ny(10, 6, 15)
    assert not m.is_halted(ny(10, 6, 15))
    assert m.on_clock(ny(10, 6, 15)) == [
        HaltChange("AAPL", False, ny(10, 6, 15), None, LULD_PAUSE_ENDED)
    ]
    assert m.on_clock(ny(10, 7)) == []  # reported once


def test_limit_state_when_exit_quote_arrives_at_exactly_15_s_then_pause_fired_first() -> None:
    m = monitor(ref="100")
    m.on_quote(D("105.00"), D("105.10"), ny(10, 1))
    changes = m.on_quote(D("99.99"), D("100.01"), ny(10, 1, 15))  # held [10:01, 10:01:15)
    assert [c.reason for c in changes] == [LULD_PAUSE]
    assert changes[0].at == ny(10, 1, 15)


def test_limit_state_when_only_clock_passes_then_pause_starts_at_entry_plus_15_s() -> None:
    m = monitor(ref="100")
    m.on_quote(D("105.00"), D("105.10"), ny(10, 1))
    assert m.on_clock(ny(10, 1, 14)) == []
    [pause] = m.on_clock(ny(10, 1, 40))
    assert (pause.at, pause.until) == (ny(10, 1, 15), ny(10, 6, 15))


def test_pause_when_clock_jumps_past_its_end_then_start_and_end_reported() -> None:
    m = monitor(ref="100")
    m.on_quote(D("105.00"), D("105.10"), ny(10, 1))
    changes = m.on_clock(ny(10, 30))
    assert [(c.halted, c.at) for c in changes] == [(True, ny(10, 1, 15)), (False, ny(10, 6, 15))]


def test_pause_when_over_then_reference_restarts_from_prices_after_it() -> None:
    m = monitor(ref="100")
    m.on_quote(D("105.00"), D("105.10"), ny(10, 1))
    m.on_clock(ny(10, 1, 15))
    m.on_quote(D("129.99"), D("130.01"), ny(10, 3))  # during the pause: ignored
    assert m.reference is None
    m.on_quote(D("119.99"), D("120.01"), ny(10, 6, 15))  # reopening price
    assert m.reference == D(120)
    assert m.bands_at(ny(10, 6, 16)) == Bands(D("114.00"), D("126.00"))


def test_limit_state_when_15_s_mark_falls_after_the_close_then_no_pause() -> None:
    m = monitor(ref="100", at=ny(15, 59))
    m.on_quote(D("111.00"), D("111.10"), ny(15, 59, 50))  # doubled band 110.00
    assert m.limit_since == ny(15, 59, 50)
    assert m.on_clock(ny(16, 0, 5)) == []
    assert not m.is_halted(ny(16, 0, 5))
