"""Replays recorded bars or ticks from a CSV or Parquet file at a speed factor.

File shapes (one kind per file, told apart by columns; ``timestamp`` is ISO-8601 with an
offset, normally ``Z``):

- bars: ``symbol,timestamp,open,high,low,close,volume`` (``timestamp`` is the bar start)
- trades: ``symbol,timestamp,price,size``
- quotes: ``symbol,timestamp,bid_price,bid_size,ask_price,ask_size``

Prices keep the file's exact text: CSV cells are read as strings (``csv`` module) and
go straight to ``Decimal``. Parquet is read with pyarrow and every value is converted
through ``str``: a decimal128 column is exact, a float64 column yields its shortest repr,
which is the literal that was written (``101.23`` stays ``Decimal("101.23")``). The whole
file is parsed and validated at ``start`` so a bad row fails fast, naming its row.

Rows play in file order. ``speed=1`` follows the timestamps in real time, ``speed=10``
ten times faster, ``speed=0`` or ``"max"`` as fast as the consumer takes them. Sleeps
are scheduled against the loop clock from the first row, so they do not drift; an
out-of-order (earlier) timestamp plays at once. Only subscribed symbols are emitted
(``"*"`` means all); subscribe before ``start`` to get the file from its first row.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cluster.marketdata.provider import BaseProvider, ErrorHook, ProviderState, Snapshot
from domain.clock import Clock
from domain.errors import OperatorError, ValidationFailed
from domain.marketdata import Bar, Quote, Trade

__all__ = ["ReplayProvider", "load_events"]

Row = Mapping[str, Any]
_BAR = {"symbol", "timestamp", "open", "high", "low", "close", "volume"}
_TRADE = {"symbol", "timestamp", "price", "size"}
_QUOTE = {"symbol", "timestamp", "bid_price", "bid_size", "ask_price", "ask_size"}


def _dec(row: Row, field: str) -> Decimal:
    try:
        value = Decimal(str(row[field]).strip())
    except InvalidOperation as exc:
        raise ValidationFailed(field, "decimal") from exc
    return value


def _int(row: Row, field: str) -> int:
    value = _dec(row, field)
    if value != value.to_integral_value():
        raise ValidationFailed(field, "integer")
    return int(value)


def _ts(row: Row) -> datetime:
    raw = row["timestamp"]
    if isinstance(raw, datetime):  # a Parquet timestamp column
        parsed = raw
    else:
        try:
            parsed = datetime.fromisoformat(str(raw).strip())
        except ValueError as exc:
            raise ValidationFailed("timestamp", "iso-8601") from exc
    if parsed.tzinfo is None:
        raise ValidationFailed("timestamp", "timezone-aware-required")
    return parsed.astimezone(UTC)


def _event(kind: str, row: Row, provider: str, timeframe: str) -> Trade | Quote | Bar:
    """Build the domain event; ``received_ts`` is set again when it is played."""
    symbol, at = str(row["symbol"]).strip().upper(), _ts(row)
    if kind == "bar":
        return Bar(
            open=_dec(row, "open"),
            high=_dec(row, "high"),
            low=_dec(row, "low"),
            close=_dec(row, "close"),
            volume=_int(row, "volume"),
            start=at,
            exchange_ts=at,
            timeframe=timeframe,
            symbol=symbol,
            received_ts=at,
            provider=provider,
        )
    if kind == "trade":
        return Trade(
            symbol=symbol,
            price=_dec(row, "price"),
            size=_int(row, "size"),
            exchange_ts=at,
            received_ts=at,
            provider=provider,
        )
    return Quote(
        bid_price=_dec(row, "bid_price"),
        bid_size=_int(row, "bid_size"),
        ask_price=_dec(row, "ask_price"),
        ask_size=_int(row, "ask_size"),
        exchange_ts=at,
        symbol=symbol,
        received_ts=at,
        provider=provider,
    )


def _kind(columns: Iterable[str]) -> str:
    cols = set(columns)
    for kind, needed in (("bar", _BAR), ("quote", _QUOTE), ("trade", _TRADE)):
        if needed <= cols:
            return kind
    raise ValidationFailed("columns", "bars-trades-or-quotes", f"unknown columns: {sorted(cols)}")


def _rows(path: Path) -> tuple[list[str], list[Row]]:
    """Columns and rows; the whole file is read (the events are held in memory anyway)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            reader.fieldnames = columns
            return columns, list(reader)
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq  # heavy: only when a Parquet file is replayed

        table = pq.read_table(path)
        return table.column_names, table.to_pylist()
    raise ValidationFailed("path", "csv-or-parquet", f"cannot replay {path.name}")


def load_events(
    path: str | Path, *, provider: str = "replay", timeframe: str = "1Min"
) -> list[Trade | Quote | Bar]:
    """Parse and validate a whole file; errors name the 1-based data row."""
    path = Path(path)
    if not path.is_file():
        raise OperatorError(f"replay file not found: {path}")
    columns, rows = _rows(path)
    kind = _kind(columns)
    events: list[Trade | Quote | Bar] = []
    for number, row in enumerate(rows, start=1):
        try:
            events.append(_event(kind, row, provider, timeframe))
        except (ValidationFailed, KeyError, TypeError) as exc:
            raise ValidationFailed(
                "row", f"row-{number}", f"{path.name} row {number}: {exc}"
            ) from exc
    return events


class ReplayProvider(BaseProvider):
    def __init__(
        self,
        path: str | Path,
        *,
        speed: float | str = 1.0,
        timeframe: str = "1Min",
        stop_at_end: bool = False,
        clock: Clock | None = None,
        on_error: ErrorHook | None = None,
        queue_size: int = 10_000,
        name: str = "replay",
    ) -> None:
        super().__init__(name=name, clock=clock, on_error=on_error, queue_size=queue_size)
        self._path = Path(path)
        self._speed = _speed(speed)
        self._timeframe = timeframe
        self._stop_at_end = stop_at_end
        self._task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()  # set when the last row was played

    async def start(self) -> None:
        if not self._begin_start():
            return
        try:
            events = await asyncio.to_thread(
                load_events, self._path, provider=self.name, timeframe=self._timeframe
            )
        except Exception as exc:
            self._report(exc)
            self._transition(ProviderState.FAILED)
            await self.stop()
            raise
        self.done.clear()
        self._transition(ProviderState.RUNNING)
        self._task = asyncio.create_task(self._play(events), name=f"{self.name}-replay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await self._finish_stop(task)

    async def subscribe(self, symbols: Iterable[str]) -> None:
        self._add_symbols(symbols)

    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        self._remove_symbols(symbols)

    async def snapshot(self, symbols: Iterable[str]) -> dict[str, Snapshot]:
        return self._latest_snapshot(symbols)

    async def _play(self, events: list[Trade | Quote | Bar]) -> None:
        loop = asyncio.get_running_loop()
        began, first = loop.time(), _at(events[0]) if events else None
        for event in events:
            if self._speed and first is not None:
                due = (_at(event) - first).total_seconds() / self._speed
                delay = due - (loop.time() - began)
                if delay > 0:
                    await asyncio.sleep(delay)
            if self._wanted(event.symbol):
                now = self._clock.now()
                await self._emit(
                    dataclasses.replace(event, received_ts=now, seq=self._next_seq(event.symbol))
                )
        self.done.set()
        if self._stop_at_end:
            self._end_stream()


def _at(event: Trade | Quote | Bar) -> datetime:
    return event.start if isinstance(event, Bar) else event.exchange_ts


def _speed(speed: float | str) -> float:
    """0 means as fast as possible (``"max"`` is an alias)."""
    if speed == "max":
        return 0.0
    try:
        value = float(speed)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("speed", "number-or-max") from exc
    if value < 0 or value != value:
        raise ValidationFailed("speed", "non-negative")
    return value
