"""Run backtests: validate, share indicators across parameter sets, call the kernel once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from domain.backtest import kernel
from domain.backtest.bars import Bars
from domain.backtest.calendar import calendar_of
from domain.backtest.params import Params
from domain.backtest.stats import Stats
from domain.backtest.strategies import get_strategy, prepare
from domain.errors import ValidationFailed

__all__ = ["BacktestConfig", "run_backtest", "run_many", "run_many_matrix"]


@dataclass(frozen=True)
class BacktestConfig:
    """Starting cash and commission as a fraction of traded value (backtesting.py's)."""

    cash: float = 10_000.0
    commission: float = 0.0

    def __post_init__(self) -> None:
        if not self.cash > 0 or not np.isfinite(self.cash):
            raise ValidationFailed("config.cash", "not-positive")
        if not -0.1 <= self.commission < 0.1:
            raise ValidationFailed("config.commission", "out-of-range", "commission in [-0.1, 0.1)")


def run_many_matrix(
    bars: Bars,
    strategy: str,
    param_sets: Sequence[Mapping[str, float | int]],
    config: BacktestConfig = BacktestConfig(),
) -> np.ndarray:
    """Statistics of every parameter set as a float matrix, columns in ``STAT_FIELDS`` order."""
    spec = get_strategy(strategy)
    params: list[Params] = [spec.validate(p) for p in param_sets]
    out = np.empty((len(params), kernel.N_STATS))
    if not params:
        return out
    prep = prepare(bars, strategy, params)
    cal = calendar_of(bars)
    with np.errstate(all="ignore"):  # only the pure-Python fallback would warn: 0/0 is NaN
        kernel.run_batch(
            prep.kind, bars.open, bars.close, prep.ind_a, prep.ind_b, prep.prow, prep.pfloat,
            prep.warmup, float(config.cash), float(config.commission), cal.stamps, cal.period,
            cal.annual_periods, cal.resolution_ns, cal.years, cal.market_dev, cal.market_dev_sum,
            cal.market_ss, out,
        )  # fmt: skip
    return out


def run_many(
    bars: Bars,
    strategy: str,
    param_sets: Sequence[Mapping[str, float | int]],
    config: BacktestConfig = BacktestConfig(),
) -> list[Stats]:
    """One :class:`Stats` per parameter set, in order."""
    return [Stats.from_row(r) for r in run_many_matrix(bars, strategy, param_sets, config)]


def run_backtest(
    bars: Bars,
    strategy: str,
    params: Mapping[str, float | int],
    config: BacktestConfig = BacktestConfig(),
) -> Stats:
    return run_many(bars, strategy, [params], config)[0]
