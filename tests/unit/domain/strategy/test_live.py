"""Live sample arithmetic: average-cost P&L, round trips, drawdown and the objective score."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from domain.backtest.kernel_stats import _period_returns
from domain.strategy.live import (
    EquityPoint,
    LiveFill,
    daily_returns,
    live_sample,
    max_drawdown_pct,
    objective_score,
    pnl,
)

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
D = Decimal


def fill(
    side: str, qty: str, price: str, fee: str = "0", minutes: int = 0, sym: str = "AAPL"
) -> LiveFill:
    return LiveFill(sym, side, D(qty), D(price), D(fee), T0 + timedelta(minutes=minutes))


def test_pnl_worked_example_by_hand() -> None:
    fills = [
        fill("buy", "10", "100", "1.00", 0),
        fill("buy", "10", "110", "1.00", 1),  # 20 @ avg 105
        fill("sell", "15", "120", "1.00", 2),  # +15 x 15 = 225; 5 left @ 105
        fill("sell", "5", "100", "0", 3),  # -5 x 5 = -25; flat: round trip of +200
        fill("sell", "4", "50", "0.50", 4),  # short 4 @ 50
    ]
    got = pnl(fills, {"AAPL": D("45")})
    # realized 225 - 25 - fees 3.50; unrealized -4 x (45 - 50) = +20
    assert got.realized == D("196.50")
    assert got.unrealized == D("20.00")
    assert got.fees == D("3.50")
    assert [t.gain for t in got.round_trips] == [D("200")]
    assert got.round_trips[0].closed_at == T0 + timedelta(minutes=3)
    assert got.positions == {"AAPL": D("-4")}
    assert got.total == D("216.50")


def test_pnl_through_zero_closes_the_lot_and_opens_the_other_side_at_the_fill_price() -> None:
    got = pnl([fill("buy", "10", "10"), fill("sell", "15", "12", minutes=1)], {"AAPL": D("11")})
    assert got.realized == D("20.00")  # 10 x (12 - 10)
    assert got.unrealized == D("5.00")  # -5 x (11 - 12)
    assert len(got.round_trips) == 1 and got.positions == {"AAPL": D("-5")}


def test_pnl_without_a_mark_uses_the_last_fill_price_and_keeps_symbols_apart() -> None:
    got = pnl(
        [fill("buy", "2", "10"), fill("buy", "1", "50", sym="MSFT"), fill("buy", "2", "12")],
        {"MSFT": D("40")},
    )
    # AAPL 4 @ 11 marked at its last fill 12: +4; MSFT 1 @ 50 marked at 40: -10
    assert got.unrealized == D("-6.00") and got.realized == D("0.00")
    assert got.round_trips == ()


def test_pnl_rounds_money_to_cents_half_even() -> None:
    got = pnl([fill("buy", "3", "33.3333"), fill("sell", "3", "33.335")], {})
    assert got.realized == D("0.01")  # 3 x 0.0017 = 0.0051
    got = pnl([fill("buy", "1", "10.000"), fill("sell", "1", "10.005")], {})
    assert got.realized == D("0.00")  # 0.005 -> 0.00 (half-even)


def test_max_drawdown_is_backtesting_pys_negative_percent() -> None:
    assert max_drawdown_pct([100, 120, 90, 130, 117]) == pytest.approx(-25.0)
    assert max_drawdown_pct([100, 101, 102]) == 0.0
    assert max_drawdown_pct([]) is None


def test_daily_returns_take_the_last_point_of_each_day() -> None:
    pts = [(T0, 100.0), (T0 + timedelta(hours=1), 110.0), (T0 + timedelta(days=1), 121.0)]
    assert daily_returns(pts) == pytest.approx([0.1])


def test_sharpe_and_sortino_match_the_backtest_kernel_on_the_same_daily_curve() -> None:
    equity = [10_000.0, 10_100.0, 10_000.0, 10_250.0, 10_150.0, 10_400.0]
    pts = [(T0 + timedelta(days=i), e) for i, e in enumerate(equity)]
    out = np.full(30, np.nan)
    eq = np.array(equity)
    _period_returns(eq, np.arange(len(eq)), 252.0, np.zeros(len(eq)), out)
    ann, vol, sortino = out[4], out[5], out[8]
    assert objective_score("return_ann_pct", pts, [], D(0)) == pytest.approx(ann)
    assert objective_score("volatility_ann_pct", pts, [], D(0)) == pytest.approx(vol)
    assert objective_score("sharpe_ratio", pts, [], D(0)) == pytest.approx(ann / vol)
    assert objective_score("sortino_ratio", pts, [], D(0)) == pytest.approx(sortino)


def test_objectives_the_curve_cannot_give_or_too_few_points_score_none() -> None:
    pts = [(T0, 10_000.0), (T0 + timedelta(hours=1), 10_100.0)]
    assert objective_score("alpha_pct", pts, [], D(0)) is None
    assert objective_score("sharpe_ratio", pts, [], D(0)) is None  # one day: no returns
    assert objective_score("return_pct", pts[:1], [], D(0)) is None
    assert objective_score("return_pct", pts, [], D(0)) == pytest.approx(1.0)


def test_live_sample_scores_the_current_versions_curve_from_its_start() -> None:
    fills = [
        fill("buy", "10", "100", "1.00", 0),  # before the version: its round trip is v1's
        fill("sell", "10", "110", "1.00", 10),
        fill("buy", "10", "110", "1.00", 70),  # v2 from minute 60
        fill("sell", "10", "105", "1.00", 80),
    ]
    start = EquityPoint(T0 + timedelta(minutes=60), D("98.00"))  # v1's last sample
    earlier = [EquityPoint(T0 + timedelta(minutes=75), D("150.00"))]
    got = live_sample(
        fills,
        {},
        now=T0 + timedelta(minutes=90),
        objective="return_pct",
        capital=D("10000"),
        version_start=start,
        earlier=earlier,
    )
    # lifetime: +100 - 50 gross, 4 fees
    assert (got.realized_pnl, got.unrealized_pnl, got.trades) == (D("46.00"), D("0.00"), 2)
    # v2's curve: 10000, 10052, 9948 -> return -0.52 %, drawdown from 10052
    assert got.score == pytest.approx(-0.52)
    assert got.drawdown_pct == pytest.approx(-(1 - 9948 / 10052) * 100)
    win = live_sample(
        fills,
        {},
        now=T0 + timedelta(minutes=90),
        objective="win_rate_pct",
        capital=D("10000"),
        version_start=start,
    )
    assert win.score == 0.0  # only v2's losing round trip counts
    later = T0 + timedelta(minutes=90)
    fees = live_sample(
        fills, {}, now=later, objective="commissions", capital=D(1), version_start=start
    )
    assert fees.score == 2.0 and math.isfinite(fees.drawdown_pct or 0.0)
