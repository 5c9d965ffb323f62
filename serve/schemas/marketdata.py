"""Public schemas of the market-data API. Prices are decimal strings, times ISO-8601 UTC.

Built from the shard's wire dicts (the one shape shared with the cache and the gateway).
The models are closed, so a field added to the wire format fails loudly (a 500 and a
failing test) until it is added here. Quotes, trades and bars carry their ``type``: the
gateway's ``market`` messages use the same models as their typed ``data``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from cluster.marketdata.provider import ProviderState
from domain.breaker import BreakerState
from domain.failover import Unhealthy
from serve.schemas.base import PriceStr, PublicModel, Timestamp


class QuotePublic(PublicModel):
    type: Literal["quote"] = "quote"
    symbol: str
    bid_price: PriceStr
    bid_size: int
    ask_price: PriceStr
    ask_size: int
    exchange_ts: Timestamp
    received_ts: Timestamp
    provider: str
    seq: int


class TradePublic(PublicModel):
    type: Literal["trade"] = "trade"
    symbol: str
    price: PriceStr
    size: int
    exchange_ts: Timestamp
    received_ts: Timestamp
    provider: str
    seq: int


class BarPublic(PublicModel):
    type: Literal["bar"] = "bar"
    symbol: str
    open: PriceStr
    high: PriceStr
    low: PriceStr
    close: PriceStr
    volume: int
    start: Timestamp
    exchange_ts: Timestamp | None = None
    received_ts: Timestamp
    timeframe: str = Field(examples=["1Min"])
    provider: str
    seq: int


#: A market event as the gateway forwards it, told apart by ``type``.
MarketData = Annotated[QuotePublic | TradePublic | BarPublic, Field(discriminator="type")]


class SnapshotPublic(PublicModel):
    symbol: str
    seq: int
    quote: QuotePublic | None = None
    trade: TradePublic | None = None
    bar: BarPublic | None = None


class SnapshotsPublic(PublicModel):
    snapshots: dict[str, SnapshotPublic]
    missing: list[str]


class BarsPublic(PublicModel):
    symbol: str
    bars: list[BarPublic]


class FeedSwitch(PublicModel):
    """Symbols moved from one provider to another (also the ``feed.switch`` event)."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["feed_switch"] = "feed_switch"
    shard: int
    from_: str = Field(alias="from")
    to: str
    reason: str = Field(examples=[u.value for u in Unhealthy])
    degraded: bool
    symbols: list[str]
    at: Timestamp


class ProviderHealth(PublicModel):
    breaker: BreakerState
    last_received: Timestamp | None
    problems: list[Unhealthy]


class SymbolFeed(PublicModel):
    active: str = Field(description="the provider serving this symbol")
    degraded: bool
    seq: int
    staleness_s: float | None
    providers: dict[str, ProviderHealth]


class ProviderStatus(PublicModel):
    state: ProviderState | Literal["unknown"]
    errors: int


class ConsumerStatus(PublicModel):
    symbols: int
    buffered: int
    dropped: int


class CacheHealth(PublicModel):
    state: Literal["up", "degraded", "disabled"]
    failures_total: int | None = None
    last_error: str | None = None
    pending_symbols: int | None = None
    flushes: int | None = None
    failed_flushes: int | None = None


class ShardStatus(PublicModel):
    """One feed shard; a shard that did not answer has only ``shard``, ``state``, ``error``."""

    shard: int
    state: Literal["up", "degraded", "down"]
    error: str | None = None
    epoch: str | None = None
    market_open: bool | None = None
    forwarded: int | None = None
    providers: dict[str, ProviderStatus] = Field(default_factory=dict)
    symbols: dict[str, SymbolFeed] = Field(default_factory=dict)
    switches: list[FeedSwitch] = Field(default_factory=list)
    consumers: dict[str, ConsumerStatus] = Field(default_factory=dict)
    cache: CacheHealth | None = None


class FeedStatusPublic(PublicModel):
    state: Literal["up", "degraded", "down"]
    shards: list[ShardStatus]
