"""Optimization jobs against the real PostgreSQL (and the session Ray where marked)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.db import Database, PoolSize
from cluster.optimization.service import OptimizationService
from cluster.settings import Settings
from domain.optimization import OptimizationRequest

MAX_GRID = 5000


@pytest.fixture(scope="session")
def opt_settings(settings: Settings) -> Settings:
    return settings.with_overrides(optimize_max_grid=MAX_GRID)


@pytest.fixture(scope="session")
def opt_db(database_url: str) -> Iterator[Database]:
    db = Database(database_url, PoolSize(3, 2))
    yield db
    db.dispose()


@pytest.fixture
def service(opt_db: Database) -> OptimizationService:
    return OptimizationService(opt_db, max_grid=MAX_GRID, cpus=lambda: 2)


def small_request(**changes: Any) -> OptimizationRequest:
    raw: dict[str, Any] = {
        "strategy": "sma_cross",
        "data": {"kind": "simulated", "symbol": "AAPL", "bars": 400, "seed": 5},
        "params": {"n1": [5, 10, 15, 20, 25], "n2": [30, 40, 50, 60, 80, 100]},
        "chunk_size": 4,
    }
    raw.update(changes)
    return OptimizationRequest.from_dict(raw)


def write_bars_csv(path: Path, n: int = 300, *, seed: int = 11) -> Path:
    """A CSV of bars as a quant would export them (Date, Open..Volume)."""
    from cluster.optimization.data import simulated_bars

    bars = simulated_bars("MSFT", n, seed)
    frame = bars.to_frame()
    frame.index.name = "Date"
    frame.to_csv(path)
    return path
