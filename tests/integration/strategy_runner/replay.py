"""A replay feed for the runner tests: bars written as a replay CSV, read back by the
platform's replay loader, handed to a runner bar by bar with a paper broker filling its
orders like a dispatcher would."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cluster.marketdata.replay import load_events
from cluster.strategies.runner import Step, StrategyRunner
from domain.backtest.bars import Bars
from domain.marketdata import Bar
from tests.kit.quotes import call

MINUTE = timedelta(minutes=1)
CENT = Decimal("0.01")


def write_replay(path: Path, symbol: str, start: datetime, *, n: int, seed: int = 5) -> Path:
    """A random walk with a trend change half-way (so SMA crosses happen), in cents."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.004, n)
    steps[n // 3 : 2 * n // 3] += 0.002
    close = np.round(100 * np.exp(np.cumsum(steps)), 2)
    open_ = np.round(np.concatenate([[100.0], close[:-1]]) + rng.normal(0, 0.02, n), 2)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["symbol", "timestamp", "open", "high", "low", "close", "volume"])
        for i in range(n):
            o, c = float(open_[i]), float(close[i])
            at = (start + i * MINUTE).strftime("%Y-%m-%dT%H:%M:%SZ")
            w.writerow(
                [symbol, at, f"{o:.2f}", f"{max(o, c) + 0.03:.2f}", f"{min(o, c) - 0.03:.2f}",
                 f"{c:.2f}", 1000]
            )  # fmt: skip
    return path


def replay_bars(path: Path) -> list[Bar]:
    events = load_events(path)
    assert all(isinstance(e, Bar) for e in events)
    return [e for e in events if isinstance(e, Bar)]


def backtest_bars(bars: Sequence[Bar]) -> Bars:
    """The same bars as a backtest reads them."""
    frame = pd.DataFrame(
        {
            "Open": [float(b.open) for b in bars],
            "High": [float(b.high) for b in bars],
            "Low": [float(b.low) for b in bars],
            "Close": [float(b.close) for b in bars],
            "Volume": [float(b.volume) for b in bars],
        },
        index=pd.DatetimeIndex([b.start for b in bars]),
    )
    return Bars.from_frame(frame)


async def play(desk: Any, runner: StrategyRunner, bars: Sequence[Bar]) -> list[Step]:
    """Each bar closes (quote at its close), the runner decides, its order goes to the
    paper broker (the dispatcher's job), and the next bar's open quote fills it."""
    steps: list[Step] = []
    for k, bar in enumerate(bars):
        close_at = bar.start + MINUTE
        await desk.driver.at(close_at - timedelta(seconds=1))
        desk.driver.book(bar.symbol, str(bar.close - CENT), str(bar.close + CENT))
        step = await runner.on_bar(bar)
        if step is None:
            continue
        steps.append(step)
        if step.order_id is not None and step.created and step.status == "pending_new":
            await call(desk.actor.submit.remote(step.order_id))
            nxt = bars[k + 1].open if k + 1 < len(bars) else bar.close
            await desk.driver.step(close_at, (bar.symbol, str(nxt - CENT), str(nxt + CENT)))
    return steps
