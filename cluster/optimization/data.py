"""Bars for an optimization job: a CSV/Parquet path, an uploaded blob, a replay file's bar
rows, or the seeded simulator. Every source ends in ``Bars.from_frame``, whose refusals
(empty, unsorted, NaN, missing columns) come back naming ``data.<field>``.

Accepted columns (any case): a time column ``timestamp``/``date``/``datetime``/``time``
(or a datetime index), ``open``, ``high``, ``low``, ``close`` and optional ``volume``.
Naive times are taken as UTC.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from domain.backtest import Bars
from domain.errors import ValidationFailed
from domain.optimization import DataSource

TIME_COLUMNS = ("timestamp", "date", "datetime", "time")
PRICE_COLUMNS = ("open", "high", "low", "close")
#: ``Bars`` names its fields ``bars.*``; requests call the same thing ``data.*``.
_FIELDS = {"bars": "data", "bars.index": "data.timestamp"}


def frame_from_bytes(content: bytes, fmt: str) -> pd.DataFrame:
    try:
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(content))
        return pd.read_csv(io.BytesIO(content))
    except Exception as exc:  # pandas/pyarrow parse errors of many types
        raise ValidationFailed(
            "data", f"unreadable-{fmt}", f"cannot read the {fmt}: {exc}"
        ) from exc


def format_of(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt", ""):
        return "csv"
    raise ValidationFailed("data.path", "format", "bars must be a .csv or .parquet file")


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """The backtesting.py shape: a UTC ``DatetimeIndex`` and Open/High/Low/Close/Volume."""
    df = df.rename(columns={c: str(c).strip().lower() for c in df.columns})
    time_col = next((c for c in TIME_COLUMNS if c in df.columns), None)
    if time_col is not None:
        df = df.set_index(time_col)
    elif not isinstance(df.index, pd.DatetimeIndex):
        raise ValidationFailed("data.timestamp", "missing", "no timestamp/date column")
    try:
        index = pd.DatetimeIndex(pd.to_datetime(df.index, utc=True))
    except (ValueError, TypeError) as exc:
        raise ValidationFailed("data.timestamp", "unparseable") from exc
    for col in PRICE_COLUMNS:
        if col not in df.columns:
            raise ValidationFailed(f"data.{col}", "missing", f"the bars have no {col} column")
    columns = {
        col.capitalize(): pd.to_numeric(df[col], errors="coerce").to_numpy(dtype="float64")
        for col in (*PRICE_COLUMNS, "volume")
        if col in df.columns
    }
    return pd.DataFrame(columns, index=index)


def bars_from_frame(df: pd.DataFrame) -> Bars:
    try:
        return Bars.from_frame(normalize(df))
    except ValidationFailed as exc:
        field = _FIELDS.get(exc.field, "data." + exc.field.split(".", 1)[-1])
        raise ValidationFailed(field, exc.rule, f"{field}: {exc.rule}") from exc


def read_path(path: str) -> Bars:
    p = Path(path)
    fmt = format_of(p.name)
    if not p.is_file():
        raise ValidationFailed("data.path", "not-found", f"no file at {path}")
    return bars_from_frame(frame_from_bytes(p.read_bytes(), fmt))


def replay_bars(path: str, symbol: str) -> Bars:
    from cluster.marketdata.replay import load_events
    from domain.marketdata import Bar

    if not Path(path).is_file():
        raise ValidationFailed("data.path", "not-found", f"no file at {path}")
    rows = [
        {
            "timestamp": e.start,
            "open": float(e.open),
            "high": float(e.high),
            "low": float(e.low),
            "close": float(e.close),
            "volume": float(e.volume),
        }
        for e in load_events(path)
        if isinstance(e, Bar) and e.symbol == symbol.upper()
    ]
    return bars_from_frame(pd.DataFrame(rows, columns=["timestamp", *PRICE_COLUMNS, "volume"]))


def simulated_bars(symbol: str, n: int, seed: int, steps_per_bar: int = 8) -> Bars:
    """Daily bars from the GBM simulator's mid prices, ``steps_per_bar`` steps a session."""
    from domain.marketdata import Quote
    from domain.simulation import GbmSimulator

    sim = GbmSimulator([symbol.upper()], seed)
    session = timedelta(hours=6.5) / steps_per_bar
    at = datetime(2020, 1, 1, 14, 30, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for day in pd.bdate_range("2020-01-01", periods=n, tz="UTC"):
        mids, volume = [], 0.0
        for _ in range(steps_per_bar):
            at += session
            for ev in sim.step(at):
                if isinstance(ev, Quote):
                    mids.append(float(ev.bid_price + ev.ask_price) / 2)
                else:
                    volume += float(ev.size)
        rows.append(
            {
                "timestamp": day,
                "open": mids[0],
                "high": max(mids),
                "low": min(mids),
                "close": mids[-1],
                "volume": volume,
            }
        )
    return bars_from_frame(pd.DataFrame(rows))


def load_bars(source: DataSource, *, uploads: Any = None) -> Bars:
    """The bars of ``source``; ``uploads`` (an ``UploadStore``) resolves ``upload`` ids."""
    if source.kind == "file":
        return read_path(str(source.path))
    if source.kind == "replay":
        return replay_bars(str(source.path), str(source.symbol))
    if source.kind == "simulated":
        return simulated_bars(str(source.symbol), int(source.bars or 0), source.seed)
    if uploads is None:
        raise ValidationFailed("data.upload_id", "unavailable", "uploads need the database")
    fmt, content = uploads.content(str(source.upload_id))
    return bars_from_frame(frame_from_bytes(content, fmt))
