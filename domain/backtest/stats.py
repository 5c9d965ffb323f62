"""Per-run statistics with backtesting.py's meaning, and objectives to rank runs by.

Field names are backtesting.py's labels in snake case (``Equity Final [$]`` ->
``equity_final``); durations are in days after backtesting.py's rounding up to the data's
resolution. A figure is NaN exactly where backtesting.py's is NaN (or infinite where it
divides by zero); ``as_dict`` turns every non-finite figure into None so that it stores as
JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import astuple, dataclass, fields
from types import MappingProxyType
from typing import Literal

import numpy as np

from domain.errors import ValidationFailed

__all__ = ["OBJECTIVES", "STAT_FIELDS", "Stats", "best_index", "score"]


@dataclass(frozen=True)
class Stats:
    equity_final: float
    equity_peak: float
    return_pct: float
    buy_hold_return_pct: float
    return_ann_pct: float
    volatility_ann_pct: float
    cagr_pct: float
    sharpe_ratio: float
    sortino_ratio: float
    calmar_ratio: float
    alpha_pct: float
    beta: float
    max_drawdown_pct: float
    avg_drawdown_pct: float
    max_drawdown_duration_days: float
    avg_drawdown_duration_days: float
    trades: int
    win_rate_pct: float
    best_trade_pct: float
    worst_trade_pct: float
    avg_trade_pct: float
    max_trade_duration_days: float
    avg_trade_duration_days: float
    profit_factor: float
    expectancy_pct: float
    sqn: float
    kelly_criterion: float
    exposure_time_pct: float
    commissions: float

    @classmethod
    def from_row(cls, row: np.ndarray) -> Stats:
        """From a kernel row; skips the frozen ``__init__`` (30x faster, same object)."""
        values = row.tolist()
        values[16] = int(values[16])
        obj = object.__new__(cls)
        obj.__dict__.update(zip(STAT_FIELDS, values, strict=True))
        return obj

    def as_dict(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {}
        for f, v in zip(STAT_FIELDS, astuple(self), strict=True):
            out[f] = v if isinstance(v, int) or math.isfinite(v) else None
        return out


STAT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Stats))

Direction = Literal["maximize", "minimize"]
OBJECTIVES: Mapping[str, Direction] = MappingProxyType(
    {
        "equity_final": "maximize",
        "return_pct": "maximize",
        "return_ann_pct": "maximize",
        "cagr_pct": "maximize",
        "volatility_ann_pct": "minimize",
        "sharpe_ratio": "maximize",
        "sortino_ratio": "maximize",
        "calmar_ratio": "maximize",
        "alpha_pct": "maximize",
        "max_drawdown_pct": "maximize",  # negative figures: closer to 0 is better
        "avg_drawdown_pct": "maximize",
        "max_drawdown_duration_days": "minimize",
        "win_rate_pct": "maximize",
        "avg_trade_pct": "maximize",
        "profit_factor": "maximize",
        "expectancy_pct": "maximize",
        "sqn": "maximize",
        "kelly_criterion": "maximize",
        "commissions": "minimize",
    }
)


def score(
    stats: Stats, objective: str | Callable[[Stats], float], min_trades: int = 0
) -> float | None:
    """The objective's value for one run; None when filtered out or not a finite number.

    A named objective is the raw statistic (rank with :data:`OBJECTIVES`' direction); a
    callable is taken as "higher is better".
    """
    if stats.trades < min_trades:
        return None
    if callable(objective):
        value = float(objective(stats))
    else:
        if objective not in OBJECTIVES:
            raise ValidationFailed("objective", "unknown", f"unknown objective {objective!r}")
        value = float(getattr(stats, objective))
    return value if math.isfinite(value) else None


def direction(objective: str | Callable[[Stats], float]) -> Direction:
    return "maximize" if callable(objective) else OBJECTIVES[objective]


def best_index(scores: list[float | None], objective: str | Callable[[Stats], float]) -> int | None:
    """Index of the best score (first on ties), None when no run has one."""
    sign = 1.0 if direction(objective) == "maximize" else -1.0
    best: int | None = None
    for i, s in enumerate(scores):
        if s is not None and (best is None or sign * s > sign * scores[best]):  # type: ignore[operator]
            best = i
    return best
