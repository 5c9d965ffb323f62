"""The three strategies beyond SmaCross against backtesting.py Strategy classes with the same
rules (``reference.py``): same trades, equity and statistics, with and without commission."""

from __future__ import annotations

import pytest
from backtesting.test import GOOG

from domain.backtest import BacktestConfig, Bars, random_points, run_many
from domain.backtest import get_strategy as spec_of
from tests.unit.domain.backtest.reference import differences, reference_run
from tests.unit.domain.backtest.series import random_walk

WALK = random_walk(700, seed=3)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["rsi_reversion", "bollinger_breakout", "momentum"])
@pytest.mark.parametrize(("data", "commission"), [("goog", 0.001), ("walk", 0.0)])
def test_strategy_equals_backtesting_py(strategy: str, data: str, commission: float) -> None:
    df = GOOG if data == "goog" else WALK
    points = random_points(spec_of(strategy), 12, seed=5)
    ours = run_many(Bars.from_frame(df), strategy, points, BacktestConfig(commission=commission))
    failures = {}
    trades = 0
    for params, stats in zip(points, ours, strict=True):
        ref = reference_run(df, strategy, params, commission)
        trades += int(ref["# Trades"])
        diff = differences(stats, ref)
        if diff:
            failures[str(params)] = diff
    assert not failures, f"{len(failures)} of {len(points)} differ: {list(failures.items())[:3]}"
    assert trades > 0
