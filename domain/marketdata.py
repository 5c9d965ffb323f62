"""Market data events: what provider adapters produce and the gateway fans out.

They are frozen value objects that validate when built, so a bad tick is rejected at
the adapter (the edge) instead of poisoning a bar, a mid price or a client screen.
Prices are ``Decimal`` (never float); sizes are whole shares. Every event carries the
exchange's timestamp, our receive timestamp (both aware UTC; failover measures latency
from the pair), the provider name and a ``seq`` that the feed shard assigns with
``with_seq`` so clients can detect gaps. ``to_wire``/``from_wire`` give the one dict
shape used by the Redis cache and the WebSocket gateway.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Self

from domain.errors import ValidationFailed

__all__ = [
    "Bar",
    "BarAggregator",
    "InstrumentStatus",
    "MarketEvent",
    "Quote",
    "Trade",
    "TradingStatus",
    "from_wire",
]


class TradingStatus(StrEnum):
    HALTED = "halted"
    RESUMED = "resumed"


# -- validation and wire helpers ---------------------------------------------------------


def _check_common(symbol: str, provider: str, seq: int) -> None:
    if not symbol:
        raise ValidationFailed("symbol", "required")
    if not provider:
        raise ValidationFailed("provider", "required")
    if seq < 0:
        raise ValidationFailed("seq", "non-negative")


def _check_decimal(field: str, value: Decimal, *, positive: bool) -> None:
    """Refuse floats, NaN, infinities and negatives (and zero when ``positive``)."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationFailed(field, "finite-decimal")
    if value < 0 or (positive and value == 0):
        raise ValidationFailed(field, "positive" if positive else "non-negative")


def _check_size(field: str, value: int, *, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(field, "integer")
    if value < 0 or (positive and value == 0):
        raise ValidationFailed(field, "positive" if positive else "non-negative")


def _check_utc(field: str, value: datetime) -> None:
    """Aware and UTC: a mixed-zone stream makes every latency figure a lie."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationFailed(field, "timezone-aware-required")
    if value.utcoffset() != timedelta(0):
        raise ValidationFailed(field, "utc-required")


def _ts_out(value: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` and fixed microseconds, so strings sort as times."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dec_out(value: Decimal) -> str:
    return str(value)


def _raw(data: dict[str, Any], field: str) -> Any:
    if field not in data or data[field] is None:
        raise ValidationFailed(field, "required")
    return data[field]


def _str_in(data: dict[str, Any], field: str) -> str:
    value = _raw(data, field)
    if not isinstance(value, str):
        raise ValidationFailed(field, "string")
    return value


def _int_in(data: dict[str, Any], field: str) -> int:
    value = _raw(data, field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(field, "integer")
    return value


def _dec_in(data: dict[str, Any], field: str) -> Decimal:
    value = _raw(data, field)
    # Strings only: a float on the wire has already lost the exact price.
    if not isinstance(value, str):
        raise ValidationFailed(field, "decimal-string")
    try:
        return Decimal(value)
    except ArithmeticError as exc:
        raise ValidationFailed(field, "decimal-string") from exc


def _ts_in(data: dict[str, Any], field: str) -> datetime:
    value = _str_in(data, field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(field, "iso-8601") from exc
    _check_utc(field, parsed)
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Trade:
    """One print on the tape."""

    symbol: str
    price: Decimal
    size: int
    exchange_ts: datetime
    received_ts: datetime
    provider: str
    seq: int = 0

    def __post_init__(self) -> None:
        _check_common(self.symbol, self.provider, self.seq)
        _check_decimal("price", self.price, positive=True)
        _check_size("size", self.size, positive=True)
        _check_utc("exchange_ts", self.exchange_ts)
        _check_utc("received_ts", self.received_ts)

    def with_seq(self, seq: int) -> Self:
        return dataclasses.replace(self, seq=seq)

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "trade",
            "symbol": self.symbol,
            "price": _dec_out(self.price),
            "size": self.size,
            "exchange_ts": _ts_out(self.exchange_ts),
            "received_ts": _ts_out(self.received_ts),
            "provider": self.provider,
            "seq": self.seq,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        return cls(
            symbol=_str_in(data, "symbol"),
            price=_dec_in(data, "price"),
            size=_int_in(data, "size"),
            exchange_ts=_ts_in(data, "exchange_ts"),
            received_ts=_ts_in(data, "received_ts"),
            provider=_str_in(data, "provider"),
            seq=_int_in(data, "seq"),
        )


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book.

    A zero price with zero size means "no bid" (or "no ask"); a one-sided book is real
    (halts, illiquid names). A crossed quote (bid > ask, both present) is refused: they
    are transient artefacts of consolidated feeds and would poison mid prices, so the
    adapter drops them.
    """

    symbol: str
    bid_price: Decimal
    bid_size: int
    ask_price: Decimal
    ask_size: int
    exchange_ts: datetime
    received_ts: datetime
    provider: str
    seq: int = 0

    def __post_init__(self) -> None:
        _check_common(self.symbol, self.provider, self.seq)
        _check_decimal("bid_price", self.bid_price, positive=False)
        _check_decimal("ask_price", self.ask_price, positive=False)
        _check_size("bid_size", self.bid_size, positive=False)
        _check_size("ask_size", self.ask_size, positive=False)
        _check_utc("exchange_ts", self.exchange_ts)
        _check_utc("received_ts", self.received_ts)
        if self.bid_price > 0 and self.ask_price > 0 and self.bid_price > self.ask_price:
            raise ValidationFailed("ask_price", "crossed", "bid_price above ask_price")

    @property
    def mid(self) -> Decimal | None:
        """Midpoint, or None for a one-sided book."""
        if self.bid_price > 0 and self.ask_price > 0:
            return (self.bid_price + self.ask_price) / 2
        return None

    def with_seq(self, seq: int) -> Self:
        return dataclasses.replace(self, seq=seq)

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "quote",
            "symbol": self.symbol,
            "bid_price": _dec_out(self.bid_price),
            "bid_size": self.bid_size,
            "ask_price": _dec_out(self.ask_price),
            "ask_size": self.ask_size,
            "exchange_ts": _ts_out(self.exchange_ts),
            "received_ts": _ts_out(self.received_ts),
            "provider": self.provider,
            "seq": self.seq,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        return cls(
            symbol=_str_in(data, "symbol"),
            bid_price=_dec_in(data, "bid_price"),
            bid_size=_int_in(data, "bid_size"),
            ask_price=_dec_in(data, "ask_price"),
            ask_size=_int_in(data, "ask_size"),
            exchange_ts=_ts_in(data, "exchange_ts"),
            received_ts=_ts_in(data, "received_ts"),
            provider=_str_in(data, "provider"),
            seq=_int_in(data, "seq"),
        )


@dataclass(frozen=True, slots=True)
class Bar:
    """An OHLCV bar for the interval starting at ``start`` (a whole minute, UTC).

    ``exchange_ts`` is the provider's bar timestamp, or for bars we aggregate, the
    exchange time of the last trade in it; None when the provider gives none.
    """

    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    start: datetime
    exchange_ts: datetime | None
    received_ts: datetime
    provider: str
    seq: int = 0
    timeframe: str = "1Min"

    def __post_init__(self) -> None:
        _check_common(self.symbol, self.provider, self.seq)
        for name in ("open", "high", "low", "close"):
            _check_decimal(name, getattr(self, name), positive=True)
        _check_size("volume", self.volume, positive=False)
        _check_utc("start", self.start)
        if self.start.second or self.start.microsecond:
            raise ValidationFailed("start", "whole-minute")
        if self.exchange_ts is not None:
            _check_utc("exchange_ts", self.exchange_ts)
        _check_utc("received_ts", self.received_ts)
        if not self.timeframe:
            raise ValidationFailed("timeframe", "required")
        if not self.low <= min(self.open, self.close):
            raise ValidationFailed("low", "low-above-open-or-close")
        if not max(self.open, self.close) <= self.high:
            raise ValidationFailed("high", "high-below-open-or-close")

    def with_seq(self, seq: int) -> Self:
        return dataclasses.replace(self, seq=seq)

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "bar",
            "symbol": self.symbol,
            "open": _dec_out(self.open),
            "high": _dec_out(self.high),
            "low": _dec_out(self.low),
            "close": _dec_out(self.close),
            "volume": self.volume,
            "start": _ts_out(self.start),
            "exchange_ts": _ts_out(self.exchange_ts) if self.exchange_ts else None,
            "received_ts": _ts_out(self.received_ts),
            "provider": self.provider,
            "seq": self.seq,
            "timeframe": self.timeframe,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        return cls(
            symbol=_str_in(data, "symbol"),
            open=_dec_in(data, "open"),
            high=_dec_in(data, "high"),
            low=_dec_in(data, "low"),
            close=_dec_in(data, "close"),
            volume=_int_in(data, "volume"),
            start=_ts_in(data, "start"),
            exchange_ts=_ts_in(data, "exchange_ts") if data.get("exchange_ts") else None,
            received_ts=_ts_in(data, "received_ts"),
            provider=_str_in(data, "provider"),
            seq=_int_in(data, "seq"),
            timeframe=_str_in(data, "timeframe"),
        )


@dataclass(frozen=True, slots=True)
class InstrumentStatus:
    """A trading halt or resumption (LULD pause, news pending, regulatory halt)."""

    symbol: str
    status: TradingStatus
    reason: str
    exchange_ts: datetime
    received_ts: datetime
    provider: str
    seq: int = 0

    def __post_init__(self) -> None:
        _check_common(self.symbol, self.provider, self.seq)
        if not isinstance(self.status, TradingStatus):
            raise ValidationFailed("status", "one-of:halted,resumed")
        _check_utc("exchange_ts", self.exchange_ts)
        _check_utc("received_ts", self.received_ts)

    def with_seq(self, seq: int) -> Self:
        return dataclasses.replace(self, seq=seq)

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "status",
            "symbol": self.symbol,
            "status": self.status.value,
            "reason": self.reason,
            "exchange_ts": _ts_out(self.exchange_ts),
            "received_ts": _ts_out(self.received_ts),
            "provider": self.provider,
            "seq": self.seq,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        raw = _str_in(data, "status")
        try:
            status = TradingStatus(raw)
        except ValueError as exc:
            raise ValidationFailed("status", "one-of:halted,resumed") from exc
        return cls(
            symbol=_str_in(data, "symbol"),
            status=status,
            reason=str(data.get("reason") or ""),
            exchange_ts=_ts_in(data, "exchange_ts"),
            received_ts=_ts_in(data, "received_ts"),
            provider=_str_in(data, "provider"),
            seq=_int_in(data, "seq"),
        )


MarketEvent = Trade | Quote | Bar | InstrumentStatus

_BY_TYPE: dict[str, type[Trade] | type[Quote] | type[Bar] | type[InstrumentStatus]] = {
    "trade": Trade,
    "quote": Quote,
    "bar": Bar,
    "status": InstrumentStatus,
}


def from_wire(data: dict[str, Any]) -> MarketEvent:
    """Rebuild any event from its wire dict, dispatching on ``type``."""
    kind = data.get("type")
    cls = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValidationFailed("type", "one-of:trade,quote,bar,status")
    return cls.from_wire(data)


# -- 1-minute bars from trades -------------------------------------------------------------

_MINUTE = timedelta(minutes=1)


def _minute_of(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


@dataclass(slots=True)
class _Building:
    """A bar still taking trades; open/close follow exchange time, not arrival order."""

    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    first_ts: datetime
    last_ts: datetime
    provider: str

    def add(self, trade: Trade) -> None:
        self.high = max(self.high, trade.price)
        self.low = min(self.low, trade.price)
        self.volume += trade.size
        if trade.exchange_ts < self.first_ts:
            self.open, self.first_ts = trade.price, trade.exchange_ts
        if trade.exchange_ts >= self.last_ts:
            self.close, self.last_ts = trade.price, trade.exchange_ts
            self.provider = trade.provider

    def finish(self, symbol: str, received_ts: datetime) -> Bar:
        return Bar(
            symbol=symbol,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            start=self.start,
            exchange_ts=self.last_ts,
            received_ts=received_ts,
            provider=self.provider,
        )


class BarAggregator:
    """Builds 1-minute bars per symbol from trades, by exchange time.

    A bar is emitted when the symbol's first trade of a later minute arrives, or by
    ``flush(now)`` once its minute has ended (quiet symbols still get their bar). A
    trade for a minute already emitted cannot amend it (clients have it): it is dropped
    and counted in ``late_trades``. Bars leave with ``seq=0``; the feed shard numbers
    them with ``with_seq`` like any other event.
    """

    def __init__(self) -> None:
        self._building: dict[str, _Building] = {}
        self._emitted_until: dict[str, datetime] = {}
        self.late_trades = 0

    def add(self, trade: Trade) -> Bar | None:
        minute = _minute_of(trade.exchange_ts)
        done = self._emitted_until.get(trade.symbol)
        current = self._building.get(trade.symbol)
        if (done is not None and minute < done) or (current is not None and minute < current.start):
            self.late_trades += 1
            return None
        if current is not None and minute == current.start:
            current.add(trade)
            return None
        bar = self._emit(trade.symbol, trade.received_ts) if current is not None else None
        self._building[trade.symbol] = _Building(
            start=minute,
            open=trade.price,
            high=trade.price,
            low=trade.price,
            close=trade.price,
            volume=trade.size,
            first_ts=trade.exchange_ts,
            last_ts=trade.exchange_ts,
            provider=trade.provider,
        )
        return bar

    def flush(self, now: datetime) -> list[Bar]:
        """Emit every bar whose minute ended at or before ``now``, oldest first."""
        _check_utc("now", now)
        ready = [s for s, b in self._building.items() if b.start + _MINUTE <= now]
        bars = [self._emit(symbol, now) for symbol in ready]
        return sorted(bars, key=lambda bar: (bar.start, bar.symbol))

    def _emit(self, symbol: str, received_ts: datetime) -> Bar:
        building = self._building.pop(symbol)
        self._emitted_until[symbol] = building.start + _MINUTE
        return building.finish(symbol, received_ts)
