"""backtesting.py's ``compute_stats`` for one run, compiled: one pass over the equity curve.

Two shortcuts, both within 1e-12 of pandas' arithmetic: the geometric mean of period returns
is taken from the telescoping product (last / first period equity) instead of a sum of logs,
and the equity's log returns for beta are only evaluated where equity moved (log 1 = 0).
Where backtesting.py's drawdown duration degenerates to a drawdown fraction (no completed
drawdown at all) we report NaN instead of that fraction.
"""

from __future__ import annotations

import numpy as np

from domain.backtest._jit import njit

DAY_NS = 86_400_000_000_000
NAN = np.nan


@njit
def _ceil_days(value_ns, res_ns):  # type: ignore[no-untyped-def]
    return (-((-value_ns) // res_ns) * res_ns) / DAY_NS


@njit
def _drawdowns(eq, stamps, res_ns, out):  # type: ignore[no-untyped-def]
    """Max drawdown, average peak drawdown and their durations (columns 12-15)."""
    n = len(eq)
    peak = eq[0]
    dd_max = 0.0
    last_zero = 0
    run_max = 0.0
    count = 0
    sum_peak = 0.0
    dur_max = 0
    dur_sum = 0.0
    dd = 0.0
    for k in range(n):
        if eq[k] > peak:
            peak = eq[k]
        dd = 1.0 - eq[k] / peak
        if dd > dd_max:
            dd_max = dd
        if dd > run_max:
            run_max = dd
        if dd == 0.0 or k == n - 1:
            if k > last_zero + 1:
                count += 1
                sum_peak += run_max
                dur = stamps[k] - stamps[last_zero]
                dur_sum += dur
                if dur > dur_max:
                    dur_max = dur
            last_zero = k
            run_max = 0.0
    out[12] = -dd_max * 100.0
    if count:
        out[13] = -(sum_peak / count) * 100.0
        out[14] = _ceil_days(dur_max, res_ns)
        out[15] = _ceil_days(np.int64(dur_sum / count), res_ns)
    else:
        out[13] = -dd * 100.0 if dd != 0.0 else NAN
        out[14] = NAN
        out[15] = NAN
    return dd_max


@njit
def _period_returns(eq, period, annual, buf, out):  # type: ignore[no-untyped-def]
    """Annualized return, volatility, Sortino (columns 4, 5, 8) from per-period returns."""
    n = len(eq)
    m = 0
    prev = NAN
    first = NAN
    last = NAN
    nonpositive = False
    for k in range(n):
        if k == n - 1 or period[k] != period[k + 1]:
            value = eq[k]
            if prev == prev:
                r = value / prev - 1.0
                if r == r:
                    buf[m] = r
                    m += 1
                    if r + 1.0 <= 0.0:
                        nonpositive = True
                    if first != first:
                        first = prev
                    last = value
            prev = value
    if m == 0:
        gmean = NAN
    elif nonpositive:
        gmean = 0.0
    else:
        gmean = np.exp(np.log(last / first) / m) - 1.0
    mean = 0.0
    for j in range(m):
        mean += buf[j]
    mean = mean / m if m else NAN
    ss = 0.0
    down = 0.0
    for j in range(m):
        d = buf[j] - mean
        ss += d * d
        if buf[j] < 0.0:
            down += buf[j] * buf[j]
    var = ss / (m - 1) if m > 1 else NAN
    growth = 1.0 + gmean
    annualized = growth**annual - 1.0
    out[4] = annualized * 100.0
    out[5] = np.sqrt((var + growth**2) ** annual - growth ** (2 * annual)) * 100.0
    out[8] = annualized / (np.sqrt(down / m if m else NAN) * np.sqrt(annual))
    return annualized


@njit
def _beta(eq, mdev, mdev_sum, mss):  # type: ignore[no-untyped-def]
    n = len(eq)
    if n - 1 <= 1:
        return NAN
    sx = 0.0
    sxy = 0.0
    for k in range(1, n):
        if eq[k] <= 0.0:
            return NAN
        if eq[k] != eq[k - 1]:
            x = np.log(eq[k] / eq[k - 1])
            sx += x
            sxy += x * mdev[k - 1]
    return (sxy - (sx / (n - 1)) * mdev_sum) / mss


@njit
def _trades(ntr, t_ebar, t_xbar, t_size, t_epx, t_xpx, t_comm, stamps, res_ns, n, out):  # type: ignore[no-untyped-def]
    """Trade statistics (columns 16-28)."""
    wins = 0
    best = -np.inf
    worst = np.inf
    log_sum = 0.0
    nonpositive = False
    dur_max = 0
    dur_sum = 0.0
    ret_pos = 0.0
    ret_neg = 0.0
    ret_sum = 0.0
    pl_sum = 0.0
    pl_win = 0.0
    pl_loss = 0.0
    losses = 0
    covered = 0
    last_exit = -1
    comm_sum = 0.0
    for k in range(ntr):
        size = t_size[k]
        entry = t_epx[k]
        pl = size * (t_xpx[k] - entry) - t_comm[k]
        sign = 1.0 if size > 0 else -1.0
        ret = sign * (t_xpx[k] / entry - 1.0) - t_comm[k] / (abs(size) * entry)
        if pl > 0:
            wins += 1
            pl_win += pl
        elif pl < 0:
            losses += 1
            pl_loss += pl
        best = max(best, ret)
        worst = min(worst, ret)
        if ret + 1.0 <= 0.0:
            nonpositive = True
        else:
            log_sum += np.log(ret + 1.0)
        dur = stamps[t_xbar[k]] - stamps[t_ebar[k]]
        dur_sum += dur
        dur_max = max(dur_max, dur)
        if ret > 0:
            ret_pos += ret
        elif ret < 0:
            ret_neg += ret
        ret_sum += ret
        pl_sum += pl
        covered += t_xbar[k] - t_ebar[k] + (0 if t_ebar[k] == last_exit else 1)
        last_exit = t_xbar[k]
        comm_sum += t_comm[k]
    out[16] = ntr
    out[27] = covered / n * 100.0
    out[28] = comm_sum
    if ntr == 0:
        for c in range(17, 27):
            out[c] = NAN
        return
    win_rate = wins / ntr
    out[17] = win_rate * 100.0
    out[18] = best * 100.0
    out[19] = worst * 100.0
    out[20] = 0.0 if nonpositive else (np.exp(log_sum / ntr) - 1.0) * 100.0
    out[21] = _ceil_days(dur_max, res_ns)
    out[22] = _ceil_days(np.int64(dur_sum / ntr), res_ns)
    out[23] = ret_pos / (abs(ret_neg) if ret_neg != 0.0 else NAN)
    out[24] = ret_sum / ntr * 100.0
    pl_mean = pl_sum / ntr
    ss = 0.0
    for k in range(ntr):
        d = t_size[k] * (t_xpx[k] - t_epx[k]) - t_comm[k] - pl_mean
        ss += d * d
    std = np.sqrt(ss / (ntr - 1)) if ntr > 1 else NAN
    out[25] = np.sqrt(ntr) * pl_mean / (std if std != 0.0 else NAN)
    mean_win = pl_win / wins if wins else NAN
    mean_loss = pl_loss / losses if losses else NAN
    out[26] = win_rate - (1.0 - win_rate) / (mean_win / -mean_loss)


@njit
def compute_stats(  # type: ignore[no-untyped-def]
    eq,
    ntr,
    t_ebar,
    t_xbar,
    t_size,
    t_epx,
    t_xpx,
    t_comm,
    close,
    warmup,
    stamps,
    period,
    annual,
    res_ns,
    years,
    mdev,
    mdev_sum,
    mss,
    buf,
    out,
):
    """Fill ``out`` (length N_STATS) with the statistics of one run."""
    n = len(eq)
    e0 = eq[0]
    ef = eq[n - 1]
    out[0] = ef
    out[1] = eq.max()
    out[2] = (ef - e0) / e0 * 100.0
    cw = close[warmup]
    out[3] = (close[n - 1] - cw) / cw * 100.0
    annualized = _period_returns(eq, period, annual, buf, out)
    out[6] = ((ef / e0) ** (1.0 / years) - 1.0) * 100.0 if years else NAN
    out[7] = out[4] / (out[5] if out[5] != 0.0 else NAN)
    dd_max = _drawdowns(eq, stamps, res_ns, out)
    out[9] = annualized / (dd_max if dd_max != 0.0 else NAN)
    beta = _beta(eq, mdev, mdev_sum, mss)
    out[10] = out[2] - beta * out[3]
    out[11] = beta
    _trades(ntr, t_ebar, t_xbar, t_size, t_epx, t_xpx, t_comm, stamps, res_ns, n, out)
