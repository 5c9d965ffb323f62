"""The bar loop and its statistics, compiled with numba: backtesting.py's numbers, exactly.

One call runs many parameter sets of one strategy on one data set. Indicators arrive
precomputed (rows of ``ind_a``/``ind_b``, shared by every parameter set that uses the same
window); each parameter set picks its rows (``prow``) and its float parameters (``pfloat``).

Exactness: every operation that decides a trade repeats backtesting.py 0.6's float64
arithmetic in the same order (``_Broker._process_orders``, ``_close_trade``, ``_open_trade``):

- the signal is taken on bar ``i``'s close, the market order fills at bar ``i + 1``'s open;
- an order to reverse first closes the open trade, then sizes the new one on the cash left:
  ``units = int((cash * 1.0 * S) // (open + (S * open * c) / S))`` with
  ``S = 1 - sys.float_info.epsilon`` (backtesting.py's "full equity" order size), cancelled when
  zero or when ``units * price_plus_commission > cash``;
- commission ``|size| * price * c`` is paid from cash at entry and at exit; a trade's P&L is
  ``size * (exit - entry) - (exit commission + entry commission)``;
- equity on a bar is ``cash + (close * size - size * entry)``; when it falls to zero or below,
  the position is closed at that close and equity stays 0 (backtesting.py's out-of-money stop);
- the trade still open at the end is not a closed trade (``finalize_trades=False``): it adds to
  the final equity with no exit commission, not to the trade statistics.

Only backtesting.py's defaults are modelled: no spread, margin 1, ``trade_on_close=False``,
``hedging=False``, market orders without stop-loss or take-profit.

The statistics follow ``backtesting._stats.compute_stats`` in float64; sums run in a different
order than numpy's pairwise ones, so those figures agree to about 1e-12, not bit for bit.
"""

from __future__ import annotations

import sys

import numpy as np

from domain.backtest._jit import njit, njit_inline
from domain.backtest.kernel_stats import compute_stats

FULL = 1.0 - sys.float_info.epsilon

# strategy kinds
SMA_CROSS = 0
RSI_REVERSION = 1
BOLLINGER_BREAKOUT = 2
MOMENTUM = 3

# actions decided on a bar's close
NONE = 0
GO_LONG = 1  # close whatever is open, then buy with full equity
GO_SHORT = -1  # close whatever is open, then sell short with full equity
CLOSE = 2

# columns of the statistics matrix, in Stats field order
N_STATS = 29


@njit_inline
def bar_action(kind, i, pos, close, ind_a, ind_b, r0, r1, f0, f1):  # type: ignore[no-untyped-def]
    """What the strategy orders on bar ``i``'s close, given the position ``pos`` (sign).

    Public on purpose: this is the one implementation of every strategy's rule. ``simulate``
    calls it on each bar (inlined by numba) and the live runner calls it on each closed bar
    (``domain.strategy.signals.decide``), so a backtest and a live instance cannot drift
    apart. Arguments are the kernel's own: ``kind`` (``SMA_CROSS``...), the bar index ``i``
    (at least 1: crossovers read bar ``i - 1``), the position sign ``pos`` (-1, 0, 1), the
    closes, the indicator matrices ``ind_a``/``ind_b`` with the parameter set's rows
    ``r0``/``r1`` and float parameters ``f0``/``f1`` (as ``strategies.prepare`` lays them
    out). Returns ``NONE``, ``GO_LONG``, ``GO_SHORT`` or ``CLOSE``; the order fills at the
    next bar's open, which is the caller's business.
    """
    if kind == SMA_CROSS:
        a0 = ind_a[r0, i - 1]
        a1 = ind_a[r0, i]
        b0 = ind_a[r1, i - 1]
        b1 = ind_a[r1, i]
        if a0 < b0 and a1 > b1:
            return GO_LONG
        if b0 < a0 and b1 > a1:
            return GO_SHORT
        return NONE
    if kind == RSI_REVERSION:
        rsi = ind_a[r0, i]
        if rsi < f0:
            return GO_LONG if pos == 0 else NONE
        if rsi > f1 and pos != 0:
            return CLOSE
        return NONE
    if kind == BOLLINGER_BREAKOUT:
        mid = ind_a[r0, i]
        dev = f0 * ind_b[r0, i]
        c = close[i]
        if c > mid + dev:
            return GO_LONG if pos <= 0 else NONE
        if c < mid - dev:
            return GO_SHORT if pos >= 0 else NONE
        if pos > 0 and c < mid:
            return CLOSE
        if pos < 0 and c > mid:
            return CLOSE
        return NONE
    # MOMENTUM
    roc = ind_a[r0, i]
    if roc > f0:
        return GO_LONG if pos <= 0 else NONE
    if roc < -f0:
        return GO_SHORT if pos >= 0 else NONE
    return NONE


@njit
def simulate(  # type: ignore[no-untyped-def]
    kind,
    open_,
    close,
    ind_a,
    ind_b,
    r0,
    r1,
    f0,
    f1,
    start,
    cash0,
    comm,
    eq,
    t_ebar,
    t_xbar,
    t_size,
    t_epx,
    t_xpx,
    t_comm,
):
    """Run one parameter set; fill ``eq`` and the closed-trade arrays, return the trade count."""
    n = len(close)
    cash = cash0
    size = 0
    entry_px = 0.0
    entry_bar = 0
    pending = NONE
    ntr = 0
    for k in range(min(start, n)):
        eq[k] = cash0
    for i in range(start, n):
        if pending != NONE:
            px = open_[i]
            if size != 0:
                exit_comm = abs(size) * px * comm
                cash += size * (px - entry_px) - exit_comm
                t_ebar[ntr] = entry_bar
                t_xbar[ntr] = i
                t_size[ntr] = size
                t_epx[ntr] = entry_px
                t_xpx[ntr] = px
                t_comm[ntr] = exit_comm + abs(size) * entry_px * comm
                ntr += 1
                size = 0
            if pending != CLOSE:
                adj = px + (FULL * px * comm) / FULL
                avail = cash if cash > 0.0 else 0.0
                units = int((avail * 1.0 * FULL) // adj)
                if units != 0 and not units * adj > avail * 1.0:
                    size = units * pending
                    entry_px = px
                    entry_bar = i
                    cash -= abs(size) * px * comm
            pending = NONE
        equity = cash + (close[i] * size - size * entry_px)
        eq[i] = equity
        if equity <= 0.0:
            if size != 0:
                px = close[i]
                exit_comm = abs(size) * px * comm
                t_ebar[ntr] = entry_bar
                t_xbar[ntr] = i
                t_size[ntr] = size
                t_epx[ntr] = entry_px
                t_xpx[ntr] = px
                t_comm[ntr] = exit_comm + abs(size) * entry_px * comm
                ntr += 1
            for k in range(i, n):
                eq[k] = 0.0
            break
        pos = 1 if size > 0 else (-1 if size < 0 else 0)
        pending = bar_action(kind, i, pos, close, ind_a, ind_b, r0, r1, f0, f1)
    return ntr


@njit
def run_batch(  # type: ignore[no-untyped-def]
    kind,
    open_,
    close,
    ind_a,
    ind_b,
    prow,
    pfloat,
    warmup,
    cash0,
    comm,
    stamps,
    period,
    annual,
    res_ns,
    years,
    mdev,
    mdev_sum,
    mss,
    out,
):
    """Backtest every parameter set (rows of ``prow``/``pfloat``); statistics into ``out``."""
    n = len(close)
    eq = np.empty(n)
    buf = np.empty(n)
    t_ebar = np.empty(n, np.int64)
    t_xbar = np.empty(n, np.int64)
    t_size = np.empty(n, np.int64)
    t_epx = np.empty(n)
    t_xpx = np.empty(n)
    t_comm = np.empty(n)
    for j in range(prow.shape[0]):
        ntr = simulate(
            kind,
            open_,
            close,
            ind_a,
            ind_b,
            prow[j, 0],
            prow[j, 1],
            pfloat[j, 0],
            pfloat[j, 1],
            warmup[j] + 1,
            cash0,
            comm,
            eq,
            t_ebar,
            t_xbar,
            t_size,
            t_epx,
            t_xpx,
            t_comm,
        )
        compute_stats(
            eq,
            ntr,
            t_ebar,
            t_xbar,
            t_size,
            t_epx,
            t_xpx,
            t_comm,
            close,
            warmup[j],
            stamps,
            period,
            annual,
            res_ns,
            years,
            mdev,
            mdev_sum,
            mss,
            buf,
            out[j],
        )
