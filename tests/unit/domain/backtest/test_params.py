"""Parameter spaces: grids, sizes, validation naming the field, random points."""

from __future__ import annotations

import json

import pytest

from domain.backtest import STRATEGIES, ParamSpec, StrategySpec, get_strategy, random_points
from domain.errors import ValidationFailed

SPEC = StrategySpec(
    "toy",
    "toy",
    (
        ParamSpec("a", 1, 5, 1),
        ParamSpec("b", 2, 6, 2),
        ParamSpec("k", 0.5, 1.0, 0.1, integer=False),
    ),
    ("a < b", "k <= 0.8"),
)


def test_grid_is_filtered_by_constraints_and_sized_without_building_it() -> None:
    grid = SPEC.grid()
    assert all(p["a"] < p["b"] and p["k"] <= 0.8 for p in grid)
    assert len(grid) == SPEC.grid_size() == len({tuple(p.values()) for p in grid})
    # a in 1..5, b in {2,4,6}, k in {0.5,0.6,0.7,0.8}: (1+3+5) a<b pairs x 4
    assert len(grid) == 36
    assert {p["k"] for p in grid} == {0.5, 0.6, 0.7, 0.8}


def test_overrides_replace_an_axis_and_are_validated() -> None:
    assert SPEC.grid({"a": [1, 3], "b": [4], "k": [0.5]}) == [
        {"a": 1, "b": 4, "k": 0.5},
        {"a": 3, "b": 4, "k": 0.5},
    ]
    with pytest.raises(ValidationFailed) as err:
        SPEC.grid({"b": [3]})
    assert (err.value.field, err.value.rule) == ("params.b", "off-step")


@pytest.mark.parametrize(
    ("params", "field", "rule"),
    [
        ({"a": 0, "b": 4, "k": 0.5}, "params.a", "out-of-range"),
        ({"a": 1, "b": 5, "k": 0.5}, "params.b", "off-step"),
        ({"a": 1, "b": 4}, "params.k", "missing"),
        ({"a": 1, "b": 4, "k": 0.5, "z": 1}, "params.z", "unknown"),
        ({"a": 5, "b": 4, "k": 0.5}, "params.a", "constraint"),
        ({"a": 1, "b": 4, "k": 0.9}, "params.k", "constraint"),
        ({"a": "1", "b": 4, "k": 0.5}, "params.a", "not-a-number"),
        ({"a": float("nan"), "b": 4, "k": 0.5}, "params.a", "not-finite"),
    ],
)
def test_validate_names_the_parameter_and_rule(
    params: dict[str, object], field: str, rule: str
) -> None:
    with pytest.raises(ValidationFailed) as err:
        SPEC.validate(params)
    assert (err.value.field, err.value.rule) == (field, rule)


def test_validate_normalises_types() -> None:
    assert SPEC.validate({"a": 2.0, "b": 4, "k": 0.7000000001}) == {"a": 2, "b": 4, "k": 0.7}


def test_random_points_are_admissible_distinct_and_reproducible() -> None:
    pts = random_points(SPEC, 20, seed=1)
    assert len(pts) == 20 and len({tuple(p.values()) for p in pts}) == 20
    assert all(SPEC.validate(p) == p for p in pts)
    assert pts == random_points(SPEC, 20, seed=1) != random_points(SPEC, 20, seed=2)
    assert len(random_points(SPEC, 1000, seed=1)) == 36  # no more than the space holds


def test_every_strategy_describes_itself_as_json() -> None:
    assert set(STRATEGIES) == {"sma_cross", "rsi_reversion", "bollinger_breakout", "momentum"}
    for spec in STRATEGIES.values():
        doc = json.loads(json.dumps(spec.as_dict()))
        assert doc["name"] == spec.name and doc["grid_size"] > 0
        assert random_points(spec, 3, seed=0)


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValidationFailed) as err:
        get_strategy("nope")
    assert (err.value.field, err.value.rule) == ("strategy", "unknown")
