"""Facts about a data set's timestamps that backtesting.py's statistics depend on.

backtesting.py annualizes with the median spacing of the last 100 bars: weekly data has 52
periods a year, monthly 12, yearly 1, anything else is resampled to calendar days with 365
periods when a good share of bars fall on weekends and 252 otherwise. Durations are rounded up
to the finest unit of that spacing. All of it is fixed per data set, so it is computed once
and shared by every backtest on the same bars.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from domain.backtest.bars import Bars

__all__ = ["Calendar", "calendar_of"]

DAY_NS = 86_400_000_000_000
_UNITS_NS = (1, 1_000, 1_000_000, 1_000_000_000, 60_000_000_000, 3_600_000_000_000)


@dataclass(frozen=True)
class Calendar:
    stamps: np.ndarray  # int64 nanoseconds since the epoch, UTC
    period: np.ndarray  # int64 id of the resampling bin (day, week, month, year) of each bar
    annual_periods: float
    resolution_ns: int  # durations are rounded up to a multiple of this
    years: float  # (last - first) in years of 365.25 days, as backtesting.py's CAGR has it
    market_dev: np.ndarray  # log returns of Close minus their mean (for beta)
    market_dev_sum: float
    market_ss: float


def _resolution_ns(period_ns: int) -> int:
    """pandas ``Timedelta.resolution_string`` as nanoseconds: the finest nonzero unit."""
    for unit, coarser in zip(_UNITS_NS, (*_UNITS_NS[1:], DAY_NS), strict=True):
        if period_ns % coarser:
            return unit
    return DAY_NS


def _build(bars: Bars) -> Calendar:
    stamps = bars.index.view(np.int64)
    diffs = np.diff(stamps[-100:])
    period_ns = int(np.median(diffs)) if len(diffs) else DAY_NS
    freq_days = period_ns // DAY_NS
    days = stamps // DAY_NS
    weekend_share = float(np.mean(((days + 3) % 7) >= 5))
    if freq_days == 7:
        annual, period = 52.0, (days + 3) // 7  # calendar weeks, Monday to Sunday
    elif freq_days == 31:
        annual, period = 12.0, bars.index.astype("datetime64[M]").view(np.int64)
    elif freq_days == 365:
        annual, period = 1.0, bars.index.astype("datetime64[Y]").view(np.int64)
    else:
        annual = 365.0 if weekend_share > 2 / 7 * 0.6 else 252.0
        period = days
    span = int(stamps[-1] - stamps[0])
    whole_days, rest = divmod(span, DAY_NS)
    years = (whole_days + (rest // 1_000_000_000) / 86400) / 365.25
    close = bars.close
    market = np.log(close[1:] / close[:-1])
    dev = market - market.mean() if len(market) else market
    return Calendar(
        stamps=np.ascontiguousarray(stamps, dtype=np.int64),
        period=np.ascontiguousarray(period, dtype=np.int64),
        annual_periods=annual,
        resolution_ns=_resolution_ns(period_ns),
        years=years,
        market_dev=np.ascontiguousarray(dev, dtype=np.float64),
        market_dev_sum=float(dev.sum()),
        market_ss=float((dev * dev).sum()),
    )


def calendar_of(bars: Bars) -> Calendar:
    """The calendar of ``bars``, computed on first use and kept with them."""
    cal = bars._cache.get("calendar")
    if cal is None:
        cal = bars._cache["calendar"] = _build(bars)
    assert isinstance(cal, Calendar)
    return cal
