from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import DomainError, ValidationFailed
from domain.ids import AccountId, ClientOrderId, OrderId, Symbol
from domain.ledger import (
    CASH,
    FEES,
    FUNDING,
    TRADES,
    USD,
    EntryKind,
    JournalEntry,
    Posting,
    balances,
    buying_power,
    cash,
    fee_entry,
    fill_entry,
    funding_entry,
    market_account,
    position_account,
    position_qty,
    postings_of,
    reservation,
    reset_entry,
    sellable_qty,
    unit_of,
)
from domain.money import Money, Price, Quantity
from domain.orders import Order, OrderStatus, OrderType, Side, TimeInForce

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ACCT = "acct-1"
D = Decimal


def _order(
    side: Side = Side.BUY,
    type_: OrderType = OrderType.LIMIT,
    qty: str | None = "10",
    notional: str | None = None,
    limit: str | None = None,
    stop: str | None = None,
    trail_price: str | None = None,
    trail_percent: str | None = None,
    symbol: str = "AAPL",
) -> Order:
    return Order(
        id=OrderId("00000000-0000-0000-0000-000000000001"),
        account_id=AccountId("00000000-0000-0000-0000-000000000002"),
        client_order_id=ClientOrderId("c-1"),
        symbol=Symbol(symbol),
        side=side,
        type=type_,
        time_in_force=TimeInForce.DAY,
        created_at=AT,
        qty=Quantity(D(qty)) if qty else None,
        notional=Money(D(notional)) if notional else None,
        limit_price=Price(D(limit)) if limit else None,
        stop_price=Price(D(stop)) if stop else None,
        trail_price=Price(D(trail_price)) if trail_price else None,
        trail_percent=D(trail_percent) if trail_percent else None,
    )


# -- entries ----------------------------------------------------------------------------


def test_funding_entry_balances_cash_against_funding() -> None:
    entry = funding_entry(ACCT, D("1000.00"), AT)
    assert entry.kind is EntryKind.FUNDING
    assert balances(entry.postings) == {CASH: D("1000.00"), FUNDING: D("-1000.00")}


def test_entry_when_unbalanced_then_raises_domain_error() -> None:
    with pytest.raises(DomainError, match="unbalanced"):
        JournalEntry("e1", ACCT, EntryKind.FUNDING, AT, "bad", (Posting(CASH, D("10")),))


def test_entry_when_shares_unbalanced_then_raises_even_if_usd_balances() -> None:
    postings = (
        Posting(CASH, D("-10")),
        Posting(TRADES, D("10")),
        Posting(position_account("AAPL"), D("1")),
    )
    with pytest.raises(DomainError, match="unbalanced"):
        JournalEntry("e1", ACCT, EntryKind.FILL, AT, "bad", postings)


def test_entry_when_no_postings_or_naive_time_then_refused() -> None:
    with pytest.raises(DomainError):
        JournalEntry("e1", ACCT, EntryKind.FUNDING, AT, "empty", ())
    with pytest.raises(ValidationFailed):
        funding_entry(ACCT, D("1"), datetime(2026, 1, 1))


def test_posting_when_usd_has_fraction_of_cent_then_refused() -> None:
    with pytest.raises(ValidationFailed) as info:
        Posting(CASH, D("0.001"))
    assert info.value.rule == "whole-cents"
    Posting(position_account("AAPL"), D("0.001"))  # fractional shares are fine


def test_unit_of_share_accounts_is_distinct_from_usd_even_for_ticker_usd() -> None:
    assert unit_of(CASH) == USD
    assert unit_of(position_account("USD")) == "shares:USD"
    with pytest.raises(ValidationFailed):
        unit_of("bogus")


def test_funding_when_float_or_fraction_of_cent_then_refused() -> None:
    with pytest.raises(ValidationFailed):
        funding_entry(ACCT, 10.5, AT)  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        funding_entry(ACCT, D("10.005"), AT)


def test_fill_buy_moves_cash_to_position_with_fee() -> None:
    entry = fill_entry(ACCT, "aapl", Side.BUY, D("10"), D("190.25"), D("1.00"), AT, "x1")
    b = balances(entry.postings)
    assert entry.id == "fill:x1"
    assert b[CASH] == D("-1903.50")
    assert b[TRADES] == D("1902.50")
    assert b[FEES] == D("1.00")
    assert b[position_account("AAPL")] == D("10")
    assert b[market_account("AAPL")] == D("-10")


def test_fill_accepts_value_objects() -> None:
    entry = fill_entry(
        ACCT, "AAPL", "sell", Quantity(D("2")), Price(D("10.5")), Money(D("0")), AT, "x"
    )
    assert cash(entry.postings) == D("21.00")
    assert FEES not in balances(entry.postings)


def test_fill_rounds_each_execution_to_the_cent_half_even() -> None:
    three_fills = [
        fill_entry(ACCT, "AAPL", Side.BUY, D("1"), D("33.333"), D("0"), AT, f"x{i}")
        for i in range(3)
    ]
    one_fill = fill_entry(ACCT, "AAPL", Side.BUY, D("3"), D("33.333"), D("0"), AT, "y")
    assert cash(postings_of(three_fills)) == D("-99.99")
    assert cash(one_fill.postings) == D("-100.00")
    # half-even: 0.125 -> 0.12, 0.135 -> 0.14
    assert cash(fill_entry(ACCT, "A", "buy", D("1"), D("0.125"), 0, AT, "h1").postings) == D(
        "-0.12"
    )
    assert cash(fill_entry(ACCT, "A", "buy", D("1"), D("0.135"), 0, AT, "h2").postings) == D(
        "-0.14"
    )


def test_fill_when_bad_inputs_then_refused() -> None:
    with pytest.raises(ValidationFailed):
        fill_entry(ACCT, "AAPL", Side.BUY, D("0"), D("1"), D("0"), AT, "x")
    with pytest.raises(ValidationFailed):
        fill_entry(ACCT, "AAPL", Side.BUY, D("1"), D("1"), D("-1"), AT, "x")
    with pytest.raises(ValidationFailed):
        fill_entry(ACCT, "AAPL", "hold", D("1"), D("1"), D("0"), AT, "x")
    with pytest.raises(ValidationFailed):
        fill_entry(ACCT, "not a symbol", Side.BUY, D("1"), D("1"), D("0"), AT, "x")


def test_buy_then_sell_round_trip_realizes_pnl_in_cash_and_flattens_position() -> None:
    entries = [
        funding_entry(ACCT, D("10000"), AT),
        fill_entry(ACCT, "AAPL", Side.BUY, D("10"), D("100"), D("1"), AT, "b"),
        fill_entry(ACCT, "AAPL", Side.SELL, D("10"), D("105"), D("1"), AT, "s"),
    ]
    postings = postings_of(entries)
    assert position_qty(postings, "AAPL") == 0
    assert cash(postings) == D("10048.00")  # +50 gain, -2 fees
    b = balances(postings)
    assert b[FEES] == D("2.00")
    assert b[TRADES] == D("-50.00")  # net proceeds from the market: the gross P&L
    assert sum(v for k, v in b.items() if unit_of(k) == USD) == 0


def test_fee_entry_moves_cash_to_fees() -> None:
    entry = fee_entry(ACCT, D("0.015"), AT, "fee-1", "TAF")
    assert balances(entry.postings) == {CASH: D("-0.02"), FEES: D("0.02")}
    with pytest.raises(ValidationFailed):
        fee_entry(ACCT, D("0.004"), AT, "fee-2")


def test_reset_closes_everything_and_funds_starting_cash() -> None:
    entries = [
        funding_entry(ACCT, D("5000"), AT),
        fill_entry(ACCT, "AAPL", Side.BUY, D("3"), D("100"), D("1"), AT, "b"),
    ]
    reset = reset_entry(ACCT, postings_of(entries), D("100000"), AT, "reset-1")
    after = balances(postings_of([*entries, reset]))
    assert after[CASH] == D("100000")
    assert after[position_account("AAPL")] == 0
    assert after[FEES] == 0 and after[TRADES] == 0
    assert sum(v for k, v in after.items() if unit_of(k) == USD) == 0


def test_reset_of_empty_account_to_zero_is_a_valid_entry() -> None:
    assert reset_entry(ACCT, [], D("0"), AT, "r").kind is EntryKind.RESET


# -- buying power -----------------------------------------------------------------------


def test_reservation_by_order_type() -> None:
    ask = D("100")
    assert reservation(_order(type_=OrderType.MARKET), ask).amount == D("1005.00")
    assert reservation(_order(limit="99.5"), ask).amount == D("995.00")
    assert reservation(
        _order(type_=OrderType.STOP_LIMIT, limit="101", stop="100"), ask
    ).amount == D("1010.00")
    assert reservation(_order(type_=OrderType.STOP, stop="102"), ask).amount == D("1025.10")
    trailing = _order(type_=OrderType.TRAILING_STOP, trail_price="2")
    assert reservation(trailing, ask, D("0")).amount == D("1020.00")
    trailing_pct = _order(type_=OrderType.TRAILING_STOP, trail_percent="1")
    assert reservation(trailing_pct, ask, D("0")).amount == D("1010.00")
    notional = _order(type_=OrderType.MARKET, qty=None, notional="250")
    assert reservation(notional, ask).amount == D("250.00")
    assert reservation(_order(side=Side.SELL, type_=OrderType.MARKET), ask).amount == 0


def test_reservation_rounds_up_to_the_cent() -> None:
    assert reservation(_order(qty="1", limit="0.0001"), None).amount == D("0.01")


def test_reservation_of_partially_filled_order_covers_only_the_rest() -> None:
    order = _order(limit="10")
    order.filled_qty = D("4")
    assert reservation(order, None).amount == D("60.00")


def test_reservation_when_market_buy_has_no_quote_then_fails_closed() -> None:
    with pytest.raises(ValidationFailed) as info:
        reservation(_order(type_=OrderType.MARKET), None)
    assert info.value.rule == "quote-required"


def test_buying_power_with_mixed_open_orders() -> None:
    orders = [
        _order(type_=OrderType.MARKET, qty="10"),  # 10 x 100 x 1.005 = 1005
        _order(limit="50", qty="4", symbol="MSFT"),  # 200
        _order(type_=OrderType.MARKET, qty=None, notional="300"),  # 300
        _order(side=Side.SELL, limit="500"),  # 0
    ]
    closed = _order(limit="1000")
    closed.status = OrderStatus.CANCELED
    bp = buying_power(D("5000"), [*orders, closed], {"AAPL": D("100")})
    assert bp == D("5000") - D("1005") - D("200") - D("300")


def test_sellable_qty_subtracts_open_sells() -> None:
    sells = [_order(side=Side.SELL, qty="3", limit="1"), _order(side=Side.SELL, qty="2")]
    assert sellable_qty(D("10"), sells) == D("5")
    assert sellable_qty(D("4"), sells) == 0
    notional = _order(side=Side.SELL, type_=OrderType.MARKET, qty=None, notional="50")
    assert sellable_qty(D("10"), [notional], {"AAPL": D("25")}) == D("8")
    with pytest.raises(ValidationFailed):
        sellable_qty(D("10"), [notional])


# -- properties -------------------------------------------------------------------------

_fills = st.lists(
    st.tuples(
        st.sampled_from(["AAPL", "MSFT", "USD"]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.decimals(min_value="0.000000001", max_value="100000", places=9),
        st.decimals(min_value="0.0001", max_value="10000", places=4),
        st.decimals(min_value="0", max_value="50", places=3),
    ),
    max_size=40,
)


@given(_fills)
def test_any_fills_keep_usd_balanced_and_positions_equal_filled_qty(fills: list) -> None:
    entries = [
        fill_entry(ACCT, sym, side, qty, price, fee, AT, f"x{i}")
        for i, (sym, side, qty, price, fee) in enumerate(fills)
    ]
    postings = postings_of(entries)
    usd = [p.amount for p in postings if p.unit == USD]
    assert sum(usd, D(0)) == 0
    assert all(a == a.quantize(D("0.01")) for a in usd)
    for sym in ("AAPL", "MSFT", "USD"):
        signed = sum(
            (q if side is Side.BUY else -q for s, side, q, _, _ in fills if s == sym), D(0)
        )
        assert position_qty(postings, sym) == signed
