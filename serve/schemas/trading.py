"""Public schemas of the trading API, in the de-facto paper-trading API's shapes.

Decimals travel as strings (never JSON floats) so ``0.1 + 0.2`` problems never reach an
order. The domain parses and validates them (price increments, quantity scale).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DecimalStr = str
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
    qty: DecimalStr | None = Field(None, pattern=_DEC)
    notional: DecimalStr | None = Field(None, pattern=_DEC)
    limit_price: DecimalStr | None = Field(None, pattern=_DEC)
    stop_price: DecimalStr | None = Field(None, pattern=_DEC)
    trail_price: DecimalStr | None = Field(None, pattern=_DEC)
    trail_percent: DecimalStr | None = Field(None, pattern=_DEC)
    extended_hours: bool = False
    client_order_id: str | None = Field(None, min_length=1, max_length=128)


class OrderReplace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qty: DecimalStr | None = Field(None, pattern=_DEC)
    time_in_force: Literal["day", "gtc", "ioc", "fok", "opg", "cls"] | None = None
    limit_price: DecimalStr | None = Field(None, pattern=_DEC)
    stop_price: DecimalStr | None = Field(None, pattern=_DEC)
    trail: DecimalStr | None = Field(None, pattern=_DEC)
    client_order_id: str | None = Field(None, min_length=1, max_length=128)


class OrderPublic(BaseModel):
    """An order as the paper-trading API shows it."""

    model_config = ConfigDict(extra="allow")

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    status: str
    qty: DecimalStr | None = None
    notional: DecimalStr | None = None
    filled_qty: DecimalStr
    filled_avg_price: DecimalStr | None = None
    limit_price: DecimalStr | None = None
    stop_price: DecimalStr | None = None
    created_at: str
    updated_at: str | None = None


class OrderList(BaseModel):
    orders: list[OrderPublic]
    next_cursor: str | None = None


class CancelResult(BaseModel):
    id: str
    status: int
    body: dict[str, Any] | None = None


class PositionPublic(BaseModel):
    symbol: str
    qty: DecimalStr
    side: Literal["long", "short"]
    avg_entry_price: DecimalStr
    cost_basis: DecimalStr
    current_price: DecimalStr | None = None
    market_value: DecimalStr | None = None
    unrealized_pl: DecimalStr | None = None


class ClosePosition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qty: DecimalStr | None = Field(None, pattern=_DEC)
    percentage: DecimalStr | None = Field(None, pattern=_DEC)


class ActivityPublic(BaseModel):
    id: str
    activity_type: str
    date: str
    memo: str | None = None
    postings: list[dict[str, str]]


class ActivityList(BaseModel):
    activities: list[ActivityPublic]
    next_cursor: str | None = None


class Clock(BaseModel):
    timestamp: str
    is_open: bool
    next_open: str
    next_close: str


class CalendarDay(BaseModel):
    date: str
    open: str
    close: str
    session_open: str
    session_close: str


class AccountSummary(BaseModel):
    account_id: str
    cash: DecimalStr
    buying_power: DecimalStr
    equity: DecimalStr
    positions_value: DecimalStr


class PortfolioHistory(BaseModel):
    timestamp: list[int]
    equity: list[DecimalStr]
    profit_loss: list[DecimalStr]
    base_value: DecimalStr
    timeframe: str
