"""The account, its activities and the assets, in Alpaca's v2 shapes with Elson's extras.

Field names, meanings and formats are Alpaca's (``alpaca-py``'s ``TradeAccount``,
``TradeActivity``, ``NonTradeActivity`` and ``Asset`` parse them; see
``tests/integration/api/test_alpaca_shapes.py``). Values Elson cannot compute are filled
as the README's "Alpaca shapes" section says, and each field's description repeats it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from pydantic import Field

from cluster.orders.activity_feed import CashActivity, TradeActivity
from cluster.orders.portfolio import AccountSummary as Summary
from domain.assets import Asset
from serve.schemas.base import MoneyStr, PriceStr, PublicModel, QuantityStr, Timestamp
from serve.schemas.trading import Exchange

#: Elson's account status -> Alpaca's
_STATUS = {"active": "ACTIVE", "restricted": "LIMITED", "closed": "ACCOUNT_CLOSED"}
_ZERO = Decimal("0.00")
_NOT_BLOCKED = "always false: Elson does not block an account by its status (today)"


def account_number(account_id: str) -> str:
    """A short, stable account number derived from the id (Alpaca's are ``PA...``)."""
    return "EL" + uuid.UUID(account_id).hex[:10].upper()


class AccountSummary(PublicModel):
    """The account in Alpaca's ``/v2/account`` shape (a cash account: no margin, no
    shorting), plus Elson's `account_id`, `positions_value` and `elson_status`."""

    id: str = Field(description="the account id (UUID)")
    account_number: str = Field(examples=["EL0B6A3C8E52"], description="derived from the id")
    status: Literal["ACTIVE", "LIMITED", "ACCOUNT_CLOSED"]
    currency: Literal["USD"]
    cash: MoneyStr
    buying_power: MoneyStr = Field(description="cash not reserved by open buy orders")
    regt_buying_power: MoneyStr = Field(description="same as buying_power (cash account)")
    non_marginable_buying_power: MoneyStr = Field(description="same as buying_power")
    daytrading_buying_power: MoneyStr = Field(description="always 0.00: not a PDT account")
    equity: MoneyStr = Field(description="cash + long_market_value + short_market_value")
    last_equity: MoneyStr = Field(
        description="equity at the previous close as Alpaca means it; Elson keeps no "
        "end-of-day snapshot, so this is the current equity"
    )
    long_market_value: MoneyStr
    short_market_value: MoneyStr = Field(description="always 0.00 today: no shorting")
    portfolio_value: MoneyStr = Field(description="same as equity (Alpaca's deprecated name)")
    multiplier: Literal["1"] = Field(description="1: a cash account")
    accrued_fees: MoneyStr = Field(description="always 0.00: fees are booked with each fill")
    pending_transfer_in: MoneyStr = Field(description="always 0.00: paper funding is instant")
    pending_transfer_out: MoneyStr = Field(description="always 0.00")
    pattern_day_trader: bool = Field(description="always false: PDT rules need margin")
    daytrade_count: int = Field(description="always 0: not counted for cash accounts")
    trading_blocked: bool = Field(description=_NOT_BLOCKED)
    transfers_blocked: bool = Field(description=_NOT_BLOCKED)
    account_blocked: bool = Field(description=_NOT_BLOCKED)
    trade_suspended_by_user: bool = Field(description="always false")
    shorting_enabled: bool = Field(description="always false")
    created_at: Timestamp
    account_id: str = Field(description="ours: same as id")
    positions_value: MoneyStr = Field(description="ours: market value of every position")
    elson_status: Literal["active", "restricted", "closed"] = Field(description="ours")

    @classmethod
    def of(cls, s: Summary) -> AccountSummary:
        v = s.valuation
        return cls(
            id=s.account_id,
            account_number=account_number(s.account_id),
            status=_STATUS[s.status],  # type: ignore[arg-type]
            currency=s.currency,  # type: ignore[arg-type]
            cash=v.cash,
            buying_power=v.buying_power,
            regt_buying_power=v.buying_power,
            non_marginable_buying_power=v.buying_power,
            daytrading_buying_power=_ZERO,
            equity=v.equity,
            last_equity=v.equity,
            long_market_value=v.long_market_value,
            short_market_value=v.short_market_value,
            portfolio_value=v.equity,
            multiplier="1",
            accrued_fees=_ZERO,
            pending_transfer_in=_ZERO,
            pending_transfer_out=_ZERO,
            pattern_day_trader=False,
            daytrade_count=0,
            trading_blocked=False,
            transfers_blocked=False,
            account_blocked=False,
            trade_suspended_by_user=False,
            shorting_enabled=False,
            created_at=s.created_at.isoformat(),
            account_id=s.account_id,
            positions_value=v.positions_value,
            elson_status=s.status,  # type: ignore[arg-type]
        )


class TradeActivityPublic(PublicModel):
    """One execution (Alpaca's ``FILL`` activity)."""

    id: str = Field(description="`<YYYYMMDDHHMMSSmmm>::<ledger entry id>`")
    account_id: str
    activity_type: Literal["FILL"]
    transaction_time: Timestamp
    type: Literal["fill", "partial_fill"]
    price: PriceStr
    qty: QuantityStr
    side: Literal["buy", "sell"]
    symbol: str
    leaves_qty: QuantityStr = Field(description="left to fill after this execution")
    order_id: str
    cum_qty: QuantityStr = Field(description="filled on the order up to this execution")
    order_status: Literal["filled", "partially_filled"] = Field(
        description="the order's status right after this execution"
    )

    @classmethod
    def of(cls, a: TradeActivity) -> TradeActivityPublic:
        return cls(
            id=a.id,
            account_id=a.account_id,
            activity_type="FILL",
            transaction_time=a.transaction_time.isoformat(),
            type=a.type,  # type: ignore[arg-type]
            price=a.price,
            qty=a.qty,
            side=a.side,  # type: ignore[arg-type]
            symbol=a.symbol,
            leaves_qty=a.leaves_qty,
            order_id=a.order_id,
            cum_qty=a.cum_qty,
            order_status=a.order_status,  # type: ignore[arg-type]
        )


class NonTradeActivityPublic(PublicModel):
    """A cash movement: ``CSD`` deposit, ``CSW`` withdrawal, ``FEE``, ``JNLC`` (a reset)."""

    id: str = Field(description="`<YYYYMMDDHHMMSSmmm>::<ledger entry id>`")
    account_id: str
    activity_type: Literal["CSD", "CSW", "FEE", "JNLC"]
    date: str = Field(json_schema_extra={"format": "date"}, description="New York date")
    net_amount: MoneyStr = Field(description="signed change of cash")
    description: str
    status: Literal["executed"]

    @classmethod
    def of(cls, a: CashActivity) -> NonTradeActivityPublic:
        return cls(
            id=a.id,
            account_id=a.account_id,
            activity_type=a.activity_type,  # type: ignore[arg-type]
            date=a.date.isoformat(),
            net_amount=a.net_amount,
            description=a.description,
            status="executed",
        )


class AccountActivityPage(PublicModel):
    """A page of account activities, newest first; each item is Alpaca's activity JSON."""

    activities: list[TradeActivityPublic | NonTradeActivityPublic]
    next_page_token: str | None = Field(
        description="`page_token` of the next page (the last activity's id); null at the end"
    )

    @classmethod
    def of(cls, page: Sequence[TradeActivity | CashActivity], size: int) -> AccountActivityPage:
        items: list[TradeActivityPublic | NonTradeActivityPublic] = [
            TradeActivityPublic.of(a)
            if isinstance(a, TradeActivity)
            else NonTradeActivityPublic.of(a)
            for a in page
        ]
        token = page[-1].id if len(page) == size else None
        return cls(activities=items, next_page_token=token)


class AssetPublic(PublicModel):
    """An asset in Alpaca's shape; the id is Elson's own (uuid5 of the symbol)."""

    id: str
    asset_class: Literal["us_equity"] = Field(alias="class")
    exchange: Exchange
    symbol: str
    name: str
    status: Literal["active", "inactive"]
    tradable: bool
    marginable: bool
    shortable: bool
    easy_to_borrow: bool
    fractionable: bool
    min_order_size: QuantityStr = Field(description="smallest quantity an order takes")
    min_trade_increment: QuantityStr
    price_increment: PriceStr = Field(description="tick at or above $1 (below: 0.0001)")
    attributes: list[str]

    @classmethod
    def of(cls, a: Asset) -> AssetPublic:
        return cls.model_validate(
            {
                "id": a.id,
                "class": a.asset_class,
                "exchange": a.exchange,
                "symbol": a.symbol,
                "name": a.name,
                "status": a.status,
                "tradable": a.tradable,
                "marginable": a.marginable,
                "shortable": a.shortable,
                "easy_to_borrow": a.easy_to_borrow,
                "fractionable": a.fractionable,
                "min_order_size": Decimal("0.000000001"),
                "min_trade_increment": Decimal("0.000000001"),
                "price_increment": Decimal("0.01"),
                "attributes": [],
            }
        )
