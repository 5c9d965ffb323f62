"""OHLCV bars as float64 arrays, validated once where they enter.

``Bars`` is what every backtest runs on. It refuses data that backtesting.py would either
reject or silently reorder (unsorted or duplicate timestamps, missing or non-positive
prices), so a job fails up front with a problem naming the field instead of mid-run.
Timestamps are UTC ``datetime64[ns]``; a naive index is taken as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from domain.errors import ValidationFailed

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Bars"]

_PRICE_COLUMNS = ("Open", "High", "Low", "Close")


@dataclass(frozen=True, eq=False)
class Bars:
    """One instrument's bars; arrays of equal length, index strictly increasing.

    Identity equality on purpose: ``_cache`` holds indicators and calendar facts computed
    for this data set, shared by every backtest that runs on it.
    """

    index: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.index)
        if n == 0:
            raise ValidationFailed("bars", "empty", "bars: no rows")
        index = np.asarray(self.index)
        if index.dtype.kind != "M":
            raise ValidationFailed("bars.index", "not-datetime")
        object.__setattr__(self, "index", index.astype("datetime64[ns]"))
        for name in ("open", "high", "low", "close", "volume"):
            values = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            if values.shape != (n,):
                raise ValidationFailed(f"bars.{name}", "length")
            object.__setattr__(self, name, values)
        stamps = self.index.view(np.int64)
        if np.any(np.diff(stamps) <= 0):
            raise ValidationFailed("bars.index", "unsorted-or-duplicate")
        for name in ("open", "high", "low", "close"):
            values = getattr(self, name)
            if not np.all(np.isfinite(values)):
                raise ValidationFailed(f"bars.{name}", "not-finite")
            if np.any(values <= 0):
                raise ValidationFailed(f"bars.{name}", "not-positive")

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Bars:
        """Bars from a frame with Open, High, Low, Close (and optional Volume) columns."""
        import pandas as pd

        for column in _PRICE_COLUMNS:
            if column not in df.columns:
                raise ValidationFailed(f"bars.{column.lower()}", "missing-column")
        if len(df) == 0:
            raise ValidationFailed("bars", "empty", "bars: no rows")
        if not isinstance(df.index, pd.DatetimeIndex):
            raise ValidationFailed("bars.index", "not-datetime")
        index = df.index
        if index.tz is not None:
            index = index.tz_convert("UTC").tz_localize(None)
        if "Volume" in df.columns:
            volume = df["Volume"].to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            volume = np.full(len(df), np.nan)
        prices = {
            c.lower(): df[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in _PRICE_COLUMNS
        }
        return cls(index=index.to_numpy(dtype="datetime64[ns]"), volume=volume, **prices)

    def to_frame(self) -> pd.DataFrame:
        """The bars as the frame backtesting.py takes (naive UTC index)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "Open": self.open,
                "High": self.high,
                "Low": self.low,
                "Close": self.close,
                "Volume": self.volume,
            },
            index=pd.DatetimeIndex(self.index),
        )

    def __len__(self) -> int:
        return len(self.index)

    def slice(self, start: int, stop: int) -> Bars:
        """Bars ``[start, stop)``; a fresh data set (its own indicator cache)."""
        if not 0 <= start < stop <= len(self):
            raise ValidationFailed("bars.slice", "out-of-range", f"bad slice {start}:{stop}")
        return Bars(
            index=self.index[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
        )
