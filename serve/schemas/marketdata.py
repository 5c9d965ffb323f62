"""Public schemas of the market-data API. Prices are decimal strings, times ISO-8601 UTC.

Built from the shard's wire dicts (the one shape shared with the cache and the gateway),
so a field added to the wire format does not leak until it is added here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

DecimalStr = str


class _Public(BaseModel):
    model_config = ConfigDict(extra="ignore")


class QuotePublic(_Public):
    symbol: str
    bid_price: DecimalStr
    bid_size: int
    ask_price: DecimalStr
    ask_size: int
    exchange_ts: str
    received_ts: str
    provider: str
    seq: int


class TradePublic(_Public):
    symbol: str
    price: DecimalStr
    size: int
    exchange_ts: str
    received_ts: str
    provider: str
    seq: int


class BarPublic(_Public):
    symbol: str
    open: DecimalStr
    high: DecimalStr
    low: DecimalStr
    close: DecimalStr
    volume: int
    start: str
    timeframe: str
    provider: str
    seq: int


class SnapshotPublic(_Public):
    symbol: str
    seq: int
    quote: QuotePublic | None = None
    trade: TradePublic | None = None
    bar: BarPublic | None = None


class SnapshotsPublic(BaseModel):
    snapshots: dict[str, SnapshotPublic]
    missing: list[str]


class BarsPublic(BaseModel):
    symbol: str
    bars: list[BarPublic]


class FeedStatusPublic(BaseModel):
    state: Literal["up", "degraded", "down"]
    shards: list[dict[str, Any]]
