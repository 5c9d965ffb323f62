from __future__ import annotations

import pytest

from domain.backtest import get_strategy
from domain.errors import ValidationFailed
from domain.optimization import OptimizationRequest
from domain.optimization_plan import best_first, check_request, plan


def _request(**changes: object) -> OptimizationRequest:
    raw: dict[str, object] = {
        "strategy": "sma_cross",
        "data": {"kind": "simulated", "symbol": "AAPL", "bars": 500},
    }
    raw.update(changes)
    return OptimizationRequest.from_dict(raw)


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"strategy": "moon_phase"}, "strategy", "unknown"),
        ({"objective": "vibes"}, "objective", "unknown"),
        ({"params": {"n1": [1]}}, "params.n1", "out-of-range"),
        ({"params": {"n1": [5.5]}}, "params.n1", "off-step"),
        ({"params": {"speed": [5]}}, "params.speed", "unknown"),
        ({"params": {"n1": [50], "n2": [10]}}, "params", "empty-grid"),
        ({"search": "random", "n_trials": 10, "params": {"n1": [5]}}, "params", "grid-only"),
        ({"search": "random", "n_trials": 5000}, "n_trials", "over-limit"),
    ],
)
def test_bad_request_then_refused_before_any_data(
    changes: dict[str, object], field: str, rule: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_request(_request(**changes), max_grid=1000)
    assert (info.value.field, info.value.rule) == (field, rule)


def test_grid_over_the_limit_then_refused() -> None:
    with pytest.raises(ValidationFailed) as info:
        check_request(_request(), max_grid=1000)  # the full sma_cross grid is far larger
    assert (info.value.field, info.value.rule) == ("params", "grid-too-large")


def test_grid_plan_chunks_are_the_grid_in_order() -> None:
    req = _request(params={"n1": [5, 10, 20], "n2": [30, 50, 100, 200]}, chunk_size=5)
    work = plan(req, 500, max_grid=1000, cpus=2)
    assert work.total_trials == 12 and work.total_chunks == 3
    joined = [p for i in range(work.total_chunks) for p in work.chunk_points(i)]
    assert joined == get_strategy("sma_cross").grid({"n1": [5, 10, 20], "n2": [30, 50, 100, 200]})


def test_random_plan_is_the_same_in_every_process() -> None:
    req = _request(search="random", n_trials=40, seed=3)
    a = plan(req, 500, max_grid=1000, cpus=2)
    b = plan(req, 500, max_grid=1000, cpus=8)
    assert a.points == b.points and len(a.points) == 40


def test_bayesian_plan_batches_add_up_to_n_trials() -> None:
    work = plan(_request(search="bayesian", n_trials=23, chunk_size=5), 500, max_grid=100, cpus=2)
    assert work.total_chunks == 5 and work.total_trials == 23
    assert [work.batch_size(i) for i in range(5)] == [5, 5, 5, 5, 3]


def test_walk_forward_plan_has_one_chunk_per_window() -> None:
    req = _request(params={"n1": [5, 10]}, walk_forward={"train": 200, "test": 100})
    work = plan(req, 500, max_grid=1000, cpus=2)
    assert work.total_chunks == 3 and work.total_trials == 3
    with pytest.raises(ValidationFailed) as info:
        plan(req, 250, max_grid=1000, cpus=2)
    assert info.value.field == "walk_forward.train"


def test_best_first_follows_the_objective_direction() -> None:
    assert best_first("sharpe_ratio") == "-score"
    assert best_first("volatility_ann_pct") == "score"
