"""Public schemas of the trading API, in the de-facto paper-trading API's shapes.

Decimals travel as strings (never JSON floats) so ``0.1 + 0.2`` problems never reach an
order. The domain parses and validates them (price increments, quantity scale).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cluster.orders.wire import order_to_wire
from domain.assets import asset_of
from domain.ledger import EntryKind
from domain.market_hours import (
    AFTER_HOURS_END,
    EARLY_CLOSE_AFTER_HOURS_END,
    EXCHANGE_TZ,
    PRE_MARKET_START,
    REGULAR_CLOSE,
    ClockReading,
    MarketCalendar,
    Session,
)
from domain.orders import Order, OrderStatus, OrderType, Side, TimeInForce
from domain.portfolio import HistoryPoint, MarkedPosition, ratio
from serve.schemas.base import (
    DecimalStr,
    MoneyStr,
    PriceStr,
    PublicModel,
    QuantityStr,
    Timestamp,
)

#: Request decimals stay text: the domain parses them (``domain.money``), never a float.
DecimalIn = str
_DEC = r"^-?\d{1,15}(\.\d{1,9})?$"


class OrderCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "symbol": "AAPL",
                    "qty": "10",
                    "side": "buy",
                    "type": "limit",
                    "time_in_force": "day",
                    "limit_price": "187.25",
                    "client_order_id": "my-0001",
                }
            ]
        },
    )

    symbol: str = Field(min_length=1, max_length=12)
    side: Literal["buy", "sell"]
    type: Literal["market", "limit", "stop", "stop_limit", "trailing_stop"]
    time_in_force: Literal["day", "gtc", "ioc", "fok", "opg", "cls"]
    qty: DecimalIn | None = Field(None, pattern=_DEC)
    notional: DecimalIn | None = Field(None, pattern=_DEC)
    limit_price: DecimalIn | None = Field(None, pattern=_DEC)
    stop_price: DecimalIn | None = Field(None, pattern=_DEC)
    trail_price: DecimalIn | None = Field(None, pattern=_DEC)
    trail_percent: DecimalIn | None = Field(None, pattern=_DEC)
    extended_hours: bool = False
    client_order_id: str | None = Field(None, min_length=1, max_length=128)


class OrderReplace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qty: DecimalIn | None = Field(None, pattern=_DEC)
    time_in_force: Literal["day", "gtc", "ioc", "fok", "opg", "cls"] | None = None
    limit_price: DecimalIn | None = Field(None, pattern=_DEC)
    stop_price: DecimalIn | None = Field(None, pattern=_DEC)
    trail: DecimalIn | None = Field(None, pattern=_DEC)
    client_order_id: str | None = Field(None, min_length=1, max_length=128)


class OrderPublic(PublicModel):
    """An order as the paper-trading API shows it (Alpaca's order JSON, every field).

    The same shape reaches WebSocket clients inside ``trade_updates`` events: both are
    built by ``cluster.orders.wire.order_to_wire``.
    """

    id: str
    client_order_id: str
    created_at: Timestamp
    updated_at: Timestamp | None
    submitted_at: Timestamp = Field(
        description="when the broker acknowledged the order; until then when it was stored "
        "(never null, as at Alpaca)"
    )
    filled_at: Timestamp | None
    expired_at: Timestamp | None
    canceled_at: Timestamp | None
    failed_at: Timestamp | None
    replaced_at: Timestamp | None
    replaced_by: str | None = Field(description="id of the order that replaced this one")
    replaces: str | None = Field(description="id of the order this one replaced")
    asset_id: str | None = Field(description="stable asset id of the symbol (`GET /v1/assets`)")
    symbol: str
    asset_class: Literal["us_equity"]
    notional: MoneyStr | None = Field(description="dollar amount of a notional order")
    qty: QuantityStr | None = Field(description="null for a notional order")
    filled_qty: QuantityStr
    filled_avg_price: PriceStr | None
    order_class: Literal["", "simple", "bracket", "oco", "oto"]
    order_type: OrderType = Field(description="same as `type` (Alpaca sends both)")
    type: OrderType
    side: Side
    time_in_force: TimeInForce
    limit_price: PriceStr | None
    stop_price: PriceStr | None
    status: OrderStatus
    extended_hours: bool
    legs: None = Field(description="always null: no multi-leg orders")
    trail_percent: DecimalStr | None
    trail_price: PriceStr | None
    hwm: PriceStr | None = Field(description="high-water mark of a trailing stop")
    reject_reason: str | None = Field(description="why the order was rejected (ours, not Alpaca's)")
    reject_code: str | None = Field(
        default=None,
        description="the stable reason code of a rejection by our checks (`GET /problems`)",
    )
    queued_until: Timestamp | None = Field(
        default=None,
        description=(
            "ours: set while the order is `accepted` outside its trading hours and queued "
            "for the open (as Alpaca queues it): the instant it goes live, the next regular "
            "open (the next pre-market start for an extended-hours order); null otherwise"
        ),
    )
    strategy_id: str | None = Field(
        default=None,
        description="ours: the strategy instance whose runner placed the order; null when "
        "a person placed it",
    )

    @classmethod
    def of(cls, order: Order, calendar: MarketCalendar | None = None) -> OrderPublic:
        return cls.model_validate(order_to_wire(order, calendar))


class OrderList(PublicModel):
    orders: list[OrderPublic]
    next_cursor: str | None = None


class CancelProblem(PublicModel):
    """Why one order of a bulk request was not cancelled or closed."""

    type: str = Field(
        examples=["/problems/conflict"], json_schema_extra={"format": "uri-reference"}
    )
    detail: str


class CancelResult(PublicModel):
    """One order (or position) of a 207 bulk answer: its own status and body."""

    id: str = Field(description="order id, or the symbol when closing positions")
    status: Literal[200, 404, 409, 422]
    body: OrderPublic | CancelProblem | None = None


Exchange = Literal["AMEX", "ARCA", "BATS", "NYSE", "NASDAQ", "NYSEARCA", "OTC", ""]


class PositionPublic(PublicModel):
    """A position in Alpaca's shape: money in cents, prices at 4 places, ratios at 6.
    Elson keeps no previous close: `lastday_price` is the current price and the
    intraday figures are 0 (README, "Alpaca shapes")."""

    asset_id: str = Field(description="stable asset id (`GET /v1/assets/{symbol}`)")
    symbol: str
    exchange: Exchange = Field(description='listing exchange; "" when Elson does not know it')
    asset_class: Literal["us_equity"]
    asset_marginable: bool = Field(description="always false: Elson accounts are cash accounts")
    qty: QuantityStr = Field(description="negative for a short position")
    qty_available: QuantityStr = Field(description="qty not held by open closing orders")
    side: Literal["long", "short"]
    avg_entry_price: PriceStr
    cost_basis: MoneyStr = Field(description="negative for a short position")
    current_price: PriceStr = Field(
        description="mid of the latest quote; the average entry price when there is none"
    )
    lastday_price: PriceStr = Field(description="no previous close is kept: the current price")
    change_today: DecimalStr = Field(description="ratio; 0 (no previous close is kept)")
    market_value: MoneyStr
    unrealized_pl: MoneyStr
    unrealized_plpc: DecimalStr = Field(description="unrealized_pl / |cost_basis|")
    unrealized_intraday_pl: MoneyStr = Field(description="0 (no previous close is kept)")
    unrealized_intraday_plpc: DecimalStr = Field(description="0 (no previous close is kept)")

    @classmethod
    def of(cls, p: MarkedPosition) -> PositionPublic:
        asset = asset_of(p.symbol)
        return cls(
            asset_id=asset.id,
            symbol=p.symbol,
            exchange=asset.exchange,  # type: ignore[arg-type]
            asset_class="us_equity",
            asset_marginable=asset.marginable,
            qty=p.qty,
            qty_available=p.qty_available,
            side=p.side,  # type: ignore[arg-type]
            avg_entry_price=p.avg_entry_price,
            cost_basis=p.cost_basis,
            current_price=p.current_price,
            lastday_price=p.lastday_price,
            change_today=p.change_today,
            market_value=p.market_value,
            unrealized_pl=p.unrealized_pl,
            unrealized_plpc=p.unrealized_plpc,
            unrealized_intraday_pl=p.unrealized_intraday_pl,
            unrealized_intraday_plpc=p.unrealized_intraday_plpc,
        )


class ClosePosition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qty: DecimalIn | None = Field(None, pattern=_DEC)
    percentage: DecimalIn | None = Field(None, pattern=_DEC)


class Posting(PublicModel):
    account: str = Field(examples=["cash", "position:AAPL"])
    amount: DecimalStr = Field(description="dollars on `cash`, shares on `position:*`")


class ActivityPublic(PublicModel):
    id: str
    activity_type: EntryKind
    date: str = Field(json_schema_extra={"format": "date-time"})
    memo: str | None = None
    postings: list[Posting]


class ActivityList(PublicModel):
    activities: list[ActivityPublic]
    next_cursor: str | None = None


class ClockQuery(BaseModel):
    """``GET /v1/clock``'s query: ``at`` only; any other parameter is a 422 problem."""

    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime | None = Field(
        default=None,
        description=(
            "read the clock at this instant instead of now: RFC 3339 with an offset "
            "(`2026-11-24T15:00:00Z`); a naive instant is refused (422)"
        ),
    )


class Clock(PublicModel):
    timestamp: str = Field(json_schema_extra={"format": "date-time"})
    is_open: bool
    next_open: str = Field(json_schema_extra={"format": "date-time"})
    next_close: str = Field(json_schema_extra={"format": "date-time"})

    @classmethod
    def of(cls, reading: ClockReading) -> Clock:
        return cls(
            timestamp=reading.at.isoformat(),
            is_open=reading.is_open,
            next_open=reading.next_open.isoformat(),
            next_close=reading.next_close.isoformat(),
        )


class CalendarDay(PublicModel):
    """A trading day in Alpaca's calendar shape, with the regular session's instants."""

    date: str = Field(json_schema_extra={"format": "date"})
    open: str = Field(examples=["09:30"], description="regular open, New York time")
    close: str = Field(examples=["16:00"], description="regular close, New York time")
    session_open: str = Field(
        examples=["0400"],
        pattern=r"^\d{4}$",
        description="start of the extended-hours session, New York time (HHMM, as Alpaca)",
    )
    session_close: str = Field(
        examples=["2000"],
        pattern=r"^\d{4}$",
        description="end of the extended-hours session, New York time (HHMM; 1700 on an "
        "early-close day)",
    )
    open_at: str = Field(
        json_schema_extra={"format": "date-time"}, description="ours: the regular open instant"
    )
    close_at: str = Field(
        json_schema_extra={"format": "date-time"}, description="ours: the regular close instant"
    )

    @classmethod
    def of(cls, s: Session) -> CalendarDay:
        close = s.close.astimezone(EXCHANGE_TZ)
        after = EARLY_CLOSE_AFTER_HOURS_END if close.time() < REGULAR_CLOSE else AFTER_HOURS_END
        return cls(
            date=s.date.isoformat(),
            open=s.open.astimezone(EXCHANGE_TZ).strftime("%H:%M"),
            close=close.strftime("%H:%M"),
            session_open=PRE_MARKET_START.strftime("%H%M"),
            session_close=after.strftime("%H%M"),
            open_at=s.open.isoformat(),
            close_at=s.close.isoformat(),
        )


class PortfolioHistory(PublicModel):
    timestamp: list[int] = Field(description="unix seconds of each ledger entry")
    equity: list[MoneyStr]
    profit_loss: list[MoneyStr]
    profit_loss_pct: list[DecimalStr] = Field(description="profit_loss / base_value")
    base_value: MoneyStr
    timeframe: Literal["entry"]

    @classmethod
    def of(cls, points: list[HistoryPoint]) -> PortfolioHistory:
        base = points[0].equity if points else Decimal("0.00")
        return cls(
            timestamp=[p.at for p in points],
            equity=[p.equity for p in points],
            profit_loss=[p.equity - base for p in points],
            profit_loss_pct=[ratio(p.equity - base, base) for p in points],
            base_value=base,
            timeframe="entry",
        )
