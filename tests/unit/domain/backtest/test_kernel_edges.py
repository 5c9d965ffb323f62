"""Rare branches of the broker, each checked against backtesting.py: a short wiped out by a
gap (out-of-money stop), cash too small for one unit, windows longer than the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from backtesting.test import GOOG

from domain.backtest import BacktestConfig, Bars, Stats, run_backtest
from tests.unit.domain.backtest.reference import differences, reference_run


def _frame(close: np.ndarray) -> pd.DataFrame:
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame(
        {
            "Open": open_,
            "High": np.maximum(open_, close),
            "Low": np.minimum(open_, close),
            "Close": close,
        },
        index=pd.date_range("2020-01-01", periods=len(close), freq="D"),
    )


def _agree(
    df: pd.DataFrame, params: dict[str, int], cash: float = 10_000, commission: float = 0.0
) -> tuple[Stats, pd.Series]:
    ours = run_backtest(Bars.from_frame(df), "sma_cross", params, BacktestConfig(cash, commission))
    ref = reference_run(df, "sma_cross", params, commission, cash=cash)
    assert differences(ours, ref) == []
    return ours, ref


def test_short_wiped_out_by_a_gap_stops_like_backtesting_py() -> None:
    close = np.r_[
        np.linspace(50, 100, 20),
        np.linspace(99, 60, 20),
        np.full(5, 200.0),
        np.linspace(200, 210, 10),
    ]
    ours, ref = _agree(_frame(close), {"n1": 2, "n2": 5}, commission=0.001)
    assert ours.equity_final == 0.0 == ref["Equity Final [$]"]
    assert ours.trades >= 1


def test_cash_below_one_unit_cancels_orders_like_backtesting_py() -> None:
    ours, _ = _agree(GOOG.iloc[:400], {"n1": 5, "n2": 20}, cash=250.0)
    assert ours.trades < 20


def test_windows_longer_than_the_data_trade_nothing() -> None:
    ours, _ = _agree(GOOG.iloc[:150], {"n1": 10, "n2": 200})
    assert ours.trades == 0 and ours.equity_final == 10_000


def test_reference_helper_runs_the_same_rules() -> None:
    ref = reference_run(GOOG, "sma_cross", {"n1": 10, "n2": 20}, 0.0)
    assert (
        ref["# Trades"] == 93
    )  # the figure backtesting.py's docs show for SmaCross(10, 20) + ours


@pytest.mark.parametrize("rule", ["W", "ME"])
def test_weekly_and_monthly_bars_annualize_like_backtesting_py(rule: str) -> None:
    df = GOOG.resample(rule).agg({"Open": "first", "High": "max", "Low": "min", "Close": "last"})
    df = df.dropna()
    for params in ({"n1": 2, "n2": 5}, {"n1": 3, "n2": 10}, {"n1": 5, "n2": 12}):
        ours, ref = _agree(df, params, commission=0.001)
        assert ours.trades == ref["# Trades"] > 0


def test_full_equity_order_keeps_one_epsilon_back_like_backtesting_py() -> None:
    # cash 10,000 at an open of exactly 100 buys 99 units, not 100: size is
    # (cash * (1 - eps)) // price, the detail that decides exact agreement
    close = np.r_[np.linspace(120, 90, 15), np.linspace(91, 130, 15), np.linspace(129, 95, 15)]
    df = _frame(close)
    first = reference_run(df, "sma_cross", {"n1": 2, "n2": 5}, 0.0)._trades
    entry = int(first["EntryBar"].iloc[0]) if len(first) else None
    assert entry is not None
    df.iloc[entry, df.columns.get_loc("Open")] = 100.0
    df["High"] = df[["Open", "Close"]].max(axis=1)
    df["Low"] = df[["Open", "Close"]].min(axis=1)
    _, ref = _agree(df, {"n1": 2, "n2": 5})
    assert abs(int(ref._trades["Size"].iloc[0])) == 99
