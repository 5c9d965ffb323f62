"""domain.portfolio: marks, position figures, account valuation, close quantities and the
equity history, with the numbers worked out by hand."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain import portfolio as pf
from domain.errors import ValidationFailed
from domain.ids import AccountId, OrderId
from domain.ledger import fill_entry, funding_entry
from domain.order_request import OrderRequest
from domain.orders import Order, OrderStatus

D = Decimal
T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def holding(qty: str = "4", avg: str = "50", cost: str = "200.00") -> pf.Holding:
    return pf.Holding("AAPL", D(qty), D(avg), D(cost))


def test_mark_price_when_two_sided_then_mid_at_four_places() -> None:
    assert pf.mark_price(D("10.00"), D("10.01"), D("1")) == D("10.0050")


def test_mark_price_when_one_side_or_none_then_that_side_or_fallback() -> None:
    assert pf.mark_price(None, D("10.01"), D("1")) == D("10.0100")
    assert pf.mark_price(D("0"), D("0"), D("9.87654")) == D("9.8765")


def test_mark_position_when_long_then_value_pl_and_ratio() -> None:
    p = pf.mark_position(holding(), D("55.1250"))
    assert (p.market_value, p.unrealized_pl) == (D("220.50"), D("20.50"))
    assert p.unrealized_plpc == D("0.102500")  # 20.50 / 200.00
    assert (p.side, p.qty_available, p.cost_basis) == ("long", D("4"), D("200.00"))
    assert p.lastday_price == p.current_price == D("55.1250")
    assert (p.change_today, p.unrealized_intraday_pl) == (0, 0)


def test_mark_position_when_orders_hold_shares_then_qty_available_is_the_rest() -> None:
    assert pf.mark_position(holding(), D("50"), D("1.5")).qty_available == D("2.5")
    assert pf.mark_position(holding(), D("50"), D("9")).qty_available == 0


def test_mark_position_when_short_then_negative_cost_and_value() -> None:
    p = pf.mark_position(holding(qty="-2", cost="100.00"), D("45"))
    assert (p.side, p.market_value, p.cost_basis) == ("short", D("-90.00"), D("-100.00"))
    assert p.unrealized_pl == D("10.00") and p.unrealized_plpc == D("0.100000")


def test_mark_position_when_avg_has_many_places_then_four() -> None:
    p = pf.mark_position(holding(avg="33.333333333333"), D("33"))
    assert p.avg_entry_price == D("33.3333")


def test_value_account_then_equity_is_cash_plus_market_values() -> None:
    long = pf.mark_position(holding(), D("55"))
    short = pf.mark_position(holding(qty="-1", cost="10.00"), D("12"))
    v = pf.value_account(D("1000"), D("900.5"), [long, short])
    assert (v.long_market_value, v.short_market_value) == (D("220.00"), D("-12.00"))
    assert (v.equity, v.positions_value, v.buying_power) == (D("1208.00"), D("208.00"), D("900.50"))


def test_value_account_when_no_positions_then_equity_is_cash() -> None:
    v = pf.value_account(D("5"), D("5"), [])
    assert v.equity == D("5.00") and v.long_market_value == 0


@pytest.mark.parametrize(
    ("qty", "pct", "expected"),
    [(None, None, "3"), ("1.5", None, "1.5"), (None, "50", "1.5"), (None, "33.3", "0.999")],
)
def test_close_quantity_when_valid_then_amount(
    qty: str | None, pct: str | None, expected: str
) -> None:
    assert pf.close_quantity(D("-3"), qty, pct) == D(expected)


@pytest.mark.parametrize(
    ("qty", "pct", "field", "rule"),
    [
        ("1", "50", "qty", "qty-xor-percentage"),
        ("4", None, "qty", "exceeds-position"),
        ("0", None, "qty", "exceeds-position"),
        (None, "0", "percentage", "percent-range"),
        (None, "100.5", "percentage", "percent-range"),
        (None, "0.0000000001", "qty", "exceeds-position"),  # rounds down to 0 shares
    ],
)
def test_close_quantity_when_invalid_then_names_field_and_rule(
    qty: str | None, pct: str | None, field: str, rule: str
) -> None:
    with pytest.raises(ValidationFailed) as err:
        pf.close_quantity(D("3"), qty, pct)
    assert (err.value.field, err.value.rule) == (field, rule)


def test_close_quantity_when_percentage_of_the_smallest_lot_then_refused() -> None:
    with pytest.raises(ValidationFailed) as err:
        pf.close_quantity(D("0.000000001"), None, "50")
    assert err.value.rule == "exceeds-position"


def test_held_by_orders_counts_open_closing_orders_only() -> None:
    def order(
        side: str, qty: str, symbol: str = "AAPL", status: OrderStatus | None = None
    ) -> Order:
        req = OrderRequest.parse(
            symbol=symbol, side=side, type="limit", time_in_force="day", qty=qty, limit_price="9"
        )
        o = req.to_order(OrderId(f"o-{side}-{qty}-{symbol}"), AccountId("a"), T0)
        return o if status is None else dataclasses.replace(o, status=status)

    orders = [
        order("sell", "1"),
        order("sell", "2", symbol="MSFT"),
        order("buy", "5"),
        order("sell", "3", status=OrderStatus.CANCELED),
    ]
    assert pf.held_by_orders(orders, "AAPL", D("4")) == D("1")
    assert pf.held_by_orders(orders, "AAPL", D("-4")) == D("5")


def test_equity_history_when_deposit_then_buy_then_points_in_cents() -> None:
    deposit = funding_entry("a", D("1000"), T0, entry_id="f1")
    buy = fill_entry("a", "AAPL", "buy", D("3"), D("10.005"), D("0"), T0 + timedelta(1), "x1")
    sell = fill_entry("a", "AAPL", "sell", D("1"), D("12"), D("0"), T0 + timedelta(2), "x2")
    points = pf.equity_history([deposit, buy, sell])
    # the buy's gross rounds to 30.02, and 3 shares at 30.02 / 3 are worth 30.02 again;
    # the sell marks the 2 left at 12: 969.98 + 12 + 24
    assert [p.equity for p in points] == [D("1000.00"), D("1000.00"), D("1005.98")]
    assert points[0].at == int(T0.timestamp())


def test_equity_history_when_empty_then_empty() -> None:
    assert pf.equity_history([]) == []
