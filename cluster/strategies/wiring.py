"""One wiring of the adaptive-parameter engine per process: its database, clock and the
optimization service it submits re-optimizations through (the driver starts as a detached
Ray actor when the actor wires ``launch``; without it a submitted job waits ``queued`` for
a driver). Data paths are held to ``optimize_data_dirs`` as in the API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster.clock import clock_for
from cluster.db import Database
from cluster.optimization.service import OptimizationService
from cluster.settings import Settings
from cluster.strategies.engine import StrategyBook
from cluster.strategies.jobs import OptimizationJobs


def optimization_service(
    settings: Settings, db: Database, launch: Callable[[str, int], None] | None
) -> OptimizationService:
    dirs = [Path(d.strip()) for d in settings.optimize_data_dirs.split(",") if d.strip()]
    return OptimizationService(
        db, max_grid=settings.optimize_max_grid, launch=launch, data_dirs=dirs
    )


def book_for(
    settings: Settings,
    db: Database,
    *,
    clock: Any = None,
    launch: Callable[[str, int], None] | None = None,
) -> StrategyBook:
    clock = clock or clock_for(settings.clock_start, settings.clock_anchor)
    jobs = OptimizationJobs(optimization_service(settings, db, launch))
    return StrategyBook(db, clock, jobs=jobs)
