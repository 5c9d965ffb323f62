"""Generated OHLC frames: a seeded random walk on a price tick, and a planted regime change."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_walk(
    n: int, seed: int, *, freq: str = "B", vol: float = 0.02, tick: float = 0.01
) -> pd.DataFrame:
    """Prices rounded to ``tick`` (so flat stretches and exact SMA ties occur), gaps at opens."""
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0.0002, vol, n))) / tick) * tick
    close = np.maximum(close, tick)
    open_ = np.maximum(
        np.round(np.r_[close[0], close[:-1]] * (1 + rng.normal(0, vol / 4, n)) / tick) * tick, tick
    )
    high = np.maximum(open_, close) + tick * rng.integers(0, 5, n)
    low = np.maximum(np.minimum(open_, close) - tick * rng.integers(0, 5, n), tick / 2)
    index = pd.date_range("2015-01-05", periods=n, freq=freq)
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": 1000.0}, index=index
    )


def regime_change(n_trend: int, n_revert: int, seed: int) -> pd.DataFrame:
    """Long smooth swings (SMA crossovers profit) followed by anti-persistent noise around a
    level (each move is partly undone on the next bar, so crossovers buy high and sell low)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_trend)
    trend = np.log(100) + 0.25 * np.sin(2 * np.pi * t / 240) + rng.normal(0, 0.003, n_trend)
    y = np.zeros(n_revert)
    for k in range(1, n_revert):
        y[k] = -0.6 * y[k - 1] + rng.normal(0, 0.015)
    close = np.exp(np.r_[trend, trend[-1] + y])
    open_ = np.r_[close[0], close[:-1]]
    index = pd.date_range("2010-01-04", periods=len(close), freq="B")
    return pd.DataFrame(
        {
            "Open": open_,
            "High": np.maximum(open_, close) * 1.001,
            "Low": np.minimum(open_, close) * 0.999,
            "Close": close,
        },
        index=index,
    )
