"""Fees: booked on ``fees`` and out of cash to the cent, held by open buys (SQL and Python
agree), and checked by ``elson reconcile`` (which reports a tampered fee posting)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import text

from cluster.orders import exposure
from cluster.orders import repository as repo
from cluster.orders.service import OrderService
from domain.clock import FakeClock
from domain.fees import FeeModel
from domain.ids import ExecutionId, OrderId
from domain.money import Price, Quantity
from domain.order_request import OrderRequest
from domain.orders import Order, OrderEvent, OrderEventKind
from domain.risk import checks as risk
from tests.integration.orders.conftest import FakeQuotes
from tests.integration.orders.helpers import limit_buy, limit_sell, market

K = OrderEventKind
D = Decimal
MODEL = FeeModel(per_share=D("0.005"), per_order=D("1.00"), sec_rate=D("0.0000278"))


def _fill(clock: FakeClock, order: Order, eid: str, qty: str, price: str) -> OrderEvent:
    fee = MODEL.fill_fee(order.side, D(qty), D(price), first_fill=not order.execution_ids)
    return OrderEvent(
        K.PARTIAL_FILL,
        at=clock.advance(timedelta(seconds=1)),
        execution_id=ExecutionId(f"{eid}-{order.id}"),
        qty=Quantity(D(qty)),
        price=Price(D(price)),
        fee=fee,
    )


def _set_fee_reserve(service: OrderService, order_id: OrderId, amount: Decimal) -> None:
    """What the submit path stores (``FeeModel.fee_reserve`` at the reservation price)."""
    with service.db.session() as s:
        s.execute(
            text("UPDATE orders SET fee_reserve = :f WHERE id = :o"), {"f": amount, "o": order_id}
        )


def _fees_balance(service: OrderService, account: str) -> Decimal:
    with service.db.session() as s:
        return D(
            s.execute(
                text(
                    "SELECT coalesce(sum(amount), 0) FROM postings "
                    "WHERE account_id = :a AND ledger_account = 'fees'"
                ),
                {"a": account},
            ).scalar_one()
        )


def test_fill_fees_go_to_fees_out_of_cash_and_reconcile(
    service: OrderService, account: str, clock: FakeClock
) -> None:
    service.fund(account, D("1000.00"))  # type: ignore[arg-type]
    buy = service.submit(account, limit_buy(qty="30", price="10.01")).order  # type: ignore[arg-type]
    buy = service.apply_events(buy.id, [OrderEvent(K.ACKNOWLEDGE, at=clock.now())])
    first = _fill(clock, buy, "b1", "20", "10.005")  # 200.10 + (0.10 + 1.00)
    buy = service.apply_events(buy.id, [first])
    second = _fill(clock, buy, "b2", "10", "10.01")  # 100.10 + 0.05
    service.apply_events(buy.id, [second])
    assert (first.fee, second.fee) == (D("1.10"), D("0.05"))
    assert service.cash(account) == D("1000.00") - D("200.10") - D("1.10") - D("100.10") - D("0.05")  # type: ignore[arg-type]

    sell = service.submit(account, limit_sell(qty="30", price="11.00")).order  # type: ignore[arg-type]
    sell = service.apply_events(sell.id, [OrderEvent(K.ACKNOWLEDGE, at=clock.now())])
    sold = _fill(clock, sell, "s1", "30", "11.00")  # 330.00 - (0.15 + 1.00 + SEC + TAF)
    service.apply_events(sell.id, [sold])
    assert sold.fee == D("1.17")  # SEC 0.009174 -> 0.01, TAF 0.00498 -> 0.01
    assert service.cash(account) == D("698.65") + D("330.00") - D("1.17")  # type: ignore[arg-type]
    assert _fees_balance(service, account) == D("2.32")
    assert service.check_invariants(account) == []  # type: ignore[arg-type]

    # Move one cent of a fill's fee to ``trades``: every entry still balances, cash still
    # mirrors the other accounts, but the fee booked no longer is the fill's fee.
    entry = f"fill:{first.execution_id}"
    with service.db.session() as s:
        s.execute(text("SET LOCAL session_replication_role = replica"))
        for ledger, delta in (("fees", "-0.01"), ("trades", "0.01")):
            s.execute(
                text(
                    "UPDATE postings SET amount = amount + CAST(:d AS numeric) "
                    "WHERE entry_id = :e AND ledger_account = :l"
                ),
                {"d": delta, "e": entry, "l": ledger},
            )
    found = {(d.check, d.subject, d.expected, d.actual) for d in service.check_invariants(account)}  # type: ignore[arg-type]
    assert ("fill-fee", f"fill {first.execution_id} fee", "1.1", "1.09") in found
    assert ("fees", "fees", "2.32", "2.31") in found
    assert not any(check in ("entry-balanced", "cash") for check, *_ in found)


def test_open_buys_hold_their_fee_reserve_in_sql_and_in_python(
    service: OrderService, account: str, clock: FakeClock, quotes: FakeQuotes
) -> None:
    service.fund(account, D("10000.00"))  # type: ignore[arg-type]
    quotes.set("AAPL", "50.00", "50.01")
    limit = service.submit(account, limit_buy(qty="3", price="10.01")).order  # type: ignore[arg-type]
    stop_request = OrderRequest.parse(
        symbol="AAPL", side="buy", type="stop", time_in_force="day", qty="2", stop_price="20.03"
    )
    stop = service.submit(account, stop_request).order  # type: ignore[arg-type]
    mkt = service.submit(account, market("buy", qty="2")).order  # type: ignore[arg-type]
    sell_order = service.submit(account, limit_sell(qty="1", price="1.00")).order  # type: ignore[arg-type]
    for order, bound in ((limit, D("10.01")), (stop, D("20.03")), (mkt, D("50.01"))):
        _set_fee_reserve(service, order.id, MODEL.fee_reserve(order, bound))
    assert MODEL.fee_reserve(limit, D("10.01")) == D("1.02")  # 3 x 0.005 -> 0.02, + 1.00
    cash = service.cash(account)  # type: ignore[arg-type]
    with service.db.session() as s:
        opens = repo.open_orders(s, account_id=account)
        in_sql = exposure.sql_reserved(s, account, service.reserve_buffer_bps)
    unpriced = [o for o in opens if not risk.needs_ask(o)]
    asks = {"AAPL": D("50.01")}
    assert in_sql == risk.reserved_cash(unpriced, asks, service.reserve_buffer_bps)
    assert in_sql == D("30.03") + D("1.02") + D("40.27") + D("1.01")  # stop: 2 x 20.03 x 1.005
    held = risk.reserved_cash(opens, asks, service.reserve_buffer_bps)
    assert service.buying_power(account) == cash - held  # type: ignore[arg-type]
    no_fees = [dataclasses.replace(o, fee_reserve=D(0)) for o in opens]
    without = risk.reserved_cash(no_fees, asks, service.reserve_buffer_bps)
    assert held - without == D("1.02") + D("1.01") + MODEL.fee_reserve(mkt, D("50.01"))
    assert sell_order.fee_reserve == 0
    assert service.check_invariants(account) == []  # type: ignore[arg-type]


def test_a_buy_holds_its_worst_fee_from_submit_and_a_buy_beyond_it_is_refused(
    service: OrderService, account: str
) -> None:
    fees = FeeModel(per_share=Decimal("0.01"), per_order=Decimal("1.00"))
    priced = OrderService(service.db, service.clock, service.calendar, service.quotes, fees=fees)
    priced.fund(account, Decimal("1001.10"))  # type: ignore[arg-type]
    order = priced.submit(account, limit_buy(qty="10", price="100.00")).order  # type: ignore[arg-type]
    assert order.fee_reserve == Decimal("1.10")  # 10 shares x 0.01 + 1.00 per order
    assert priced.get_order(order.id).fee_reserve == Decimal("1.10")
    assert priced.buying_power(account) == Decimal("0.00")  # type: ignore[arg-type]
    # one more share's fee would not be covered: refused, naming what it needs
    again = priced.submit(account, limit_buy(qty="1", price="0.01")).order  # type: ignore[arg-type]
    assert again.status.value == "rejected"
    assert again.reject_code == "insufficient_buying_power"
