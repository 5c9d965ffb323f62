"""Pre-trade checks return a ``Denial`` with a stable code; they never raise for one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from domain.ids import AccountId, OrderId
from domain.market_hours import MarketCalendar
from domain.order_request import OrderRequest
from domain.orders import Order, OrderStatus
from domain.risk import checks
from domain.risk.codes import Denial, ReasonCode

OPEN = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York
LATE = datetime(2026, 11, 24, 20, 55, tzinfo=UTC)  # Tuesday 15:55 New York
EVENING = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # Tuesday 20:00 New York


@pytest.fixture(scope="module")
def calendar() -> MarketCalendar:
    return MarketCalendar(date(2026, 11, 1), date(2026, 12, 31))


def _order(n: int = 0, **fields: str) -> Order:
    fields.setdefault("time_in_force", "day")
    request = OrderRequest.parse(symbol=fields.pop("symbol", "AAPL"), **fields)
    return request.to_order(OrderId(f"00000000-0000-4000-8000-{n:012d}"), AccountId("a"), OPEN)


def _deny(
    order: Order, book: checks.Book, calendar: MarketCalendar, *, now: datetime = OPEN, bps: int = 0
) -> Denial | None:
    return checks.denial(order, book, now=now, calendar=calendar, buffer_bps=Decimal(bps))


def test_buy_denial_when_cash_short_then_names_need_and_availability(
    calendar: MarketCalendar,
) -> None:
    order = _order(side="buy", type="limit", qty="10", limit_price="101")
    book = checks.Book(status="active", cash=Decimal("600"), reserved=Decimal("100"))
    assert _deny(order, book, calendar, bps=50) == Denial(
        ReasonCode.INSUFFICIENT_BUYING_POWER, "needs 1010.00, available 500.00"
    )


def test_buy_denial_when_cash_exactly_enough_then_allowed(calendar: MarketCalendar) -> None:
    order = _order(side="buy", type="limit", qty="10", limit_price="101")
    exact = checks.Book(status="active", cash=Decimal("1110"), reserved=Decimal("100"))
    assert _deny(order, exact, calendar, bps=50) is None
    short = checks.Book(status="active", cash=Decimal("1109.99"), reserved=Decimal("100"))
    denial = _deny(order, short, calendar)
    assert denial is not None and denial.message == "needs 1010.00, available 1009.99"


def test_buy_denial_when_market_buy_has_no_ask_then_price_unavailable(
    calendar: MarketCalendar,
) -> None:
    order = _order(side="buy", type="market", qty="1")
    book = checks.Book(status="active", cash=Decimal("1000"))
    assert _deny(order, book, calendar) == Denial(ReasonCode.PRICE_UNAVAILABLE, "no ask for AAPL")


def test_buy_denial_when_open_market_buy_elsewhere_has_no_ask_then_price_unavailable(
    calendar: MarketCalendar,
) -> None:
    priced = _order(1, side="buy", type="market", qty="1", symbol="MSFT")
    order = _order(2, side="buy", type="limit", qty="1", limit_price="10")
    book = checks.Book(status="active", cash=Decimal("1000"), priced_buys=(priced,))
    assert _deny(order, book, calendar) == Denial(ReasonCode.PRICE_UNAVAILABLE, "no ask for MSFT")
    quoted = checks.Book(
        status="active",
        cash=Decimal("1000"),
        priced_buys=(priced,),
        asks={"MSFT": Decimal("990")},
    )
    assert _deny(order, quoted, calendar) is None  # 1000 - 990 = 10 available, 10 needed
    denial = _deny(order, quoted, calendar, bps=100)  # the ask buffer: 990 x 1.01 = 999.90
    assert denial == Denial(ReasonCode.INSUFFICIENT_BUYING_POWER, "needs 10.00, available 0.10")


def test_sell_denial_when_other_symbols_sell_then_only_same_symbol_counts(
    calendar: MarketCalendar,
) -> None:
    other = _order(1, side="sell", type="limit", qty="5", limit_price="10", symbol="MSFT")
    same = _order(2, side="sell", type="limit", qty="3", limit_price="10")
    order = _order(3, side="sell", type="limit", qty="2", limit_price="10")
    book = checks.Book(status="active", position=Decimal(5), open_sells=(other, same))
    assert _deny(order, book, calendar) is None
    more = _order(4, side="sell", type="limit", qty="3", limit_price="10")
    assert _deny(more, book, calendar) == Denial(
        ReasonCode.INSUFFICIENT_POSITION,
        "sells 3 AAPL, sellable 2 (no short selling in paper)",
    )


def test_sell_denial_when_notional_sell_without_bid_then_price_unavailable(
    calendar: MarketCalendar,
) -> None:
    order = _order(side="sell", type="market", notional="100")
    book = checks.Book(status="active", position=Decimal(5))
    assert _deny(order, book, calendar) == Denial(ReasonCode.PRICE_UNAVAILABLE, "no bid for AAPL")
    priced = checks.Book(status="active", position=Decimal(5), bids={"AAPL": Decimal(20)})
    assert _deny(order, priced, calendar) is None  # 100 / 20 = 5 shares, exactly held
    low = checks.Book(status="active", position=Decimal(5), bids={"AAPL": Decimal(16)})
    assert _deny(order, low, calendar) == Denial(
        ReasonCode.INSUFFICIENT_POSITION,
        "sells 6.25 AAPL, sellable 5 (no short selling in paper)",
    )


def test_sell_denial_when_open_notional_sell_without_bid_then_price_unavailable(
    calendar: MarketCalendar,
) -> None:
    open_sell = _order(1, side="sell", type="market", notional="50")
    order = _order(2, side="sell", type="limit", qty="1", limit_price="10")
    book = checks.Book(status="active", position=Decimal(5), open_sells=(open_sell,))
    assert _deny(order, book, calendar) == Denial(ReasonCode.PRICE_UNAVAILABLE, "no bid for AAPL")


def test_window_denial_when_opg_or_cls_outside_window_then_order_window_closed(
    calendar: MarketCalendar,
) -> None:
    opg = _order(side="buy", type="limit", qty="1", limit_price="1", time_in_force="opg")
    cls = _order(1, side="buy", type="limit", qty="1", limit_price="1", time_in_force="cls")
    cash = checks.Book(status="active", cash=Decimal(10))
    assert _deny(opg, cash, calendar) == Denial(
        ReasonCode.ORDER_WINDOW_CLOSED, "opg orders are refused from 09:28 to 19:00 New York"
    )
    assert _deny(opg, cash, calendar, now=EVENING) is None
    assert _deny(cls, cash, calendar) is None
    assert _deny(cls, cash, calendar, now=LATE) == Denial(
        ReasonCode.ORDER_WINDOW_CLOSED, "cls orders are refused from 15:50 to 19:00 New York"
    )


def test_denial_when_account_not_active_then_account_inactive_first(
    calendar: MarketCalendar,
) -> None:
    opg = _order(side="buy", type="limit", qty="1", limit_price="1", time_in_force="opg")
    closed = checks.Book(status="closed")  # also no cash and outside the window
    assert _deny(opg, closed, calendar) == Denial(
        ReasonCode.ACCOUNT_INACTIVE, "the account is closed"
    )


def test_needs_ask_only_for_qty_market_and_trailing_buys() -> None:
    assert checks.needs_ask(_order(side="buy", type="market", qty="1"))
    assert checks.needs_ask(_order(side="buy", type="trailing_stop", qty="1", trail_price="1"))
    assert not checks.needs_ask(_order(side="buy", type="market", notional="10"))
    assert not checks.needs_ask(_order(side="buy", type="limit", qty="1", limit_price="1"))
    assert not checks.needs_ask(_order(side="sell", type="market", qty="1"))


def test_pending_replace_reserves_the_old_remainder_and_the_replacement() -> None:
    # Until the replace is confirmed the old order can still fill, and the replacement
    # then works its whole quantity: the worst case is both.
    old = _order(1, side="buy", type="limit", qty="5", limit_price="100")
    new = _order(2, side="buy", type="limit", qty="5", limit_price="101")
    old.status = OrderStatus.PENDING_REPLACE  # set directly: a fixture, not a transition
    old.replaced_by = new.id
    assert checks.reserved_cash([old, new], {}, Decimal(0)) == Decimal("1005.00")
    old.filled_qty = Decimal(2)  # a partial fill in the window: its cash is spent, not held
    assert checks.reserved_cash([old, new], {}, Decimal(0)) == Decimal("805.00")
    old.status = OrderStatus.REPLACED  # the confirmation releases the old remainder
    assert checks.reserved_cash([old, new], {}, Decimal(0)) == Decimal("505.00")


def test_cluster_alias_re_exports_the_domain_checks() -> None:
    from cluster.orders import risk

    assert risk.denial is checks.denial and risk.Book is checks.Book
