"""ExchangeHalts: tiers, per-symbol pauses, the market-wide halt over every symbol."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from domain.market_hours import EXCHANGE_TZ
from domain.risk.exchange import ExchangeHalts
from domain.risk.luld import LULD_PAUSE, LULD_PAUSE_ENDED, Bands, Tier
from domain.risk.market_halt import MWCB_HALT_ENDED

D = Decimal
DAY = date(2026, 12, 1)


def ny(h: int, m: int, s: float = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, h, m, tzinfo=EXCHANGE_TZ) + timedelta(seconds=s)


def halts() -> ExchangeHalts:
    h = ExchangeHalts(frozenset({"AAPL", "SPY"}), "SPY")
    assert h.breaker is not None
    h.breaker.set_prior_close(DAY, D(500))  # Level 1 at 465.00
    return h


def quote(h: ExchangeHalts, symbol: str, mid: str, at: datetime) -> bool:
    price = D(mid)
    return h.on_quote(symbol, price - D("0.01"), price + D("0.01"), at)


def test_tier_when_symbol_in_tier1_then_5_percent_else_10() -> None:
    h = halts()
    quote(h, "AAPL", "100", ny(10, 0))
    quote(h, "XYZ", "100", ny(10, 0))
    assert h.monitor("AAPL").tier is Tier.TIER_1
    assert h.monitor("XYZ").tier is Tier.TIER_2
    assert h.monitor("AAPL").bands_at(ny(10, 0)) == Bands(D("95.00"), D("105.00"))
    assert h.monitor("XYZ").bands_at(ny(10, 0)) == Bands(D("90.00"), D("110.00"))


def test_luld_pause_when_one_symbol_then_only_that_symbol_halted() -> None:
    h = halts()
    quote(h, "AAPL", "100", ny(10, 0))
    quote(h, "MSFT", "300", ny(10, 0))
    assert h.on_quote("AAPL", D("105.00"), D("105.10"), ny(10, 1)) is False  # limit state
    assert h.on_quote("AAPL", D("105.00"), D("105.10"), ny(10, 1, 15)) is True
    assert h.is_halted("AAPL", ny(10, 3))
    assert not h.is_halted("MSFT", ny(10, 3))
    assert h.halted_until("AAPL", ny(10, 3)) == ny(10, 6, 15)
    [pause] = h.take_changes()
    assert (pause.symbol, pause.reason) == ("AAPL", LULD_PAUSE)
    assert h.take_changes() == []
    h.on_clock(ny(10, 6, 15))
    assert [(c.symbol, c.reason) for c in h.take_changes()] == [("AAPL", LULD_PAUSE_ENDED)]


def test_index_quote_when_7_percent_down_then_every_symbol_halted_15_minutes() -> None:
    h = halts()
    quote(h, "AAPL", "100", ny(10, 0))
    assert quote(h, "SPY", "465.00", ny(10, 30)) is True  # midpoint 465.00
    assert h.is_halted("AAPL", ny(10, 30)) and h.is_halted("NEVERSEEN", ny(10, 44))
    assert h.halted_until("AAPL", ny(10, 31)) == ny(10, 45)
    # during the halt LULD sees nothing: a jump to 150 is no limit state
    assert quote(h, "AAPL", "150", ny(10, 40)) is True
    assert h.monitor("AAPL").limit_since is None
    h.on_clock(ny(10, 45))
    changes = h.take_changes()
    assert [(c.symbol, c.halted, c.reason) for c in changes] == [
        (None, True, "mwcb_level_1"),
        (None, False, MWCB_HALT_ENDED),
    ]
    assert not h.is_halted("AAPL", ny(10, 45))


def test_market_halt_when_over_then_luld_reference_restarts_at_reopening_price() -> None:
    h = halts()
    quote(h, "AAPL", "100", ny(10, 0))
    quote(h, "SPY", "465.00", ny(10, 30))
    h.on_clock(ny(10, 45))
    assert h.monitor("AAPL").reference is None
    assert quote(h, "AAPL", "150", ny(10, 45, 1)) is False  # a new reference, no limit state
    assert h.monitor("AAPL").reference == D(150)


def test_take_changes_when_pauses_seen_out_of_order_then_oldest_first() -> None:
    h = halts()
    quote(h, "AAPL", "100", ny(10, 0))
    quote(h, "MSFT", "100", ny(10, 0))
    h.on_quote("MSFT", D("111.00"), D("111.10"), ny(10, 1, 5))  # Tier 2 band 110.00
    h.on_quote("AAPL", D("106.00"), D("106.10"), ny(10, 1, 10))
    h.on_clock(ny(10, 20))  # both pauses and both ends at once
    changes = h.take_changes()
    assert [(c.symbol, c.halted, c.at) for c in changes] == [
        ("MSFT", True, ny(10, 1, 20)),
        ("AAPL", True, ny(10, 1, 25)),
        ("MSFT", False, ny(10, 6, 20)),
        ("AAPL", False, ny(10, 6, 25)),
    ]


def test_no_index_when_configured_without_one_then_no_market_halt() -> None:
    h = ExchangeHalts(frozenset({"SPY"}))
    assert h.breaker is None
    assert quote(h, "SPY", "1", ny(10, 0)) is False
    assert not h.is_halted("SPY", ny(10, 0))
