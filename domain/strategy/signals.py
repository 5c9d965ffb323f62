"""The decision a strategy takes on a bar's close: the backtest kernel's own rule.

One implementation of each strategy, not two: :func:`decide` prepares the indicators with
``domain.backtest.strategies.prepare`` (the same pandas arithmetic, the same warm-up bar)
and asks the kernel's per-bar rule, ``kernel.bar_action``, the function ``kernel.simulate``
calls on every bar. The runner therefore decides, on the close of bar ``t``, exactly what a
backtest over the same bars decides on bar ``t`` given the same position sign.

Why the whole history and not a window: pandas' rolling mean is a running sum and Wilder's
RSI an exponential average from the first bar, so their last bits depend on where the data
starts; a crossover decided on an exact tie must see the same start as the backtest. The
runner keeps every bar since it started (bounded by its ``max_history``).

:func:`trace` replays a series bar by bar the way a runner does (position sign taken from
the runner's own earlier decisions), which is what the parity tests compare with the trades
of ``kernel.simulate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from domain.backtest import kernel
from domain.backtest.bars import Bars
from domain.backtest.strategies import get_strategy, prepare

__all__ = ["Decision", "Signal", "decide", "position_after", "trace"]


class Decision(IntEnum):
    """The kernel's action codes, named."""

    HOLD = kernel.NONE
    GO_LONG = kernel.GO_LONG
    GO_SHORT = kernel.GO_SHORT
    CLOSE = kernel.CLOSE


@dataclass(frozen=True)
class Signal:
    """A decision taken on the close of bar ``bar`` (its index in the history)."""

    bar: int
    decision: Decision


def position_after(position: int, decision: Decision) -> int:
    """The position sign once ``decision`` is carried out (the kernel's, when it fills)."""
    if decision is Decision.GO_LONG:
        return 1
    if decision is Decision.GO_SHORT:
        return -1
    if decision is Decision.CLOSE:
        return 0
    return position


def decide(bars: Bars, strategy: str, params: Mapping[str, float | int], position: int) -> Decision:
    """The decision on the close of the last bar of ``bars`` holding ``position`` (sign)."""
    p = get_strategy(strategy).validate(params)
    prep = prepare(bars, strategy, [p])
    i = len(bars) - 1
    if i < int(prep.warmup[0]) + 1:  # the kernel's first decision bar is warm-up + 1
        return Decision.HOLD
    sign = 1 if position > 0 else (-1 if position < 0 else 0)
    with np.errstate(all="ignore"):
        action = kernel.bar_action(  # the kernel's per-bar rule, shared on purpose
            prep.kind,
            i,
            sign,
            bars.close,
            prep.ind_a,
            prep.ind_b,
            prep.prow[0, 0],
            prep.prow[0, 1],
            prep.pfloat[0, 0],
            prep.pfloat[0, 1],
        )
    return Decision(int(action))


def trace(bars: Bars, strategy: str, params: Mapping[str, float | int]) -> list[Signal]:
    """Every non-hold decision a runner fed ``bars`` one by one would take, in order."""
    out: list[Signal] = []
    position = 0
    for t in range(1, len(bars) + 1):
        decision = decide(bars.slice(0, t), strategy, params, position)
        if decision is not Decision.HOLD:
            out.append(Signal(t - 1, decision))
            position = position_after(position, decision)
    return out
