"""The chunk task in-process: its encoded rows say what ``Stats.as_dict`` and ``score`` say."""

from __future__ import annotations

import json

import pytest

from actors.optimize_tasks import ChunkSpec, compute_chunk
from cluster.optimization.data import simulated_bars
from domain.backtest import get_strategy, run_many, score


@pytest.mark.parametrize("min_trades", [0, 8])
def test_chunk_rows_match_stats_and_score(min_trades: int) -> None:
    bars = simulated_bars("AAPL", 400, 2)
    points = get_strategy("sma_cross").grid({"n1": [3, 5, 10, 20], "n2": [25, 40, 90]})
    spec = ChunkSpec(7, "sma_cross", points, "sharpe_ratio", min_trades, 10_000.0, 0.001)
    result = compute_chunk(bars, spec)
    expected = run_many(bars, "sma_cross", points)  # default config has no commission
    assert result.index == 7 and len(result) == len(points)
    for position, row in enumerate(result.rows):
        assert row[0] == position and json.loads(row[2]) == points[position]
    with_commission = compute_chunk(
        bars, ChunkSpec(0, "sma_cross", points, "return_pct", min_trades, 10_000.0, 0.0)
    )
    for row, stats in zip(with_commission.rows, expected, strict=True):
        assert json.loads(row[3]) == stats.as_dict()
        assert row[4] == score(stats, "return_pct", min_trades)


def test_walk_forward_window_row_carries_both_sides() -> None:
    bars = simulated_bars("AAPL", 400, 2)
    points = get_strategy("sma_cross").grid({"n1": [3, 5, 10], "n2": [25, 40]})
    spec = ChunkSpec(
        1, "sma_cross", points, "return_pct", 0, 10_000.0, 0.0, (1, 100, 300, 300, 400)
    )
    (row,) = compute_chunk(bars, spec).rows
    position, window, params, stats, oos, in_stats, in_score = row
    assert (position, window) == (0, 1)
    assert json.loads(params) in points
    assert oos == json.loads(stats)["return_pct"]
    assert in_stats is not None and in_score == json.loads(in_stats)["return_pct"]
