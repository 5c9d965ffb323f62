from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import ValidationFailed
from domain.marketdata import (
    Bar,
    BarAggregator,
    InstrumentStatus,
    Quote,
    Trade,
    TradingStatus,
    from_wire,
)

T0 = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


def trade(price: str, at: datetime, size: int = 100, symbol: str = "AAPL") -> Trade:
    return Trade(symbol, Decimal(price), size, at, at + timedelta(milliseconds=5), "alpaca")


def quote(bid: str = "10.00", ask: str = "10.01", **kw: Any) -> Quote:
    fields: dict[str, Any] = {
        "symbol": "AAPL",
        "bid_price": Decimal(bid),
        "bid_size": 100,
        "ask_price": Decimal(ask),
        "ask_size": 200,
        "exchange_ts": T0,
        "received_ts": T0,
        "provider": "alpaca",
    }
    fields.update(kw)
    return Quote(**fields)


def bar(**kw: Any) -> Bar:
    fields: dict[str, Any] = {
        "symbol": "AAPL",
        "open": Decimal("10"),
        "high": Decimal("11"),
        "low": Decimal("9"),
        "close": Decimal("10.5"),
        "volume": 1000,
        "start": T0,
        "exchange_ts": None,
        "received_ts": T0,
        "provider": "alpaca",
    }
    fields.update(kw)
    return Bar(**fields)


def test_quote_when_crossed_then_refused() -> None:
    with pytest.raises(ValidationFailed) as info:
        quote(bid="10.02", ask="10.01")
    assert info.value.rule == "crossed"


def test_quote_when_one_sided_then_allowed_without_mid() -> None:
    q = quote(bid="0", ask="10.01", bid_size=0)
    assert q.mid is None
    assert quote().mid == Decimal("10.005")


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"bid_price": Decimal("-1")}, "bid_price"),
        ({"ask_size": -100}, "ask_size"),
        ({"ask_price": Decimal("NaN")}, "ask_price"),
        ({"bid_price": 10.0}, "bid_price"),
        ({"exchange_ts": datetime(2026, 3, 10, 14, 30)}, "exchange_ts"),
        ({"received_ts": T0.astimezone(timezone(timedelta(hours=-5)))}, "received_ts"),
        ({"symbol": ""}, "symbol"),
        ({"seq": -1}, "seq"),
    ],
)
def test_quote_when_invalid_field_then_names_it(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        quote(**kw)
    assert info.value.field == field


def test_trade_when_zero_price_or_size_then_refused() -> None:
    with pytest.raises(ValidationFailed):
        trade("0", T0)
    with pytest.raises(ValidationFailed):
        trade("1", T0, size=0)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"low": Decimal("10.6")}, "low"),
        ({"high": Decimal("10.4")}, "high"),
        ({"start": T0 + timedelta(seconds=1)}, "start"),
    ],
)
def test_bar_when_inconsistent_then_refused(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        bar(**kw)
    assert info.value.field == field


def test_with_seq_returns_a_copy() -> None:
    q = quote()
    assert q.with_seq(7).seq == 7
    assert q.seq == 0


@pytest.mark.parametrize(
    "event",
    [
        trade("187.25", T0 + timedelta(microseconds=123)),
        quote(),
        bar(exchange_ts=T0 + timedelta(seconds=59)),
        bar(),
        InstrumentStatus("AAPL", TradingStatus.HALTED, "LULD", T0, T0, "alpaca", 3),
    ],
)
def test_wire_round_trip(event: Trade | Quote | Bar | InstrumentStatus) -> None:
    wire = event.to_wire()
    assert from_wire(wire) == event
    assert type(event).from_wire(wire) == event


def test_wire_uses_strings_for_decimals_and_z_times() -> None:
    wire = trade("187.2500", T0).to_wire()
    assert wire["price"] == "187.2500"
    assert wire["exchange_ts"] == "2026-03-10T14:30:00.000000Z"
    assert wire["type"] == "trade"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "nope"}, "type"),
        ({"price": 1.5}, "price"),
        ({"price": "abc"}, "price"),
        ({"exchange_ts": "2026-03-10T14:30:00"}, "exchange_ts"),
        ({"size": None}, "size"),
    ],
)
def test_from_wire_when_malformed_then_validation_failed(
    change: dict[str, Any], field: str
) -> None:
    wire = trade("1.5", T0).to_wire() | change
    with pytest.raises(ValidationFailed) as info:
        from_wire(wire)
    assert info.value.field == field


def test_aggregator_emits_bar_when_next_minute_trade_arrives() -> None:
    agg = BarAggregator()
    assert agg.add(trade("10", T0 + timedelta(seconds=1))) is None
    assert agg.add(trade("12", T0 + timedelta(seconds=20), size=50)) is None
    assert agg.add(trade("9", T0 + timedelta(seconds=40))) is None
    # Out of order within the minute: this earlier print is the real open.
    assert agg.add(trade("11", T0 + timedelta(seconds=0))) is None
    done = agg.add(trade("13", T0 + timedelta(minutes=1, seconds=2)))
    assert done is not None
    assert (done.open, done.high, done.low, done.close) == tuple(
        Decimal(p) for p in ("11", "12", "9", "9")
    )
    assert done.volume == 350
    assert done.start == T0
    assert done.exchange_ts == T0 + timedelta(seconds=40)
    assert done.timeframe == "1Min"


def test_aggregator_flush_emits_only_finished_minutes_per_symbol() -> None:
    agg = BarAggregator()
    agg.add(trade("10", T0 + timedelta(seconds=5), symbol="AAPL"))
    agg.add(trade("20", T0 + timedelta(minutes=1, seconds=5), symbol="MSFT"))
    assert agg.flush(T0 + timedelta(seconds=59)) == []
    bars = agg.flush(T0 + timedelta(minutes=1))
    assert [b.symbol for b in bars] == ["AAPL"]
    assert bars[0].received_ts == T0 + timedelta(minutes=1)
    assert [b.symbol for b in agg.flush(T0 + timedelta(minutes=5))] == ["MSFT"]


def test_aggregator_drops_trades_for_emitted_minutes() -> None:
    agg = BarAggregator()
    agg.add(trade("10", T0 + timedelta(seconds=5)))
    agg.flush(T0 + timedelta(minutes=1))
    assert agg.add(trade("10", T0 + timedelta(seconds=50))) is None
    assert agg.late_trades == 1
    assert agg.flush(T0 + timedelta(minutes=10)) == []
