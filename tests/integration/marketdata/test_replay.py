"""Replay of recorded bars and ticks from CSV and Parquet files."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cluster.marketdata import ProviderState, make_provider
from cluster.marketdata.replay import ReplayProvider
from domain.clock import FakeClock
from domain.errors import OperatorError, ValidationFailed
from domain.marketdata import Bar, MarketEvent, Quote, Trade

DATA = Path(__file__).parents[2] / "kit" / "data"
BARS, TRADES, QUOTES = (
    DATA / "replay_bars.csv",
    DATA / "replay_trades.csv",
    DATA / "replay_quotes.csv",
)
NOW = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)


def file_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


async def replay_all(
    path: Path, symbols: list[str] | None = None, **deps: Any
) -> list[MarketEvent]:
    provider = make_provider(
        f"replay:{path}",
        speed=deps.pop("speed", "max"),
        stop_at_end=True,
        clock=FakeClock(NOW),
        **deps,
    )
    assert isinstance(provider, ReplayProvider)
    await provider.subscribe(symbols or ["*"])
    await provider.start()
    try:
        async with asyncio.timeout(3):
            return [event async for event in provider.events()]
    finally:
        await provider.stop()
        assert provider.state is ProviderState.STOPPED


def assert_bars_match_file(events: list[MarketEvent], rows: list[dict[str, str]]) -> None:
    assert len(events) == len(rows)
    for bar, row in zip(events, rows, strict=True):
        assert isinstance(bar, Bar)
        assert bar.symbol == row["symbol"]
        assert bar.start == datetime.fromisoformat(row["timestamp"])
        for field in ("open", "high", "low", "close"):
            assert getattr(bar, field) == Decimal(row[field])
            assert str(getattr(bar, field)) == row[field]  # same digits, not just same value
        assert bar.volume == int(row["volume"])


async def test_replay_of_csv_bars_reproduces_the_file_exactly() -> None:
    events = await replay_all(BARS)
    assert_bars_match_file(events, file_rows(BARS))
    assert [e.seq for e in events if e.symbol == "AAPL"] == [1, 2, 3]
    assert {e.provider for e in events} == {"replay"}
    assert {e.received_ts for e in events} == {NOW}


async def test_replay_is_deterministic_across_runs() -> None:
    assert await replay_all(BARS) == await replay_all(BARS)


async def test_replay_of_parquet_bars_keeps_decimal_text(tmp_path: Path) -> None:
    rows = file_rows(BARS)
    table = pa.table(
        {
            "symbol": [r["symbol"] for r in rows],
            "timestamp": pa.array(
                [datetime.fromisoformat(r["timestamp"]) for r in rows], pa.timestamp("us", tz="UTC")
            ),
            # float64 on purpose: 180.2301 must come back as Decimal("180.2301").
            **{
                f: pa.array([float(r[f]) for r in rows], pa.float64())
                for f in ("open", "high", "low")
            },
            "close": pa.array([Decimal(r["close"]) for r in rows], pa.decimal128(12, 4)),
            "volume": pa.array([int(r["volume"]) for r in rows], pa.int64()),
        }
    )
    path = tmp_path / "bars.parquet"
    pq.write_table(table, path)

    events = await replay_all(path)

    assert len(events) == len(rows)
    for bar, row in zip(events, rows, strict=True):
        assert isinstance(bar, Bar)
        assert (bar.open, bar.high, bar.low, bar.close) == tuple(
            Decimal(row[f]) for f in ("open", "high", "low", "close")
        )
    # A float column gives its shortest repr: no binary noise such as 180.23009999999999.
    assert isinstance(events[2], Bar) and str(events[2].high) == "180.2301"


async def test_replay_of_trades_and_quotes_files() -> None:
    trades = await replay_all(TRADES)
    quotes = await replay_all(QUOTES)

    assert [(t.symbol, t.price, t.size) for t in trades if isinstance(t, Trade)] == [
        ("AAPL", Decimal("101.23"), 100),
        ("AAPL", Decimal("101.25"), 200),
        ("MSFT", Decimal("411.0001"), 50),
    ]
    assert all(isinstance(q, Quote) for q in quotes) and len(quotes) == 2
    assert isinstance(quotes[1], Quote) and quotes[1].ask_price == Decimal("101.25")


async def test_only_subscribed_symbols_are_played() -> None:
    events = await replay_all(BARS, ["MSFT"])
    assert [e.symbol for e in events] == ["MSFT", "MSFT"]
    assert [e.seq for e in events] == [1, 2]


async def test_speed_factor_is_honored() -> None:
    # replay_trades.csv: rows 1 -> 2 are 1 s apart, rows 2 -> 3 0.5 s apart.
    provider = ReplayProvider(TRADES, speed=10, stop_at_end=True, clock=FakeClock(NOW))
    await provider.subscribe(["*"])
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []
    await provider.start()
    try:
        async with asyncio.timeout(3):
            async for _ in provider.events():
                arrivals.append(loop.time())
    finally:
        await provider.stop()

    first_gap, second_gap = arrivals[1] - arrivals[0], arrivals[2] - arrivals[1]
    assert 0.08 <= first_gap <= 0.4
    assert 0.03 <= second_gap <= 0.3


async def test_bad_row_fails_fast_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "symbol,timestamp,price,size\nAAPL,2024-03-01T14:30:00Z,1.5,10\nAAPL,2024-03-01T14:30:01Z,abc,10\n"
    )
    errors: list[Exception] = []
    provider = ReplayProvider(path, on_error=errors.append)

    with pytest.raises(ValidationFailed, match="row 2"):
        await provider.start()
    assert provider.state is ProviderState.STOPPED and len(errors) == 1


async def test_missing_file_is_an_operator_error(tmp_path: Path) -> None:
    with pytest.raises(OperatorError, match="not found"):
        await ReplayProvider(tmp_path / "nope.csv").start()


async def test_naive_timestamps_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "naive.csv"
    path.write_text("symbol,timestamp,price,size\nAAPL,2024-03-01T14:30:00,1.5,10\n")
    with pytest.raises(ValidationFailed, match="row 1"):
        await ReplayProvider(path).start()
