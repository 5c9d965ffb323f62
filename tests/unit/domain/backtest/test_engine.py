"""run_many shares indicators, keeps order, validates; objectives and scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
from backtesting.test import GOOG

from domain.backtest import (
    OBJECTIVES,
    STAT_FIELDS,
    BacktestConfig,
    Bars,
    Stats,
    best_index,
    run_backtest,
    run_many,
    score,
    strategies,
)
from domain.errors import ValidationFailed

PAIRS = [{"n1": a, "n2": b} for a in (5, 10, 20) for b in (30, 60, 90)]


def test_each_window_is_computed_once_per_data_set(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = strategies._INDICATORS["sma"]

    def spy(close: np.ndarray, n: int) -> np.ndarray:
        calls.append(n)
        return real(close, n)

    monkeypatch.setitem(strategies._INDICATORS, "sma", spy)
    bars = Bars.from_frame(GOOG)
    run_many(bars, "sma_cross", PAIRS)
    run_many(bars, "sma_cross", PAIRS[:2])
    assert sorted(calls) == [5, 10, 20, 30, 60, 90]


def test_run_many_matches_one_by_one_runs_in_order() -> None:
    bars = Bars.from_frame(GOOG)
    many = run_many(bars, "sma_cross", PAIRS, BacktestConfig(commission=0.001))
    single = [run_backtest(bars, "sma_cross", p, BacktestConfig(commission=0.001)) for p in PAIRS]
    assert many == single
    assert len({s.equity_final for s in many}) == len(PAIRS)


def test_bad_params_and_config_are_refused_before_running() -> None:
    bars = Bars.from_frame(GOOG)
    with pytest.raises(ValidationFailed) as err:
        run_many(bars, "sma_cross", [*PAIRS, {"n1": 50, "n2": 20}])
    assert err.value.field == "params.n1"
    with pytest.raises(ValidationFailed):
        BacktestConfig(cash=0)
    with pytest.raises(ValidationFailed):
        BacktestConfig(commission=0.5)


def _stats(**changes: float) -> Stats:
    base = dict.fromkeys(STAT_FIELDS, 1.0) | {"trades": 5}
    return Stats(**(base | changes))  # type: ignore[arg-type]


def test_score_filters_by_trades_and_non_finite_values() -> None:
    assert score(_stats(sharpe_ratio=1.5), "sharpe_ratio") == 1.5
    assert score(_stats(sharpe_ratio=1.5), "sharpe_ratio", min_trades=6) is None
    assert score(_stats(sharpe_ratio=math.nan), "sharpe_ratio") is None
    assert score(_stats(), lambda s: s.sqn * 2) == 2.0
    with pytest.raises(ValidationFailed):
        score(_stats(), "trades")


def test_best_index_follows_the_objective_direction() -> None:
    assert OBJECTIVES["volatility_ann_pct"] == "minimize"
    assert best_index([3.0, None, 1.0, 3.0], "return_pct") == 0
    assert best_index([3.0, None, 1.0], "volatility_ann_pct") == 2
    assert best_index([None, None], "return_pct") is None


def test_as_dict_turns_non_finite_into_none() -> None:
    d = _stats(sqn=math.nan, sortino_ratio=math.inf).as_dict()
    assert d["sqn"] is None and d["sortino_ratio"] is None and d["trades"] == 5
    assert list(d) == list(STAT_FIELDS)


def test_kernel_columns_are_the_stats_fields() -> None:
    from domain.backtest import kernel

    assert kernel.N_STATS == len(STAT_FIELDS)


def test_bars_pickle_with_their_indicator_cache() -> None:
    import pickle

    bars = Bars.from_frame(GOOG)
    run_many(bars, "sma_cross", PAIRS[:1])
    copy = pickle.loads(pickle.dumps(bars))
    assert set(copy._cache) == set(bars._cache) and ("sma", 5) in copy._cache
    assert run_many(copy, "sma_cross", PAIRS[:1]) == run_many(bars, "sma_cross", PAIRS[:1])
