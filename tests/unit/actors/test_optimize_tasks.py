"""The chunk task in-process: its scores say what ``score`` says, and its ``COPY`` payload
holds one row per parameter set (the round trip through PostgreSQL is in the integration
tests of the repository and the driver)."""

from __future__ import annotations

import uuid

import pytest

from actors.optimize_tasks import ChunkSpec, compute_chunk
from cluster.optimization.data import simulated_bars
from domain.backtest import get_strategy, run_many, score

JOB = str(uuid.uuid4())


@pytest.mark.parametrize("min_trades", [0, 8])
def test_chunk_scores_match_stats_and_score(min_trades: int) -> None:
    bars = simulated_bars("AAPL", 400, 2)
    points = get_strategy("sma_cross").grid({"n1": [3, 5, 10, 20], "n2": [25, 40, 90]})
    spec = ChunkSpec(JOB, 7, "sma_cross", points, "return_pct", min_trades, 10_000.0, 0.0)
    result = compute_chunk(bars, spec)
    expected = run_many(bars, "sma_cross", points)  # default config has no commission
    assert (result.job_id, result.index, len(result)) == (JOB, 7, len(points))
    assert result.scores == tuple(score(s, "return_pct", min_trades) for s in expected)
    assert result.payload.startswith(b"PGCOPY\n\xff\r\n\x00")
    assert result.payload.count(uuid.UUID(JOB).bytes) == len(points)


def test_walk_forward_window_is_one_row_with_its_score() -> None:
    bars = simulated_bars("AAPL", 400, 2)
    points = get_strategy("sma_cross").grid({"n1": [3, 5, 10], "n2": [25, 40]})
    spec = ChunkSpec(
        JOB, 1, "sma_cross", points, "return_pct", 0, 10_000.0, 0.0, (1, 100, 300, 300, 400)
    )
    result = compute_chunk(bars, spec)
    assert (result.index, len(result)) == (1, 1)
    assert result.scores[0] is not None
