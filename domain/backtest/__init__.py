"""Backtests with backtesting.py's semantics and numbers, fast enough for large searches.

Pure code: bars, parameter spaces, the compiled kernel, statistics, objectives, search points
and walk-forward. The Ray job layer (``jobs/``) distributes :func:`run_many` calls.
"""

from domain.backtest.bars import Bars
from domain.backtest.engine import BacktestConfig, run_backtest, run_many, run_many_matrix
from domain.backtest.params import ParamSpec, StrategySpec, random_points
from domain.backtest.stats import OBJECTIVES, STAT_FIELDS, Stats, best_index, direction, score
from domain.backtest.strategies import STRATEGIES, get_strategy
from domain.backtest.walkforward import (
    WalkForwardResult,
    WalkForwardWindow,
    walk_forward,
    walk_forward_windows,
)

__all__ = [
    "OBJECTIVES",
    "STAT_FIELDS",
    "STRATEGIES",
    "BacktestConfig",
    "Bars",
    "ParamSpec",
    "Stats",
    "StrategySpec",
    "WalkForwardResult",
    "WalkForwardWindow",
    "best_index",
    "direction",
    "get_strategy",
    "random_points",
    "run_backtest",
    "run_many",
    "run_many_matrix",
    "score",
    "walk_forward",
    "walk_forward_windows",
]
