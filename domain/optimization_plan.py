"""What a checked optimization request will run: its points, chunks and windows.

Deterministic on purpose: chunk ``i`` of a request is the same list of parameter sets in
every process and after every restart, which is what lets a resumed job skip the chunks
already persisted (grid order is the strategy's; random points come from the seed).
Bayesian batches are not derivable up front: the driver asks Optuna for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.backtest import (
    OBJECTIVES,
    StrategySpec,
    get_strategy,
    random_points,
    walk_forward_windows,
)
from domain.errors import ValidationFailed
from domain.optimization import (
    OptimizationRequest,
    SearchKind,
    check_values_in_space,
    chunk_bounds,
    default_chunk_size,
)


@dataclass(frozen=True)
class Plan:
    """The work of a request over data of ``n_bars`` bars."""

    request: OptimizationRequest
    spec: StrategySpec
    points: tuple[Mapping[str, float], ...]  # grid/random points (empty for bayesian)
    chunk_size: int
    windows: tuple[Any, ...]  # walk-forward windows (empty otherwise)

    @property
    def total_chunks(self) -> int:
        if self.windows:
            return len(self.windows)
        n = self.total_trials
        return (n + self.chunk_size - 1) // self.chunk_size

    @property
    def total_trials(self) -> int:
        """Rows the job will hold when done: one per point, or one per window."""
        if self.windows:
            return len(self.windows)
        if self.request.search is SearchKind.BAYESIAN:
            return int(self.request.n_trials or 0)
        return len(self.points)

    def chunk_points(self, index: int) -> list[Mapping[str, float]]:
        """The parameter sets of grid/random chunk ``index``."""
        start, stop = chunk_bounds(len(self.points), self.chunk_size)[index]
        return list(self.points[start:stop])

    def batch_size(self, index: int) -> int:
        """How many Bayesian trials chunk ``index`` asks for (the last may be short)."""
        left = self.total_trials - index * self.chunk_size
        return max(0, min(self.chunk_size, left))


def check_request(request: OptimizationRequest, *, max_grid: int) -> StrategySpec:
    """Everything that can be refused before the data is read; names the field."""
    spec = get_strategy(request.strategy)
    if request.objective not in OBJECTIVES:
        raise ValidationFailed(
            "objective", "unknown", f"objective must be one of {sorted(OBJECTIVES)}"
        )
    check_values_in_space(spec, request.params)
    if request.search is SearchKind.GRID:
        size = spec.grid_size(request.params or None)
        if size > max_grid:
            raise ValidationFailed(
                "params", "grid-too-large", f"the grid has {size} points; the limit is {max_grid}"
            )
        if size == 0:
            raise ValidationFailed("params", "empty-grid", "no point satisfies the constraints")
    else:
        if request.params:
            raise ValidationFailed("params", "grid-only", "narrow params only for a grid search")
        if (request.n_trials or 0) > max_grid:
            raise ValidationFailed("n_trials", "over-limit", f"the limit is {max_grid}")
    return spec


def plan(request: OptimizationRequest, n_bars: int, *, max_grid: int, cpus: int) -> Plan:
    """Check the request against the data and lay out its chunks."""
    spec = check_request(request, max_grid=max_grid)
    points: list[Mapping[str, float]] = []
    if request.search is SearchKind.GRID:
        points = list(spec.grid(request.params or None))
    elif request.search is SearchKind.RANDOM:
        points = list(random_points(spec, int(request.n_trials or 0), request.seed))
    windows: tuple[Any, ...] = ()
    wf = request.walk_forward
    if wf is not None:
        if wf.train + wf.test > n_bars:
            raise ValidationFailed(
                "walk_forward.train",
                "longer-than-data",
                f"train {wf.train} + test {wf.test} bars exceed the {n_bars} bars of data",
            )
        windows = tuple(walk_forward_windows(n_bars, wf.train, wf.test, wf.mode))
    count = len(points) if request.search is not SearchKind.BAYESIAN else request.n_trials or 0
    if request.search is SearchKind.BAYESIAN:  # small batches: each one informs the next ask
        size = request.chunk_size or default_chunk_size(int(count), cpus, per_cpu=8, hi=2000)
    else:
        size = request.chunk_size or default_chunk_size(int(count), cpus, n_bars=n_bars)
    return Plan(request, spec, tuple(points), size, windows)


def best_first(objective: str) -> str:
    """The trials sort that puts the best score first for ``objective``."""
    return "score" if OBJECTIVES.get(objective) == "minimize" else "-score"
