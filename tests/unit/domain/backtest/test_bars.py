"""Bars refuse data a backtest cannot trust, naming the field."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domain.backtest import Bars
from domain.errors import ValidationFailed


def frame(n: int = 5, **changes: object) -> pd.DataFrame:
    df = pd.DataFrame(
        {"Open": 10.0, "High": 11.0, "Low": 9.0, "Close": 10.5, "Volume": 100.0},
        index=pd.date_range("2024-01-01", periods=n, freq="D"),
    )
    for column, value in changes.items():
        df[column] = value
    return df


def test_from_frame_keeps_values_and_takes_a_naive_index_as_utc() -> None:
    bars = Bars.from_frame(frame())
    assert len(bars) == 5 and bars.close.dtype == np.float64
    assert bars.index[0] == np.datetime64("2024-01-01T00:00:00", "ns")


def test_aware_index_is_converted_to_utc() -> None:
    df = frame()
    df.index = df.index.tz_localize("America/New_York")
    assert Bars.from_frame(df).index[0] == np.datetime64("2024-01-01T05:00:00", "ns")


def test_volume_is_optional() -> None:
    assert np.isnan(Bars.from_frame(frame().drop(columns="Volume")).volume).all()


@pytest.mark.parametrize(
    ("df", "field", "rule"),
    [
        (frame(0), "bars", "empty"),
        (frame().drop(columns="Low"), "bars.low", "missing-column"),
        (frame(Close=[1.0, 2.0, np.nan, 3.0, 4.0]), "bars.close", "not-finite"),
        (frame(Open=[1.0, 2.0, np.inf, 3.0, 4.0]), "bars.open", "not-finite"),
        (frame(High=[1.0, 0.0, 2.0, 3.0, 4.0]), "bars.high", "not-positive"),
        (frame().iloc[::-1], "bars.index", "unsorted-or-duplicate"),
        (frame().iloc[[0, 1, 1, 2]], "bars.index", "unsorted-or-duplicate"),
        (frame().reset_index(drop=True), "bars.index", "not-datetime"),
    ],
)
def test_bad_frames_are_refused(df: pd.DataFrame, field: str, rule: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        Bars.from_frame(df)
    assert (err.value.field, err.value.rule) == (field, rule)


def test_slice_is_a_fresh_data_set() -> None:
    bars = Bars.from_frame(frame(10, Close=np.arange(1.0, 11.0)))
    part = bars.slice(2, 5)
    assert list(part.close) == [3.0, 4.0, 5.0] and part._cache == {}
    with pytest.raises(ValidationFailed):
        bars.slice(5, 5)
