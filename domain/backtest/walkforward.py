"""Walk-forward validation: choose parameters in-sample, score them on the next window.

Each test window is backtested as a data set of its own (indicators warm up inside it), as
running backtesting.py on that slice would. The gap between in-sample and out-of-sample scores
is what tells an overfitted or regime-dependent choice from a robust one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from domain.backtest.bars import Bars
from domain.backtest.engine import BacktestConfig, run_backtest, run_many
from domain.backtest.params import Params
from domain.backtest.stats import best_index, score
from domain.errors import ValidationFailed

__all__ = ["WalkForwardResult", "WalkForwardWindow", "walk_forward", "walk_forward_windows"]


@dataclass(frozen=True)
class WalkForwardWindow:
    index: int
    train: tuple[int, int]  # [start, stop) bar positions
    test: tuple[int, int]


@dataclass(frozen=True)
class WalkForwardResult:
    window: WalkForwardWindow
    params: Params  # empty when no parameter set had a score in-sample
    in_sample: float | None
    out_of_sample: float | None


def walk_forward_windows(
    n_bars: int, train: int, test: int, mode: Literal["rolling", "expanding"] | str
) -> list[WalkForwardWindow]:
    """Consecutive full test windows of ``test`` bars, each after ``train`` bars (rolling)
    or after everything before it (expanding)."""
    if mode not in ("rolling", "expanding"):
        raise ValidationFailed("mode", "unknown")
    if train < 2:
        raise ValidationFailed("train", "too-small")
    if test < 2:
        raise ValidationFailed("test", "too-small")
    if train + test > n_bars:
        raise ValidationFailed("train", "longer-than-data", "train + test exceeds the bars")
    out: list[WalkForwardWindow] = []
    start = 0
    while start + train + test <= n_bars:
        split = start + train
        first = 0 if mode == "expanding" else start
        out.append(WalkForwardWindow(len(out), (first, split), (split, split + test)))
        start += test
    return out


def walk_forward(
    bars: Bars,
    strategy: str,
    param_sets: Sequence[Mapping[str, float | int]],
    objective: str,
    *,
    train: int,
    test: int,
    mode: str = "rolling",
    config: BacktestConfig = BacktestConfig(),
    min_trades: int = 0,
) -> list[WalkForwardResult]:
    results = []
    for w in walk_forward_windows(len(bars), train, test, mode):
        in_bars = bars.slice(*w.train)
        stats = run_many(in_bars, strategy, param_sets, config)
        scores = [score(s, objective, min_trades) for s in stats]
        best = best_index(scores, objective)
        if best is None:
            results.append(WalkForwardResult(w, {}, None, None))
            continue
        chosen = dict(param_sets[best])
        oos = run_backtest(bars.slice(*w.test), strategy, chosen, config)
        results.append(
            WalkForwardResult(w, chosen, scores[best], score(oos, objective, min_trades))
        )
    return results
