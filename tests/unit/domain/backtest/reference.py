"""backtesting.py as the reference: its strategies for our four, and a field-by-field compare.

Each reference strategy is written with backtesting.py's own API and the same rules the
kernel documents (``domain/backtest/strategies.py``); indicators come from the same pure
functions, so any difference is in the engine or the statistics.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover

from domain.backtest import Stats
from domain.backtest.strategies import roc, rolling_std, rsi, sma


class SmaCross(Strategy):  # backtesting.py's own example, verbatim rules
    n1 = 10
    n2 = 20

    def init(self) -> None:
        self.sma1 = self.I(sma, self.data.Close, self.n1)
        self.sma2 = self.I(sma, self.data.Close, self.n2)

    def next(self) -> None:
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


class RsiReversion(Strategy):
    n = 14
    lower = 30
    upper = 70

    def init(self) -> None:
        self.rsi = self.I(rsi, self.data.Close, self.n)

    def next(self) -> None:
        if self.rsi[-1] < self.lower:
            if not self.position:
                self.buy()
        elif self.rsi[-1] > self.upper and self.position:
            self.position.close()


class BollingerBreakout(Strategy):
    n = 20
    k = 2.0

    def init(self) -> None:
        self.mid = self.I(sma, self.data.Close, self.n)
        self.sd = self.I(rolling_std, self.data.Close, self.n)

    def next(self) -> None:
        c, mid, dev = self.data.Close[-1], self.mid[-1], self.k * self.sd[-1]
        if c > mid + dev:
            if not self.position.is_long:
                self.position.close()
                self.buy()
        elif c < mid - dev:
            if not self.position.is_short:
                self.position.close()
                self.sell()
        elif (self.position.is_long and c < mid) or (self.position.is_short and c > mid):
            self.position.close()


class Momentum(Strategy):
    n = 20
    threshold = 0.0

    def init(self) -> None:
        self.roc = self.I(roc, self.data.Close, self.n)

    def next(self) -> None:
        if self.roc[-1] > self.threshold:
            if not self.position.is_long:
                self.position.close()
                self.buy()
        elif self.roc[-1] < -self.threshold and not self.position.is_short:
            self.position.close()
            self.sell()


REFERENCE: dict[str, type[Strategy]] = {
    "sma_cross": SmaCross,
    "rsi_reversion": RsiReversion,
    "bollinger_breakout": BollingerBreakout,
    "momentum": Momentum,
}

# backtesting.py label -> our field; the first three must agree to 1e-9 (trades exactly)
EXACT = {"Equity Final [$]": "equity_final", "Return [%]": "return_pct", "# Trades": "trades"}
CLOSE = {
    "Equity Peak [$]": "equity_peak",
    "Buy & Hold Return [%]": "buy_hold_return_pct",
    "Return (Ann.) [%]": "return_ann_pct",
    "Volatility (Ann.) [%]": "volatility_ann_pct",
    "CAGR [%]": "cagr_pct",
    "Sharpe Ratio": "sharpe_ratio",
    "Sortino Ratio": "sortino_ratio",
    "Calmar Ratio": "calmar_ratio",
    "Alpha [%]": "alpha_pct",
    "Beta": "beta",
    "Max. Drawdown [%]": "max_drawdown_pct",
    "Avg. Drawdown [%]": "avg_drawdown_pct",
    "Max. Drawdown Duration": "max_drawdown_duration_days",
    "Avg. Drawdown Duration": "avg_drawdown_duration_days",
    "Win Rate [%]": "win_rate_pct",
    "Best Trade [%]": "best_trade_pct",
    "Worst Trade [%]": "worst_trade_pct",
    "Avg. Trade [%]": "avg_trade_pct",
    "Max. Trade Duration": "max_trade_duration_days",
    "Avg. Trade Duration": "avg_trade_duration_days",
    "Profit Factor": "profit_factor",
    "Expectancy [%]": "expectancy_pct",
    "SQN": "sqn",
    "Kelly Criterion": "kelly_criterion",
    "Exposure Time [%]": "exposure_time_pct",
    "Commissions [$]": "commissions",
}


def reference_run(
    df: pd.DataFrame, strategy: str, params: dict[str, Any], commission: float, cash: float = 10_000
) -> pd.Series:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        bt = Backtest(df, REFERENCE[strategy], cash=cash, commission=commission)
        return bt.run(**params)


def _number(value: Any) -> float:
    if isinstance(value, pd.Timedelta):
        return value / pd.Timedelta(days=1)
    if value is pd.NaT or value is None:
        return math.nan
    return float(value)


def _same(ours: float, theirs: float, rel: float) -> bool:
    if math.isnan(ours) or math.isnan(theirs):
        return math.isnan(ours) and math.isnan(theirs)
    if math.isinf(ours) or math.isinf(theirs):
        return ours == theirs
    return math.isclose(ours, theirs, rel_tol=rel, abs_tol=rel * 1e-3)


def differences(ours: Stats, ref: pd.Series) -> list[str]:
    """Every field where we disagree with backtesting.py, described; empty when we agree."""
    out = []
    for label, field in (EXACT | CLOSE).items():
        theirs_raw = ref.get(label, 0.0)  # backtesting.py omits Commissions when they are 0
        if field.endswith("duration_days") and not isinstance(theirs_raw, pd.Timedelta):
            theirs_raw = math.nan  # a drawdown fraction where no drawdown completed: we say NaN
        theirs = _number(theirs_raw)
        mine = float(getattr(ours, field))
        if field == "trades":
            ok = int(mine) == int(theirs)
        else:
            ok = _same(mine, theirs, 1e-9 if label in EXACT else 1e-6)
        if not ok:
            out.append(f"{label}: ours {mine!r} vs backtesting.py {theirs!r}")
    return out
