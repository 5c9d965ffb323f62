"""The four strategies: their parameter spaces, indicators and trading rules.

Every strategy runs on the same engine (``kernel.py``): the rule is evaluated on a bar's
close, the market order fills at the next bar's open with all equity in whole units, and a
new position first closes the old one.

- ``sma_cross``: backtesting.py's ``SmaCross``. When SMA(n1) crosses above SMA(n2) (strictly:
  below on the previous bar, above on this one) close and buy; on the opposite cross close and
  sell short. It re-enters even when already on that side (after an exact tie).
- ``rsi_reversion``: long only. Wilder's RSI(n) below ``lower`` while flat: buy; above
  ``upper`` while long: close.
- ``bollinger_breakout``: long/short. Close above SMA(n) + k * std(n) (population std): go
  long unless long; below SMA(n) - k * std(n): go short unless short; otherwise a long closes
  when Close falls below the middle band and a short when Close rises above it.
- ``momentum``: long/short. Rate of change ``Close / Close[n bars ago] - 1`` above
  ``threshold``: go long unless long; below ``-threshold``: go short unless short.

Indicators are computed once per data set and window with pandas (the SMA is pandas'
``rolling(n).mean()``, whose running-sum arithmetic decides exact ties) and cached on the bars.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from domain.backtest import kernel
from domain.backtest.bars import Bars
from domain.backtest.params import Params, ParamSpec, StrategySpec
from domain.errors import ValidationFailed

__all__ = ["STRATEGIES", "Prepared", "get_strategy", "prepare", "roc", "rolling_std", "rsi", "sma"]


def sma(close: np.ndarray, n: int) -> np.ndarray:
    return pd.Series(close).rolling(n).mean().to_numpy(dtype=np.float64)


def rolling_std(close: np.ndarray, n: int) -> np.ndarray:
    return pd.Series(close).rolling(n).std(ddof=0).to_numpy(dtype=np.float64)


def rsi(close: np.ndarray, n: int) -> np.ndarray:
    """Wilder's RSI: exponential averages (alpha 1/n) of gains and losses, NaN for n bars."""
    delta = pd.Series(close).diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / n, min_periods=n, adjust=False).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / n, min_periods=n, adjust=False).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100 - 100 / (1 + gain.to_numpy() / loss.to_numpy())
    return np.asarray(out, dtype=np.float64)


def roc(close: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(close), np.nan)
    if n < len(close):
        out[n:] = close[n:] / close[:-n] - 1
    return out


_INDICATORS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "sma": sma,
    "std": rolling_std,
    "rsi": rsi,
    "roc": roc,
}


def _indicator(bars: Bars, name: str, n: int) -> tuple[np.ndarray, int]:
    """The indicator and its first non-NaN bar (0 when all NaN, as backtesting.py has it)."""
    key = (name, n)
    hit = bars._cache.get(key)
    if hit is None:
        values = _INDICATORS[name](bars.close, n)
        hit = bars._cache[key] = (values, int(np.isnan(values).argmin()))
    return hit  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Prepared:
    """Kernel inputs for a batch of parameter sets of one strategy on one data set."""

    kind: int
    ind_a: np.ndarray
    ind_b: np.ndarray
    prow: np.ndarray
    pfloat: np.ndarray
    warmup: np.ndarray


def _rows(
    bars: Bars, name: str, windows: list[int]
) -> tuple[np.ndarray, dict[int, int], dict[int, int]]:
    distinct = sorted(set(windows))
    pairs = [_indicator(bars, name, w) for w in distinct]
    rows = np.vstack([p[0] for p in pairs]) if pairs else np.empty((1, len(bars)))
    return (
        np.ascontiguousarray(rows),
        {w: i for i, w in enumerate(distinct)},
        {w: p[1] for w, p in zip(distinct, pairs, strict=True)},
    )


def prepare(bars: Bars, strategy: str, params: list[Params]) -> Prepared:
    """Indicators (each window once) and per-set row indices, floats and warm-up bars."""
    m = len(params)
    prow = np.zeros((m, 2), dtype=np.int64)
    pfloat = np.zeros((m, 2), dtype=np.float64)
    warmup = np.zeros(m, dtype=np.int64)
    dummy = np.zeros((1, 1))
    if strategy == "sma_cross":
        ind_a, row, first = _rows(bars, "sma", [int(p[k]) for p in params for k in ("n1", "n2")])
        for j, p in enumerate(params):
            a, b = int(p["n1"]), int(p["n2"])
            prow[j] = row[a], row[b]
            warmup[j] = max(first[a], first[b])
        return Prepared(kernel.SMA_CROSS, ind_a, dummy, prow, pfloat, warmup)
    windows = [int(p["n"]) for p in params]
    if strategy == "rsi_reversion":
        ind_a, row, first = _rows(bars, "rsi", windows)
        ind_b, kind = dummy, kernel.RSI_REVERSION
        floats = [(float(p["lower"]), float(p["upper"])) for p in params]
    elif strategy == "bollinger_breakout":
        ind_a, row, first = _rows(bars, "sma", windows)
        ind_b, _, _ = _rows(bars, "std", windows)
        kind = kernel.BOLLINGER_BREAKOUT
        floats = [(float(p["k"]), 0.0) for p in params]
    else:
        ind_a, row, first = _rows(bars, "roc", windows)
        ind_b, kind = dummy, kernel.MOMENTUM
        floats = [(float(p["threshold"]), 0.0) for p in params]
    for j, w in enumerate(windows):
        prow[j, 0] = row[w]
        pfloat[j] = floats[j]
        warmup[j] = first[w]
    return Prepared(kind, ind_a, ind_b, prow, pfloat, warmup)


_SPECS = (
    StrategySpec(
        "sma_cross",
        "SMA crossover (backtesting.py's SmaCross): long when SMA(n1) crosses above SMA(n2), "
        "short on the opposite cross.",
        (ParamSpec("n1", 2, 100, 1), ParamSpec("n2", 3, 300, 1)),
        ("n1 < n2",),
    ),
    StrategySpec(
        "rsi_reversion",
        "RSI mean reversion, long only: buy when RSI(n) < lower, close when RSI(n) > upper.",
        (ParamSpec("n", 2, 50, 1), ParamSpec("lower", 5, 45, 1), ParamSpec("upper", 55, 95, 1)),
        ("lower < upper",),
    ),
    StrategySpec(
        "bollinger_breakout",
        "Bollinger breakout, long/short: enter on a close outside SMA(n) +/- k std(n), "
        "exit when the close crosses back over the middle band.",
        (ParamSpec("n", 5, 100, 1), ParamSpec("k", 0.5, 4.0, 0.1, integer=False)),
    ),
    StrategySpec(
        "momentum",
        "Momentum, long/short: long when the n-bar rate of change > threshold, short when "
        "< -threshold.",
        (ParamSpec("n", 2, 200, 1), ParamSpec("threshold", 0.0, 0.2, 0.005, integer=False)),
    ),
)

STRATEGIES: Mapping[str, StrategySpec] = MappingProxyType({s.name: s for s in _SPECS})


def get_strategy(name: str) -> StrategySpec:
    spec = STRATEGIES.get(name)
    if spec is None:
        raise ValidationFailed("strategy", "unknown", f"unknown strategy {name!r}")
    return spec
