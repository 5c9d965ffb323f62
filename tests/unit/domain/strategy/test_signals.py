"""Parity: the runner's bar-by-bar decisions give the kernel's own trades (acceptance 1)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from domain.backtest import kernel
from domain.backtest.bars import Bars
from domain.backtest.strategies import get_strategy, prepare
from domain.strategy.signals import Decision, Signal, decide, position_after, trace


def _bars(n: int = 240, seed: int = 3) -> Bars:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.012, n)
    steps[n // 2 :] += 0.004  # a trend in the second half: every rule trades
    close = np.round(100 * np.exp(np.cumsum(steps)), 2)
    close[60:66] = close[59]  # flat bars: exact SMA ties, the strict-cross edge
    open_ = np.round(close * (1 + rng.normal(0, 0.002, n)), 2)
    high = np.maximum(open_, close) + 0.05
    low = np.minimum(open_, close) - 0.05
    idx = pd.date_range("2026-11-24 14:30", periods=n, freq="1min")
    frame = pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close}, index=idx)
    return Bars.from_frame(frame)


def _kernel_trades(
    bars: Bars, strategy: str, params: dict[str, float]
) -> list[tuple[int, int, int]]:
    """(entry bar, exit bar, side) of every closed trade of ``kernel.simulate``."""
    p = get_strategy(strategy).validate(params)
    prep = prepare(bars, strategy, [p])
    n = len(bars)
    eq = np.empty(n)
    arrays = [np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)]
    floats = [np.empty(n), np.empty(n), np.empty(n)]
    ntr = kernel.simulate(
        prep.kind, bars.open, bars.close, prep.ind_a, prep.ind_b, prep.prow[0, 0],
        prep.prow[0, 1], prep.pfloat[0, 0], prep.pfloat[0, 1], int(prep.warmup[0]) + 1,
        1e9, 0.0, eq, *arrays, *floats,
    )  # fmt: skip
    ebar, xbar, size = arrays
    return [(int(ebar[k]), int(xbar[k]), int(np.sign(size[k]))) for k in range(ntr)]


def _runner_trades(signals: list[Signal], n: int) -> list[tuple[int, int, int]]:
    """Closed trades implied by the decisions: each fills at the next bar's open."""
    trades: list[tuple[int, int, int]] = []
    side, entry = 0, 0
    for s in signals:
        fill = s.bar + 1
        if fill >= n:
            break  # decided on the last bar: the kernel never fills it either
        if side != 0:
            trades.append((entry, fill, side))
        side = position_after(0, s.decision)
        entry = fill
    return trades


CASES = [
    ("sma_cross", {"n1": 5, "n2": 20}),
    ("sma_cross", {"n1": 3, "n2": 8}),
    ("rsi_reversion", {"n": 6, "lower": 35, "upper": 60}),
    ("bollinger_breakout", {"n": 15, "k": 1.5}),
    ("momentum", {"n": 10, "threshold": 0.01}),
]


@pytest.mark.parametrize(("strategy", "params"), CASES)
def test_trace_when_fed_bar_by_bar_then_same_trades_as_kernel(
    strategy: str, params: dict[str, float]
) -> None:
    bars = _bars()
    signals = trace(bars, strategy, params)
    expected = _kernel_trades(bars, strategy, params)
    assert len(expected) >= 3, "the series must make the strategy trade"
    assert _runner_trades(signals, len(bars)) == expected


def test_decide_before_warmup_then_holds() -> None:
    bars = _bars().slice(0, 15)
    assert decide(bars, "sma_cross", {"n1": 5, "n2": 20}, 0) is Decision.HOLD


def test_decide_rsi_when_long_then_never_enters_again() -> None:
    bars = _bars()
    signals = trace(bars, "rsi_reversion", {"n": 6, "lower": 35, "upper": 60})
    # long only, alternating: an entry is always followed by a close
    kinds = [s.decision for s in signals]
    assert set(kinds) <= {Decision.GO_LONG, Decision.CLOSE}
    assert all(a is not b for a, b in itertools.pairwise(kinds))


def test_decide_when_params_invalid_then_refused() -> None:
    from domain.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        decide(_bars(), "sma_cross", {"n1": 30, "n2": 20}, 0)


@pytest.mark.parametrize(
    ("position", "decision", "after"),
    [
        (0, Decision.HOLD, 0),
        (1, Decision.HOLD, 1),
        (0, Decision.GO_LONG, 1),
        (-1, Decision.GO_LONG, 1),
        (1, Decision.GO_SHORT, -1),
        (1, Decision.CLOSE, 0),
        (-1, Decision.CLOSE, 0),
    ],
)
def test_position_after(position: int, decision: Decision, after: int) -> None:
    assert position_after(position, decision) == after
