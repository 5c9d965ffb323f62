"""Acceptance 1: our kernel reproduces backtesting.py run for run.

For every (n1, n2) pair of a 165-pair grid, on backtesting.py's bundled GOOG (daily) and
EURUSD (hourly, where pandas' rolling-mean arithmetic produces exact SMA ties) and on generated
series, final equity and return agree to a relative 1e-9, the trade count exactly and every
other statistic to 1e-6. Commission is nonzero on half of the data sets.
"""

from __future__ import annotations

import pytest
from backtesting.test import EURUSD, GOOG

from domain.backtest import BacktestConfig, Bars, get_strategy, run_many
from tests.unit.domain.backtest.reference import differences, reference_run
from tests.unit.domain.backtest.series import random_walk

PAIRS = get_strategy("sma_cross").grid({"n1": range(5, 55, 5), "n2": range(10, 200, 10)})

DATA = {
    "goog": GOOG,
    "eurusd": EURUSD,
    "walk-daily": random_walk(600, seed=7),
    "walk-hourly-weekends": random_walk(700, seed=11, freq="h", vol=0.004),
}


def test_the_grid_has_at_least_150_pairs() -> None:
    assert len(PAIRS) >= 150


@pytest.mark.slow
@pytest.mark.parametrize(
    ("data", "commission"),
    [("goog", 0.002), ("eurusd", 0.0), ("walk-daily", 0.0), ("walk-hourly-weekends", 0.001)],
)
def test_sma_cross_equals_backtesting_py_for_every_pair(data: str, commission: float) -> None:
    df = DATA[data]
    ours = run_many(Bars.from_frame(df), "sma_cross", PAIRS, BacktestConfig(commission=commission))
    failures = {}
    trades = 0
    for params, stats in zip(PAIRS, ours, strict=True):
        ref = reference_run(df, "sma_cross", params, commission)
        trades += int(ref["# Trades"])
        diff = differences(stats, ref)
        if diff:
            failures[str(params)] = diff
    assert not failures, f"{len(failures)} of {len(PAIRS)} differ: {list(failures.items())[:3]}"
    assert trades > 3 * len(PAIRS)  # the comparison covered real trading, not empty runs
