"""Pre-trade checks return reasons; they never raise for a denial."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from cluster.orders import risk
from domain.ids import AccountId, OrderId
from domain.market_hours import MarketCalendar
from domain.order_request import OrderRequest
from domain.orders import OrderStatus

OPEN = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York
EVENING = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # Tuesday 20:00 New York


@pytest.fixture(scope="module")
def calendar() -> MarketCalendar:
    return MarketCalendar(date(2026, 11, 1), date(2026, 12, 31))


def _order(n: int = 0, **fields: str):  # type: ignore[no-untyped-def]
    fields.setdefault("time_in_force", "day")
    request = OrderRequest.parse(symbol=fields.pop("symbol", "AAPL"), **fields)
    return request.to_order(OrderId(f"00000000-0000-4000-8000-{n:012d}"), AccountId("a"), OPEN)


def test_buy_denial_names_need_and_availability(calendar: MarketCalendar) -> None:
    order = _order(side="buy", type="limit", qty="10", limit_price="101")
    book = risk.Book(status="active", cash=Decimal("600"), reserved=Decimal("100"))
    assert risk.denial(order, book, now=OPEN, calendar=calendar, buffer_bps=Decimal(50)) == (
        "insufficient-buying-power: needs 1010.00, available 500.00"
    )
    rich = risk.Book(status="active", cash=Decimal("1110"), reserved=Decimal("100"))
    assert risk.denial(order, rich, now=OPEN, calendar=calendar, buffer_bps=Decimal(50)) is None


def test_market_buy_without_ask_is_denied_not_raised(calendar: MarketCalendar) -> None:
    order = _order(side="buy", type="market", qty="1")
    book = risk.Book(status="active", cash=Decimal("1000"))
    reason = risk.denial(order, book, now=OPEN, calendar=calendar, buffer_bps=Decimal(50))
    assert reason is not None and reason.startswith("quote-required")


def test_sell_counts_only_open_sells_of_the_same_symbol(calendar: MarketCalendar) -> None:
    other = _order(1, side="sell", type="limit", qty="5", limit_price="10", symbol="MSFT")
    same = _order(2, side="sell", type="limit", qty="3", limit_price="10")
    order = _order(3, side="sell", type="limit", qty="2", limit_price="10")
    book = risk.Book(status="active", position=Decimal(5), open_sells=(other, same))
    assert risk.denial(order, book, now=OPEN, calendar=calendar, buffer_bps=Decimal(0)) is None
    more = _order(4, side="sell", type="limit", qty="3", limit_price="10")
    assert risk.denial(more, book, now=OPEN, calendar=calendar, buffer_bps=Decimal(0)) == (
        "insufficient-position: sells 3 AAPL, sellable 2 (no short selling in paper)"
    )


def test_auction_windows_and_account_status(calendar: MarketCalendar) -> None:
    opg = _order(side="buy", type="limit", qty="1", limit_price="1", time_in_force="opg")
    cash = risk.Book(status="active", cash=Decimal(10))
    reason = risk.denial(opg, cash, now=OPEN, calendar=calendar, buffer_bps=Decimal(0))
    assert reason is not None and reason.startswith("opg-window-closed")
    assert risk.denial(opg, cash, now=EVENING, calendar=calendar, buffer_bps=Decimal(0)) is None
    closed = risk.Book(status="closed", cash=Decimal(10))
    assert risk.denial(opg, closed, now=EVENING, calendar=calendar, buffer_bps=Decimal(0)) == (
        "account-closed: the account is closed"
    )


def test_pending_replace_reserves_the_old_remainder_and_the_replacement() -> None:
    # Until the replace is confirmed the old order can still fill, and the replacement
    # then works its whole quantity: the worst case is both.
    old = _order(1, side="buy", type="limit", qty="5", limit_price="100")
    new = _order(2, side="buy", type="limit", qty="5", limit_price="101")
    old.status = OrderStatus.PENDING_REPLACE  # set directly: a fixture, not a transition
    old.replaced_by = new.id
    assert risk.reserved_cash([old, new], {}, Decimal(0)) == Decimal("1005.00")
    old.filled_qty = Decimal(2)  # a partial fill in the window: its cash is spent, not held
    assert risk.reserved_cash([old, new], {}, Decimal(0)) == Decimal("805.00")
    old.status = OrderStatus.REPLACED  # the confirmation releases the old remainder
    assert risk.reserved_cash([old, new], {}, Decimal(0)) == Decimal("505.00")
