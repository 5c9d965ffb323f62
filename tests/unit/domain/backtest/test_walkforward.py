"""Walk-forward windows, and acceptance 2: a planted regime change shows as the in-sample /
out-of-sample gap in the first window tested after it."""

from __future__ import annotations

import pytest

from domain.backtest import (
    Bars,
    WalkForwardWindow,
    get_strategy,
    walk_forward,
    walk_forward_windows,
)
from domain.errors import ValidationFailed
from tests.unit.domain.backtest.series import regime_change

CHANGE = 1200  # bar where the trending regime gives way to the mean-reverting one


def test_rolling_windows_slide_by_the_test_length() -> None:
    assert walk_forward_windows(10, 4, 2, "rolling") == [
        WalkForwardWindow(0, (0, 4), (4, 6)),
        WalkForwardWindow(1, (2, 6), (6, 8)),
        WalkForwardWindow(2, (4, 8), (8, 10)),
    ]


def test_expanding_windows_keep_the_start() -> None:
    windows = walk_forward_windows(11, 4, 3, "expanding")
    assert [(w.train, w.test) for w in windows] == [((0, 4), (4, 7)), ((0, 7), (7, 10))]


@pytest.mark.parametrize(
    ("n", "train", "test", "mode", "field"),
    [
        (10, 8, 3, "rolling", "train"),
        (10, 1, 3, "rolling", "train"),
        (10, 4, 1, "rolling", "test"),
        (10, 4, 2, "anchored", "mode"),
    ],
)
def test_bad_windows_are_refused(n: int, train: int, test: int, mode: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        walk_forward_windows(n, train, test, mode)
    assert err.value.field == field


@pytest.fixture(scope="module")
def regime() -> Bars:
    return Bars.from_frame(regime_change(CHANGE, 400, seed=1))


GRID = get_strategy("sma_cross").grid({"n1": range(5, 45, 5), "n2": range(10, 130, 10)})


def test_regime_change_turns_out_of_sample_negative_where_in_sample_stays_high(
    regime: Bars,
) -> None:
    results = walk_forward(regime, "sma_cross", GRID, "return_pct", train=400, test=200)
    before = [r for r in results if r.window.test[1] <= CHANGE]
    after = next(r for r in results if r.window.test[0] == CHANGE)
    assert len(before) == 4
    for r in before:  # trend in and out of sample: what was learnt keeps paying
        assert r.in_sample is not None and r.out_of_sample is not None
        assert r.in_sample > 50 and r.out_of_sample > 20
    assert after.window.train[1] == CHANGE  # chosen on the trend only
    assert after.in_sample is not None and after.out_of_sample is not None
    assert after.in_sample > 100
    assert after.out_of_sample < -30
    gaps_before = [r.in_sample - r.out_of_sample for r in before]  # type: ignore[operator]
    assert after.in_sample - after.out_of_sample > max(gaps_before)


def test_expanding_sharpe_shows_the_same_gap(regime: Bars) -> None:
    results = walk_forward(
        regime, "sma_cross", GRID, "sharpe_ratio", train=400, test=200, mode="expanding"
    )
    after = next(r for r in results if r.window.test[0] == CHANGE)
    assert after.window.train == (0, CHANGE)
    assert after.in_sample is not None and after.in_sample > 2
    assert after.out_of_sample is not None and after.out_of_sample < 0


def test_no_admissible_run_gives_no_choice(regime: Bars) -> None:
    results = walk_forward(
        regime, "sma_cross", GRID[:3], "return_pct", train=400, test=200, min_trades=10_000
    )
    assert results and all(r.params == {} and r.in_sample is None for r in results)
