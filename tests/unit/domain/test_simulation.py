from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import ValidationFailed
from domain.marketdata import Quote, Trade
from domain.simulation import GbmParams, GbmSimulator, tick_size

T0 = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
SYMBOLS = ["AAPL", "MSFT", "PENNY"]


def run(seed: int, steps: int = 200, params: GbmParams | None = None) -> list[Quote | Trade]:
    sim = GbmSimulator(SYMBOLS, seed, params)
    events: list[Quote | Trade] = []
    for i in range(steps):
        events.extend(sim.step(T0 + timedelta(seconds=i)))
    return events


def test_same_seed_gives_identical_sequences() -> None:
    assert run(7) == run(7)


def test_different_seed_gives_different_sequences() -> None:
    assert run(7) != run(8)


def test_adding_a_symbol_does_not_change_the_others() -> None:
    alone = GbmSimulator(["AAPL"], 7).step(T0)
    together = [e for e in GbmSimulator(["MSFT", "AAPL"], 7).step(T0) if e.symbol == "AAPL"]
    assert [e.with_seq(0) for e in alone] == [e.with_seq(0) for e in together]


@pytest.mark.parametrize(
    "params",
    [
        GbmParams(),
        GbmParams(min_start_price=0.2, max_start_price=1.5, volatility=2.0),
        GbmParams(min_start_price=0.995, max_start_price=1.005, volatility=3.0),  # crosses $1
    ],
)
def test_prices_on_tick_and_bid_below_ask(params: GbmParams) -> None:
    events = run(11, steps=2000, params=params)
    quotes = [e for e in events if isinstance(e, Quote)]
    trades = [e for e in events if isinstance(e, Trade)]
    assert quotes and trades
    prices = [p for q in quotes for p in (q.bid_price, q.ask_price)] + [t.price for t in trades]
    for price in prices:
        assert price > 0
        assert price % tick_size(price) == 0
        assert -price.as_tuple().exponent == (2 if price >= 1 else 4)  # type: ignore[operator]
    for q in quotes:
        assert q.bid_price < q.ask_price
        assert q.bid_size % 100 == 0 and q.ask_size % 100 == 0 and q.bid_size > 0
        assert q.provider == "simulated"
    assert all(t.size % 100 == 0 and t.size > 0 for t in trades)


def test_spread_is_a_few_basis_points_for_dollar_stocks() -> None:
    for q in (e for e in run(3) if isinstance(e, Quote)):
        if q.bid_price >= 50:
            spread_bps = (q.ask_price - q.bid_price) / q.bid_price * 10_000
            assert spread_bps <= 10


def test_seq_increases_and_timestamps_are_the_step_instant() -> None:
    sim = GbmSimulator(SYMBOLS, 1)
    first = sim.step(T0)
    second = sim.step(T0 + timedelta(seconds=1))
    seqs = [e.seq for e in first + second]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert {e.exchange_ts for e in second} == {T0 + timedelta(seconds=1)}


def test_prices_move_over_time() -> None:
    sim = GbmSimulator(["AAPL"], 5, GbmParams(trade_probability=0))
    start = sim.step(T0)[0]
    later = sim.step(T0 + timedelta(hours=6))[0]
    assert isinstance(start, Quote) and isinstance(later, Quote)
    assert start.bid_price != later.bid_price


def test_tick_size_follows_the_dollar_boundary() -> None:
    assert tick_size(Decimal("1.00")) == Decimal("0.01")
    assert tick_size(Decimal("0.9999")) == Decimal("0.0001")


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        GbmSimulator([], 1)
    with pytest.raises(ValidationFailed):
        GbmSimulator(["A", "A"], 1)
    with pytest.raises(ValidationFailed):
        GbmParams(min_spread_bps=0)
