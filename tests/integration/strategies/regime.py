"""A bar file with a planted regime change: a slow swing that an SMA crossover rides, then
a choppy range that whipsaws it. Deterministic (seeded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from domain.backtest.bars import Bars
from domain.backtest.engine import run_backtest

CHANGE_AT = 400
N_BARS = 700


def regime_frame(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(N_BARS)
    swing = 100 + 20 * np.sin(2 * np.pi * t[:CHANGE_AT] / 120)
    chop = swing[-1] + 6 * np.sign(np.sin(2 * np.pi * (t[CHANGE_AT:] - CHANGE_AT) / 24))
    close = np.concatenate([swing, chop]) + rng.normal(0, 0.3, N_BARS)
    open_ = np.concatenate([[close[0]], close[:-1]])
    frame = pd.DataFrame(
        {
            "Open": open_,
            "High": np.maximum(open_, close) + 0.2,
            "Low": np.minimum(open_, close) - 0.2,
            "Close": close,
            "Volume": 1000.0,
        },
        index=pd.bdate_range("2022-01-03", periods=N_BARS, name="Date"),
    )
    return frame


def write_regime_csv(path: Path) -> Path:
    regime_frame().to_csv(path)
    return path


def window_scores(
    params: dict[str, int], starts: range, length: int = 100, objective: str = "sharpe_ratio"
) -> list[float]:
    """The kernel's score of ``params`` on each window: what a live sampler would report
    for a runner trading those bars (the runner computes signals with the same kernel)."""
    bars = Bars.from_frame(regime_frame())
    return [
        float(getattr(run_backtest(bars.slice(s, s + length), "sma_cross", params), objective))
        for s in starts
    ]
